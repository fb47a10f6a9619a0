"""ControlSocket: lets other programs call the router's handlers."""
from vforward.args import ArgumentError, boolean, string, unsigned, word
from vforward.control import ControlServer
from vforward.element import Element, read_handler


def _mode(text: str) -> int:
    """File permissions in octal, as chmod takes them: 600, 0600, 0o660."""
    t = text.strip().lower().removeprefix("0o")
    try:
        mode = int(t, 8)
    except ValueError:
        raise ArgumentError(f"expected permissions in octal such as 0600, got {text!r}") from None
    if mode > 0o777:
        raise ArgumentError(f"permissions {text!r} are more than 0777")
    return mode


def _tcp_port(text: str) -> int:
    port = unsigned(text)
    if port > 65535:
        raise ArgumentError(f"expected a TCP port from 0 to 65535, got {text!r}")
    return port


class ControlSocket(Element):
    """ControlSocket(TYPE, ADDRESS [, KEYWORDS]) -- open a control socket for other programs

    ControlSocket(unix, FILENAME [, KEYWORDS])
    ControlSocket(tcp, PORT [, KEYWORDS])

    Ports: none.

    Listens on the unix-domain socket FILENAME, or on TCP port PORT, and
    answers Click's ControlSocket protocol (version 1.3), so that other
    programs can read and write the router's handlers while it runs:
    `vforward ctl FILENAME read c.count`, `... write q.capacity 500`, or any
    Click tool.  Commands are READ, READDATA, READUNTIL, WRITE, WRITEDATA,
    WRITEUNTIL, CHECKREAD, CHECKWRITE, HELP and QUIT; a handler is
    `element.handler`, or a global handler: list, classes, config,
    flatconfig, version, requirements, handlers (read) and stop (write).
    Replies carry Click's codes: 200 OK, 220 OK with warnings, 500 syntax
    error, 501 unimplemented command, 510 no such element, 511 no such
    handler, 520 handler error, 530 permission denied.

    Several clients may be connected at once; a slow client delays nobody.
    Handlers run on the router's event loop between batches.  A stale
    socket file left by a router that died is replaced; a live one, or any
    other file at FILENAME, is an error.  The file is removed at shutdown.
    TYPE is case-insensitive (unix, UNIX, tcp, TCP).

    Keyword arguments:
      READONLY (boolean, default false)   refuse every write handler (530)
      LOCALHOST (boolean, default true)   TCP: accept connections from 127.0.0.1
                                          only; false listens on every address
      MODE (octal, default 0600)          unix: the socket file's permissions
      VERBOSE (boolean, default false)    report connections opening and closing

    Handlers:
      address (read)   where the socket listens: its path, or HOST:PORT with the
                       port actually bound (useful with PORT 0)
    """
    PORTS = "0/0"

    def configure(self, args):
        kind = args.positional("TYPE", word).lower()
        if kind == "unix":
            self.path = args.positional("FILENAME", string)
            self.port = None
        elif kind == "tcp":
            self.port = args.positional("PORT", _tcp_port)
            self.path = None
        else:
            raise ArgumentError(f"{args.where}: argument TYPE: unknown socket type {kind!r}; "
                                "use unix or tcp")
        self.readonly = args.keyword("READONLY", boolean, default=False)
        self.localhost = args.keyword("LOCALHOST", boolean, default=True)
        self.mode = args.keyword("MODE", _mode, default=0o600)
        self.verbose = args.keyword("VERBOSE", boolean, default=False)
        args.finish()
        self.server = None

    def exclusive_resource(self):
        if self.path is not None:
            return ("unix socket", self.path)
        return ("TCP port", self.port) if self.port else None   # port 0: the system picks

    def initialize(self):
        kw = {"path": self.path} if self.path is not None else {
            "port": self.port, "host": "127.0.0.1" if self.localhost else "0.0.0.0"}
        self.server = ControlServer(self.router, mode=self.mode, readonly=self.readonly,
                                    verbose=self.verbose, name=self.name, **kw)
        self.server.bind()   # a busy port or bad path fails now, before the router runs
        self.router.listeners.append(self.server)

    def cleanup(self):
        if self.server is not None:
            self.server.close()

    @read_handler("address")
    def read_address(self):
        return self.server.address if self.server else (self.path or f"127.0.0.1:{self.port}")
