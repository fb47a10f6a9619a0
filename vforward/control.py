"""The control socket: Click's ControlSocket protocol over unix or TCP sockets.

A running router answers handler calls from other programs.  The protocol is
Click's, version 1.3, so Click's tools and scripts speak to a vforward router
unchanged:

    -> Click::ControlSocket/1.3                      (greeting on connect)
    <- READ c.count
    -> 200 Read handler 'c.count' OK
    -> DATA 4
    -> 1024                                          (exactly 4 bytes, no line end)
    <- WRITE q.capacity 500
    -> 200 Write handler 'q.capacity' OK

Commands: READ handler [args], READDATA handler N (N bytes of argument follow
the line), READUNTIL handler [TERMINATOR], WRITE handler [args], WRITEDATA
handler N, WRITEUNTIL handler [TERMINATOR], CHECKREAD handler, CHECKWRITE
handler, HELP, QUIT.  A handler is `element.handler`, `N.handler` (the Nth
element, counting from 1) or a bare global handler (`list`, `config`, `stop`).

Replies are `CODE message` lines ending in CRLF; every line of a reply but
the last has a hyphen after the code (`520-...`), as in FTP.  Codes: 200 OK,
220 OK with warnings, 500 syntax error, 501 unimplemented command, 510 no such
element, 511 no such handler, 520 handler error, 521 data too large, 530
permission denied, 540 no router.  Commands end in LF, CRLF or CR.

`ControlServer` serves the protocol on the router's own event loop, so
handlers run between batches, never concurrently with packet processing; each
connection is its own coroutine, so a slow or silent client holds up nobody.
`ControlClient` is the small blocking client behind `vforward ctl`.

Handler data travels as UTF-8; bytes that are not UTF-8 reach a handler as
Latin-1 characters, one per byte.  A write handler that calls
`warnings.warn(...)` gets a 220 reply carrying the warning text.
"""
from __future__ import annotations

import asyncio
import os
import re
import socket
import stat
import sys
import traceback
import warnings
from dataclasses import dataclass, field

from vforward.config.errors import did_you_mean
from vforward.element import HandlerError
from vforward.listen import exposure, listen_tcp

PROTOCOL_VERSION = "1.3"
GREETING = f"Click::ControlSocket/{PROTOCOL_VERSION}"

# Reply codes (Click's CSERR_*).
OK = 200
OK_WITH_WARNINGS = 220
SYNTAX_ERROR = 500
UNIMPLEMENTED = 501
NO_SUCH_ELEMENT = 510
NO_SUCH_HANDLER = 511
HANDLER_ERROR = 520
DATA_TOO_BIG = 521
PERMISSION_DENIED = 530
NO_ROUTER = 540

MAX_LINE = 64 * 1024          # longest command line accepted
MAX_DATA = 16 * 1024 * 1024   # largest READDATA/WRITEDATA/...UNTIL argument
_UNIX_PATH_MAX = 107          # sun_path holds 108 bytes with the NUL


class ControlError(Exception):
    """A control-socket reply that was not 2xx: `code` and the server's `message`."""

    def __init__(self, code: int, message: str):
        self.code = code
        self.message = message
        super().__init__(f"{code} {message}")


class ControlSocketError(OSError):
    """The control socket could not be opened; str() says where and what to do."""

    def __str__(self) -> str:
        return self.args[0] if self.args else "control socket error"


# -- text on the wire ----------------------------------------------------

def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _printable(text: str) -> str:
    """One reply line's text: control characters escaped, as Click's printable()."""
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


# -- addresses -------------------------------------------------------------

def parse_control_address(text) -> dict:
    """Control socket address text -> ControlServer keyword arguments.

    `PATH`, `unix:PATH`       -> {"path": PATH}
    `tcp:PORT`                -> {"host": "127.0.0.1", "port": PORT}
    `tcp:HOST:PORT`, `HOST:PORT`, `[IPV6]:PORT` -> {"host": HOST, "port": PORT}

    Raises ValueError, with a sentence saying what is wrong, for anything else.
    """
    if isinstance(text, os.PathLike):
        text = os.fspath(text)
    t = str(text).strip()
    forms = "give a unix socket PATH, tcp:PORT or HOST:PORT"
    if not t:
        raise ValueError(f"empty control socket address; {forms}")
    low = t.lower()
    if low.startswith("unix:"):
        return {"path": _unix_path(t[5:], t)}
    if low.startswith("tcp:"):
        rest = t[4:]
        if not rest:
            raise ValueError(f"control address {t!r} has no port; write tcp:PORT, e.g. tcp:7777")
        if ":" in rest:
            return _host_port(rest, t)
        return {"host": "127.0.0.1", "port": _port(rest, t)}
    if t.isdigit():
        raise ValueError(f"control address {t!r} looks like a port number; write tcp:{t} for a "
                         f"TCP port, or ./{t} for a unix socket file of that name")
    if "/" not in t and ":" in t:
        return _host_port(t, t)
    return {"path": _unix_path(t, t)}


def _unix_path(path: str, text: str) -> str:
    if not path:
        raise ValueError(f"control address {text!r} has no path; write unix:PATH")
    if len(os.fsencode(path)) > _UNIX_PATH_MAX:
        raise ValueError(f"unix socket path {path!r} is longer than {_UNIX_PATH_MAX} bytes, "
                         "the system's limit; choose a shorter path")
    return path


def _host_port(hp: str, text: str) -> dict:
    m = re.fullmatch(r"\[([^\]]+)\]:(.*)", hp)
    host, port = (m.group(1), m.group(2)) if m else hp.rsplit(":", 1)
    if not host:
        raise ValueError(f"control address {text!r} has no host before the ':'; write "
                         "HOST:PORT, or tcp:PORT for 127.0.0.1")
    if not m and ":" in host:
        raise ValueError(f"control address {text!r}: put an IPv6 host in brackets, "
                         "as [::1]:7777")
    return {"host": host, "port": _port(port, text)}


def _port(text: str, whole: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise ValueError(f"control address {whole!r}: port {text!r} is not a number "
                         "from 0 to 65535")
    return int(text)


# -- global handlers (Click's root handlers) -------------------------------

def _g_version(router) -> str:
    from vforward import __version__
    return __version__


def _g_list(router) -> str:
    names = list(router.elements)
    return f"{len(names)}\n" + "".join(f"{n}\n" for n in names)


def _g_classes(router) -> str:
    from vforward.catalogue import element_classes
    return "".join(f"{c}\n" for c in sorted(element_classes(), key=str.lower))


def _g_config(router) -> str:
    return router.graph.source_text


def _g_flatconfig(router) -> str:
    return router.graph.flat_config()


def _g_requirements(router) -> str:
    reqs = getattr(router.graph.flat, "requirements", None) or []
    return "".join(f"{r}\n" for r in reqs)


def _g_handlers(router) -> str:
    return "".join(f"{n}\t{('r' if r else '') + ('w' if w else '')}\n"
                   for n, (r, w) in sorted(GLOBAL_HANDLERS.items()))


def _g_metrics(router) -> str:
    from vforward.metrics import exposition
    return exposition(router)


def _g_stop(router, value: str) -> None:
    # Stop after this reply has been written, so the caller hears "200".
    router.loop.call_soon(router.stop)


def _g_hotconfig(router, value: str) -> None:
    # Click's hotconfig: swap in a new configuration, keeping matching elements.
    from vforward.element import HandlerError
    from vforward.hotswap import HotswapError, hotswap
    try:
        hotswap(router, value)
    except HotswapError as e:
        raise HandlerError(str(e)) from None


# name -> (read(router) -> str, write(router, value)); None where not readable/writable
GLOBAL_HANDLERS = {
    "version": (_g_version, None),
    "list": (_g_list, None),
    "classes": (_g_classes, None),
    "config": (_g_config, None),
    "flatconfig": (_g_flatconfig, None),
    "requirements": (_g_requirements, None),
    "handlers": (_g_handlers, None),
    "metrics": (_g_metrics, None),      # Prometheus text, as vforward.metrics renders it
    "stop": (None, _g_stop),
    "hotconfig": (None, _g_hotconfig),  # a new configuration, swapped in while running
}


# -- handler calls, independent of sockets ----------------------------------

@dataclass
class Reply:
    """One reply: its code, its message lines, and DATA for successful reads."""
    code: int
    lines: list = field(default_factory=list)
    data: bytes | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.code < 300

    @property
    def message(self) -> str:
        return " ".join(self.lines)

    def encode(self) -> bytes:
        lines = [part for line in self.lines for part in str(line).split("\n")] or [""]
        out = []
        for i, line in enumerate(lines):
            sep = " " if i == len(lines) - 1 else "-"
            out.append(f"{self.code}{sep}{_printable(line)}\r\n")
        wire = _encode("".join(out))
        if self.data is not None:
            wire += b"DATA %d\r\n" % len(self.data) + self.data
        return wire


class _Target:
    """A resolved handler name: the element (None for global) and its entry points."""
    __slots__ = ("element", "name", "read", "write")

    def __init__(self, element, name, read, write):
        self.element, self.name, self.read, self.write = element, name, read, write


class HandlerCaller:
    """Resolves handler names and calls them, turning every outcome into a Reply.

    Kept apart from the sockets so the same rules serve any transport."""

    def __init__(self, router, readonly: bool = False):
        self.router = router
        self.readonly = readonly

    def resolve(self, full: str, want: str) -> _Target | Reply:
        """`want` is "read" or "write" (used only to rank suggestions)."""
        name = full
        if name.startswith("."):
            name = name[1:]
        elif name.startswith("0."):
            name = name[2:]
        if "." not in name:
            entry = GLOBAL_HANDLERS.get(name)
            if entry is not None:
                return _Target(None, name, entry[0], entry[1])
            msg = f"No handler named '{full}'"
            hint = did_you_mean(name, [n for n, rw in GLOBAL_HANDLERS.items()
                                       if rw[0 if want == "read" else 1]])
            if name in self.router.elements:
                msg += f"; '{name}' is an element: name one of its handlers, as {name}.count"
            elif hint:
                msg += f"; did you mean '{hint}'?"
            return Reply(NO_SUCH_HANDLER, [msg])
        ename, _, hname = name.partition(".")
        element = self.router.element(ename)
        if element is None and ename.isdigit() and 0 < int(ename) <= len(self.router.elements):
            element = list(self.router.elements.values())[int(ename) - 1]
        if element is None:
            msg = f"No element named '{ename}'"
            hint = did_you_mean(ename, self.router.elements)
            if hint:
                msg += f"; did you mean '{hint}'?"
            return Reply(NO_SUCH_ELEMENT, [msg])
        handlers = element.handlers()
        h = handlers.get(hname)
        if h is None or (h.read is None and h.write is None):
            msg = f"No handler named '{full}'"
            usable = [n for n, x in handlers.items() if (x.read if want == "read" else x.write)]
            hint = did_you_mean(hname, usable) or did_you_mean(hname, handlers)
            if hint:
                msg += f"; did you mean '{ename}.{hint}'?"
            else:
                msg += f" ({element.class_name()} has: {', '.join(sorted(handlers))})"
            return Reply(NO_SUCH_HANDLER, [msg])
        return _Target(element, hname, h.read, h.write)

    def read(self, full: str, arg: str | None) -> Reply:
        if self.router is None:
            return Reply(NO_ROUTER, ["No router installed"])
        t = self.resolve(full, "read")
        if isinstance(t, Reply):
            return t
        if t.read is None:
            return Reply(PERMISSION_DENIED, [f"Handler '{full}' write-only"])
        try:
            if t.element is None:
                value = t.read(self.router)
            else:
                value = t.element.read(t.name, arg or None)
        except Exception as e:
            return _handler_failure(f"Read handler '{full}' error", e)
        return Reply(OK, [f"Read handler '{full}' OK"], _encode(value))

    def write(self, full: str, value: str) -> Reply:
        if self.router is None:
            return Reply(NO_ROUTER, ["No router installed"])
        t = self.resolve(full, "write")
        if isinstance(t, Reply):
            return t
        if t.write is None:
            return Reply(PERMISSION_DENIED, [f"Handler '{full}' read-only"])
        if self.readonly:
            return Reply(PERMISSION_DENIED, [f"Permission denied for '{full}': this control "
                                             "socket is READONLY"])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                if t.element is None:
                    t.write(self.router, value)
                else:
                    t.element.write(t.name, value)
            except Exception as e:
                return _handler_failure(f"Write handler '{full}' error", e)
        if caught:
            return Reply(OK_WITH_WARNINGS, [f"Write handler '{full}' OK with warnings:"] +
                         [str(w.message) for w in caught])
        return Reply(OK, [f"Write handler '{full}' OK"])

    def check(self, full: str, write: bool) -> Reply:
        if self.router is None:
            return Reply(NO_ROUTER, ["No router installed"])
        t = self.resolve(full, "write" if write else "read")
        if isinstance(t, Reply):
            return t
        able = t.write if write else t.read
        if able is None:
            return Reply(NO_SUCH_HANDLER,
                         [f"Handler '{full}' not {'writable' if write else 'readable'}"])
        if write and self.readonly:
            return Reply(PERMISSION_DENIED, [f"Permission denied for '{full}': this control "
                                             "socket is READONLY"])
        return Reply(OK, [f"{'Write' if write else 'Read'} handler '{full}' OK"])


def _handler_failure(head: str, e: Exception) -> Reply:
    if isinstance(e, (HandlerError, ValueError)):
        text = str(e) or type(e).__name__
    else:
        # A bug in an element, not a refused value: say so, keep the router running.
        text = f"{type(e).__name__}: {e}"
        traceback.print_exc(file=sys.stderr)
    return Reply(HANDLER_ERROR, [head + ":"] + text.splitlines())


_HELP = [
    "Commands supported:",
    "READ handler [arg...]   call read handler, return DATA",
    "READDATA handler len    call read handler with len data bytes, return DATA",
    "READUNTIL handler term  call read handler, take data until term, return DATA",
    "WRITE handler [arg...]  call write handler",
    "WRITEDATA handler len   call write handler, pass len data bytes",
    "WRITEUNTIL handler term call write handler, take data until term",
    "CHECKREAD handler       check if read handler is valid",
    "CHECKWRITE handler      check if write handler is valid",
    "QUIT                    close connection",
]


# -- the server ----------------------------------------------------------------

class _Closed(Exception):
    """The connection must end (EOF mid-command, or a protocol violation)."""


class _Connection:
    """One client: a byte buffer, line splitting (LF, CRLF or CR) and commands."""

    def __init__(self, server: "ControlServer", reader, writer):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.buf = bytearray()
        self.eof = False
        self.skip_lf = False

    async def _fill(self) -> None:
        chunk = await self.reader.read(65536)
        if not chunk:
            self.eof = True
            return
        if self.skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]   # the LF of a CRLF that arrived split in two
        self.skip_lf = False
        self.buf += chunk

    async def line(self) -> tuple[bytes, bytes] | None:
        """The next line and its ending (b"" at EOF); None when nothing is left."""
        start = 0
        while True:
            m = _EOL.search(self.buf, start)
            if m:
                i = m.start()
                end = i + 2 if self.buf[i:i + 2] == b"\r\n" else i + 1
                text, ending = bytes(self.buf[:i]), bytes(self.buf[i:end])
                # A CR that ends the buffer may be half a CRLF: answer now, skip its LF later.
                self.skip_lf = ending == b"\r" and end == len(self.buf)
                del self.buf[:end]
                return text, ending
            if self.eof:
                if not self.buf:
                    return None
                text = bytes(self.buf)
                self.buf.clear()
                return text, b""
            if len(self.buf) > MAX_LINE:
                await self.send(Reply(SYNTAX_ERROR, [f"Line longer than {MAX_LINE} bytes"]))
                raise _Closed
            start = len(self.buf)
            await self._fill()

    async def exact(self, n: int) -> bytes:
        while len(self.buf) < n and not self.eof:
            await self._fill()
        if len(self.buf) < n:
            await self.send(Reply(SYNTAX_ERROR, ["Not enough data"]))
            raise _Closed
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    async def until(self, terminator: str) -> bytes:
        """The lines before one equal to terminator (trailing white space ignored)."""
        term = terminator.rstrip()
        parts, size = [], 0
        while True:
            got = await self.line()
            if got is None:
                await self.send(Reply(SYNTAX_ERROR, ["Connection closed before the terminator"]))
                raise _Closed
            text, ending = got
            if _decode(text).rstrip() == term:
                return b"".join(parts)
            if not ending:
                await self.send(Reply(SYNTAX_ERROR, ["Connection closed before the terminator"]))
                raise _Closed
            parts.append(text + ending)
            size += len(text) + len(ending)
            if size > MAX_DATA:
                await self.send(Reply(DATA_TOO_BIG, [f"Data longer than {MAX_DATA} bytes"]))
                raise _Closed

    async def send(self, reply: Reply | bytes) -> None:
        self.writer.write(reply if isinstance(reply, bytes) else reply.encode())
        await self.writer.drain()

    async def run(self) -> None:
        await self.send(_encode(GREETING + "\r\n"))
        while True:
            got = await self.line()
            if got is None:
                return
            quit_now = await self.command(_decode(got[0]))
            if quit_now:
                return

    async def command(self, line: str) -> bool:
        """Run one command line; True when the connection should close."""
        words = line.split(None, 2)
        if not words:
            return False
        cmd = words[0].upper()
        calls = self.server.caller
        if cmd in ("READ", "GET", "WRITE", "SET"):
            if len(words) < 2:
                return await self._reply(Reply(SYNTAX_ERROR, [f"Wrong number of arguments: "
                                                              f"{cmd} HANDLER [ARGS]"]))
            arg = words[2].strip() if len(words) > 2 else ""
            if cmd in ("READ", "GET"):
                return await self._reply(calls.read(words[1], arg or None))
            return await self._reply(calls.write(words[1], arg))
        if cmd in ("READDATA", "WRITEDATA", "SETDATA"):
            parts = line.split()
            if len(parts) != 3:
                return await self._reply(Reply(SYNTAX_ERROR, [f"Wrong number of arguments: "
                                                              f"{cmd} HANDLER LENGTH"]))
            if not parts[2].isdigit():
                return await self._reply(Reply(SYNTAX_ERROR, [f"Syntax error in '{cmd}': "
                                                              f"length {parts[2]!r} is not "
                                                              "a number"]))
            n = int(parts[2])
            if n > MAX_DATA:
                await self._reply(Reply(DATA_TOO_BIG, [f"Data longer than {MAX_DATA} bytes"]))
                return True
            data = _decode(await self.exact(n))
            if cmd == "READDATA":
                return await self._reply(calls.read(parts[1], data or None))
            return await self._reply(calls.write(parts[1], data))
        if cmd in ("READUNTIL", "WRITEUNTIL"):
            if len(words) < 2:
                return await self._reply(Reply(SYNTAX_ERROR, [f"Wrong number of arguments: "
                                                              f"{cmd} HANDLER [TERMINATOR]"]))
            data = _decode(await self.until(words[2] if len(words) > 2 else ""))
            if cmd == "READUNTIL":
                return await self._reply(calls.read(words[1], data or None))
            return await self._reply(calls.write(words[1], data))
        if cmd in ("CHECKREAD", "CHECKWRITE"):
            if len(line.split()) != 2:
                return await self._reply(Reply(SYNTAX_ERROR, [f"Wrong number of arguments: "
                                                              f"{cmd} HANDLER"]))
            return await self._reply(calls.check(words[1], cmd == "CHECKWRITE"))
        if cmd in ("QUIT", "CLOSE"):
            await self.send(Reply(OK, ["Goodbye!"]))
            return True
        if cmd == "HELP":
            return await self._reply(Reply(OK, _HELP))
        return await self._reply(Reply(UNIMPLEMENTED, [f"Command '{cmd}' unimplemented; "
                                                       "send HELP for the commands"]))

    async def _reply(self, reply: Reply) -> bool:
        await self.send(reply)
        return False


_EOL = re.compile(rb"[\r\n]")


class ControlServer:
    """Serves Click's ControlSocket protocol for one router, on its event loop.

    Exactly one of `path` (a unix socket, created with permissions `mode`) or
    `port` (TCP on `host`; port 0 picks a free port, see `.port` after bind)
    is given.  `readonly` refuses every write handler with 530.  The router
    calls `await start()` when it starts running and `close()` at cleanup."""

    def __init__(self, router, path=None, port=None, host: str = "127.0.0.1",
                 mode: int = 0o600, readonly: bool = False, verbose: bool = False,
                 name: str = "control"):
        if (path is None) == (port is None):
            raise ValueError("ControlServer needs either path (a unix socket) or port (TCP), "
                             "not both and not neither")
        self.router = router
        self.path = os.fspath(path) if path is not None else None
        self.host = host
        self.port = port
        self.mode = mode
        self.readonly = readonly
        self.verbose = verbose
        self.name = name
        self.caller = HandlerCaller(router, readonly)
        self._sock: socket.socket | None = None
        self._server = None
        self._loop = None
        self._inode = None
        self._tasks: set = set()
        self._writers: set = set()
        self._closed = False

    @property
    def address(self) -> str:
        """Where clients connect, in parse_control_address form."""
        if self.path is not None:
            return self.path
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def clients(self) -> int:
        """Connections now open."""
        return len(self._tasks)

    # -- opening ----------------------------------------------------------
    def bind(self) -> None:
        """Open the listening socket now (start() does it if not done), so that
        a busy port or a bad path is reported before the router runs."""
        if self._sock is not None:
            return
        if self._closed:
            raise ControlSocketError(f"control socket {self.address} is closed")
        self._sock = self._bind_unix() if self.path is not None else self._bind_tcp()

    def _bind_tcp(self) -> socket.socket:
        try:
            sock = listen_tcp(self.host, self.port, "control socket")
        except OSError as e:
            raise ControlSocketError(e.strerror or str(e)) from None
        self.port = sock.getsockname()[1]
        return sock

    def _bind_unix(self) -> socket.socket:
        path = self.path
        self._remove_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # The file is born owner-only (umask), so it is never more open than
            # `mode`, even for the instant before chmod; nobody can connect
            # before listen() anyway.
            old_umask = os.umask(0o177)
            try:
                sock.bind(path)
            finally:
                os.umask(old_umask)
            os.chmod(path, self.mode)
            st = os.stat(path)
            self._inode = (st.st_dev, st.st_ino)
            if st.st_uid != os.geteuid():
                raise ControlSocketError(f"cannot open control socket {path}: the file is owned "
                                         f"by uid {st.st_uid}, not by this router (uid "
                                         f"{os.geteuid()}); remove it or choose another path")
            sock.listen(16)
        except OSError as e:
            sock.close()
            if self._inode is not None:
                _unlink_quietly(path)
                self._inode = None
            if isinstance(e, ControlSocketError):
                raise
            raise ControlSocketError(f"cannot open control socket {path}: {e.strerror}; "
                                     "check that its directory exists and is writable") from None
        sock.setblocking(False)
        return sock

    @staticmethod
    def _remove_stale(path: str) -> None:
        """A socket file nobody listens on is left from a router that died: remove it.
        Refuse to touch anything else."""
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ControlSocketError(f"cannot open control socket {path}: a file that is not "
                                     "a socket is in the way; remove it or choose another path")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except (ConnectionRefusedError, FileNotFoundError):
            _unlink_quietly(path)
            return
        except OSError as e:
            raise ControlSocketError(f"cannot open control socket {path}: the existing socket "
                                     f"file cannot be checked ({e.strerror})") from None
        finally:
            probe.close()
        raise ControlSocketError(f"cannot open control socket {path}: another program is "
                                 "listening on it; stop that router or choose another path")

    async def start(self) -> None:
        """Begin accepting connections on the running loop."""
        self.bind()
        self._loop = asyncio.get_running_loop()
        if self.path is not None:
            self._server = await asyncio.start_unix_server(self._serve, sock=self._sock)
        else:
            self._server = await asyncio.start_server(self._serve, sock=self._sock)
        if self.path is None:
            # A TCP control socket always says where it listens, and whether
            # other machines can reach it.
            print(exposure(self._sock, self.name), file=sys.stderr)
        elif self.verbose:
            print(f"{self.name}: listening on {self.address}", file=sys.stderr)

    async def _serve(self, reader, writer) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        self._writers.add(writer)
        peer = writer.get_extra_info("peername")
        who = f" from {peer[0]}:{peer[1]}" if isinstance(peer, tuple) else ""
        if self.verbose:
            print(f"{self.name}: opened connection{who}", file=sys.stderr)
        try:
            await _Connection(self, reader, writer).run()
        except (_Closed, ConnectionError, asyncio.CancelledError):
            pass
        except Exception:   # never let one client's trouble reach the router
            traceback.print_exc(file=sys.stderr)
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            if self.verbose:
                print(f"{self.name}: closed connection{who}", file=sys.stderr)

    # -- closing ----------------------------------------------------------
    def close(self) -> None:
        """Stop listening, end every connection, and remove the socket file.
        Safe to call twice, and whether or not the loop is running."""
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        elif self._sock is not None:
            self._sock.close()
        self._sock = None
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        loop = self._loop
        if loop is not None and not loop.is_closed() and not loop.is_running():
            loop.run_until_complete(self._settle())
        if self.path is not None and self._inode is not None:
            try:
                st = os.stat(self.path)
                if (st.st_dev, st.st_ino) == self._inode:   # not a newer router's socket
                    _unlink_quietly(self.path)
            except OSError:
                pass
            self._inode = None

    async def _settle(self) -> None:
        """Let cancelled connections finish and transports release their sockets."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)
        for _ in range(3):
            await asyncio.sleep(0)


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# -- the client ----------------------------------------------------------------

class ControlClient:
    """A blocking client: `ControlClient("/tmp/vf.sock").read("c.count")`.

    `address` is anything parse_control_address takes, or its dict.  Methods
    raise ControlError for non-2xx replies and OSError when the connection
    fails."""

    def __init__(self, address, timeout: float | None = 10.0):
        kw = address if isinstance(address, dict) else parse_control_address(address)
        if "path" in kw:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            try:
                sock.connect(kw["path"])
            except OSError:
                sock.close()
                raise
        else:
            sock = socket.create_connection((kw.get("host", "127.0.0.1"), kw["port"]), timeout)
        self._start(sock)

    @classmethod
    def over(cls, stream) -> "ControlClient":
        """A client on a byte stream opened elsewhere: anything with sendall(),
        makefile("rb") and close(), such as a relay through a pod's exec stream
        (vforward.cluster.kubeaccess)."""
        client = cls.__new__(cls)
        client._start(stream)
        return client

    def _start(self, sock) -> None:
        self._sock = sock
        self._in = sock.makefile("rb")
        greeting = self._in.readline()
        if not greeting.startswith(b"Click::ControlSocket/"):
            self._close_socket()
            raise ControlError(0, f"not a control socket: it said {greeting[:80]!r}")
        self.protocol = greeting.strip().decode("ascii", "replace")

    # -- protocol ---------------------------------------------------------
    def request(self, line: str, data: bytes | str | None = None) -> Reply:
        """Send one command (and `data` right after its line); return the reply.
        A successful READ-type reply carries its DATA in `reply.data`."""
        if isinstance(data, str):
            data = _encode(data)
        self._sock.sendall(_encode(line) + b"\r\n" + (data or b""))
        return self._reply(line.split(None, 1)[0].upper() if line.strip() else "")

    def _reply(self, cmd: str) -> Reply:
        lines, code = [], 0
        while True:
            raw = self._in.readline()
            if not raw:
                raise ConnectionError("control socket closed the connection")
            text = _decode(raw.rstrip(b"\r\n"))
            if len(text) < 3 or not text[:3].isdigit():
                raise ControlError(0, f"malformed reply line {text!r}")
            code = int(text[:3])
            lines.append(text[4:])
            if text[3:4] != "-":
                break
        reply = Reply(code, lines)
        if reply.ok and cmd in ("READ", "GET", "READDATA", "READUNTIL"):
            head = self._in.readline().strip()
            m = re.fullmatch(rb"DATA (\d+)", head)
            if not m:
                raise ControlError(0, f"expected 'DATA n' after a read, got {head!r}")
            n = int(m.group(1))
            reply.data = self._in.read(n)
            if len(reply.data) != n:
                raise ConnectionError("control socket closed the connection mid-reply")
        return reply

    @staticmethod
    def _check(reply: Reply) -> Reply:
        if not reply.ok:
            raise ControlError(reply.code, reply.message)
        return reply

    # -- handler calls ----------------------------------------------------
    def read(self, handler: str, arg: str | None = None) -> str:
        """The value of read handler `handler` ("elem.name" or a global)."""
        if arg is None:
            reply = self.request(f"READ {handler}")
        else:
            data = _encode(arg)
            reply = self.request(f"READDATA {handler} {len(data)}", data)
        return _decode(self._check(reply).data)

    def write(self, handler: str, value: str = "") -> None:
        """Call write handler `handler` with `value` (sent exactly, newlines and all)."""
        data = _encode(value)
        self._check(self.request(f"WRITEDATA {handler} {len(data)}", data))

    def check_read(self, handler: str) -> bool:
        return self.request(f"CHECKREAD {handler}").ok

    def check_write(self, handler: str) -> bool:
        return self.request(f"CHECKWRITE {handler}").ok

    # -- life cycle ---------------------------------------------------------
    def close(self) -> None:
        """Say QUIT and close; quiet if the server has already gone."""
        if self._sock is None:
            return
        try:
            self._sock.sendall(b"QUIT\r\n")
            self._in.readline()
        except OSError:
            pass
        self._close_socket()

    def _close_socket(self) -> None:
        try:
            self._in.close()
        finally:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
