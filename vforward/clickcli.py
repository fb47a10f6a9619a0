"""`vforward click` (installed also as `click`): Click's own command line.

    click [OPTIONS] [FILE | -e EXPR] [NAME=VALUE ...]

Takes the options of Click's userlevel driver with their meaning and their
output formats, so scripts and tests written for Click run unchanged:

  -f, --file FILE          read the configuration from FILE ('-': standard input)
  -e, --expression EXPR    the configuration is EXPR
  -h, --handler E.H        after the router stops, read handler E.H and print
                           it: the value alone when one handler is asked for,
                           'E.H:' then the value then a blank line when several
                           are (E may be a class name or a glob pattern)
  -x, --exit-handler E.H   exit with the value of read handler E.H (an integer,
                           or true = 0 / false = 1)
  -o, --output FILE        write the flattened configuration to FILE ('-': stdout)
  -q, --quit               initialize the router, but do not run it
  -p, --port PORT          open a control socket on TCP PORT (127.0.0.1)
  -u, --unix-socket PATH   open a control socket on unix socket PATH
  -t, --time               print the CPU and wall time the router ran
  -w, --no-warnings        do not print warnings
      --simtime[=T]        run on a virtual clock starting at T (default 1000000000
                           seconds): timers fire as soon as nothing else is ready
  -j, --threads N / -a     accepted and ignored (one thread)

InfiniteSource, Unqueue and Discard take Click's default BURST of 1 here (vforward's
own commands use larger bursts), so packets move one at a time unless the
configuration says otherwise.

Errors read as Click's: `FILE:LINE: message` (`config:LINE:` for -e), and
the exit status is 1 for a configuration that does not build, the exit
handler's value with -x, 0 otherwise.
"""
from __future__ import annotations

import fnmatch
import os
import resource
import sys
import time

PROG = "click"
SIMTIME_START = 1_000_000_000.0   # where Click's simulated clock starts (its default epoch)

_LONG = {"file": "f", "expression": "e", "handler": "h", "exit-handler": "x", "output": "o",
         "quit": "q", "port": "p", "unix-socket": "u", "time": "t", "no-warnings": "w",
         "threads": "j", "clickpath": "C", "allow-reconfigure": "R", "affinity": "a",
         "cpu": "a", "help": "help", "version": "v", "warnings": "warnings",
         "simtime": "simtime", "simulation-time": "simtime", "socket": "socket", "dpdk": "dpdk"}
_TAKES_VALUE = set("fehxopujC") | {"socket"}


class UsageError(Exception):
    pass


class Options:
    def __init__(self):
        self.file: str | None = None
        self.is_expr = False
        self.defines: dict[str, str] = {}
        self.handlers: list[str] = []
        self.exit_handler: str | None = None
        self.output: str | None = None
        self.quit = False
        self.ports: list[str] = []
        self.unix_sockets: list[str] = []
        self.time = False
        self.warnings = True
        self.simtime: float | None = None
        self.help = False
        self.version = False


def parse_options(argv: list[str]) -> Options:
    """Click's option syntax: short options bundle (-qh x.y), long ones take
    --opt=value or --opt value, and a bare NAME=value sets a parameter."""
    o = Options()
    i = 0

    def config(value: str, is_expr: bool):
        if o.file is not None:
            raise UsageError("router configuration specified twice")
        o.file, o.is_expr = value, is_expr

    def apply(opt: str, value: str | None):
        if opt in ("f", "e"):
            config(value, opt == "e")
        elif opt == "h":
            o.handlers.append(value)
        elif opt == "x":
            if o.exit_handler is not None:
                raise UsageError("--exit-handler specified twice")
            o.exit_handler = value
        elif opt == "o":
            if o.output is not None:
                raise UsageError("output file specified twice")
            o.output = value
        elif opt == "q":
            o.quit = True
        elif opt == "p":
            port = value[:-1] if value.endswith("+") else value
            if not port.isdigit() or not 0 < int(port) < 65536:
                raise UsageError(f"'--port' expects a TCP port number, not '{value}'")
            o.ports.append(port)
        elif opt == "u":
            o.unix_sockets.append(value)
        elif opt == "t":
            o.time = True
        elif opt == "w":
            o.warnings = False
        elif opt == "warnings":
            o.warnings = True
        elif opt == "simtime":
            try:
                o.simtime = SIMTIME_START if value in (None, "") else float(value)
            except ValueError:
                raise UsageError(f"'--simtime' expects a number, not '{value}'") from None
        elif opt == "help":
            o.help = True
        elif opt == "v":
            o.version = True
        # j, a, C, R, socket, dpdk: accepted, no effect here

    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg.startswith("--") and len(arg) > 2:
            name, eq, value = arg[2:].partition("=")
            negated = name.startswith("no-") and name not in _LONG
            key = _LONG.get(name[3:] if negated else name)
            if key is None:
                matches = [k for k in _LONG if k.startswith(name)]
                if len(matches) != 1:
                    raise UsageError(f"unrecognized option '{arg}'")
                key = _LONG[matches[0]]
            if key in _TAKES_VALUE and not eq:
                if i >= len(argv):
                    raise UsageError(f"'{arg}' requires an argument")
                value, i = argv[i], i + 1
            apply(key, value if (eq or key in _TAKES_VALUE) else None)
        elif arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                c = arg[j]
                j += 1
                if c not in "fehxoqputwjaCRv":
                    raise UsageError(f"unrecognized option '-{c}'")
                if c in _TAKES_VALUE or c == "j":
                    value = arg[j:]
                    if not value:
                        if i >= len(argv):
                            raise UsageError(f"'-{c}' requires an argument")
                        value, i = argv[i], i + 1
                    apply(c, value)
                    break
                if c == "a":
                    break   # optional CPU number glued on
                apply(c, None)
        else:
            name, eq, value = arg.partition("=")
            if eq and name and all(ch.isalnum() or ch == "_" for ch in name):
                if name in o.defines:
                    raise UsageError(f"parameter '{name}' multiply defined")
                o.defines[name] = value
            else:
                config(arg, False)
    return o


def _err(message: str) -> None:
    print(f"{PROG}: {message}", file=sys.stderr)


def format_error(e: Exception) -> str:
    loc = getattr(e, "loc", None)
    message = getattr(e, "message", None) or str(e)
    if loc is not None:
        return f"{loc.file}:{loc.line}: {message}"
    return message


_CLICK_BURSTS = {"InfiniteSource": 1, "Unqueue": 1, "Discard": 1}


class click_defaults:
    """`with click_defaults(classes):` Click's defaults where vforward's differ
    for speed: its sources and Unqueue move one packet at a time (BURST 1),
    so the order of events a Click configuration expects (a Counter's
    COUNT_CALL firing between two packets) holds.  A configuration that
    gives BURST keeps it.  vforward's own defaults come back on exit."""

    def __init__(self, classes: dict):
        self.classes = {n: classes[n] for n in _CLICK_BURSTS if n in classes}
        self.saved: dict = {}

    def __enter__(self):
        for name, cls in self.classes.items():
            self.saved[name] = cls.__dict__.get("DEFAULT_BURST")
            cls.DEFAULT_BURST = _CLICK_BURSTS[name]
        return self

    def __exit__(self, *exc):
        for name, cls in self.classes.items():
            if self.saved[name] is None:
                del cls.DEFAULT_BURST
            else:
                cls.DEFAULT_BURST = self.saved[name]


def load(o: Options):
    """The built graph; raises the project's user errors."""
    from vforward.graph import build_graph
    if o.file is None:
        if sys.stdin.isatty():
            raise FileNotFoundError("no configuration given: name a FILE or use -e 'CONFIG'")
        text, filename = sys.stdin.read(), "<stdin>"
    elif o.is_expr:
        text, filename = o.file, "config"
    elif o.file == "-":
        text, filename = sys.stdin.read(), "<stdin>"
    else:
        with open(o.file) as f:
            text = f.read()
        filename = o.file
    return build_graph(text, filename, o.defines)


def _handler_targets(router, spec: str):
    """(element or None, handler name, label, print name?) for one -h spec:
    an element name, or else a glob pattern or class name naming several."""
    ename, dot, hname = spec.rpartition(".")
    if not dot:
        return [(None, spec, spec, False)], None
    element = router.element(ename)
    if element is not None:
        return [(element, hname, spec, False)], None
    pattern = any(c in ename for c in "?*[")
    found, any_match = [], False
    for e in router.elements.values():
        if fnmatch.fnmatchcase(e.name, ename) if pattern else _is_class(e, ename):
            any_match = True
            h = e.handlers().get(hname)
            if h is not None and h.read is not None:
                found.append((e, hname, f"{e.name}.{hname}", True))
    if not any_match:
        return [], (f"no element matching '{ename}'" if pattern else f"no element '{ename}'")
    return found, None


def _is_class(element, name: str) -> bool:
    return any(getattr(k, "class_name", None) and k.class_name() == name
               for k in type(element).__mro__ if hasattr(k, "PORTS"))


def read_handler_value(router, element, hname: str, label: str) -> str:
    """The value of a read handler, or raises LookupError with Click's message."""
    from vforward.control import GLOBAL_HANDLERS
    if element is None:
        entry = GLOBAL_HANDLERS.get(hname)
        if entry is None or entry[0] is None:
            if entry is not None:
                raise LookupError(f"'{label}' is a write handler")
            raise LookupError(f"no '{label}' handler")
        return str(entry[0](router))
    h = element.handlers().get(hname)
    if h is None or (h.read is None and h.write is None):
        raise LookupError(f"no '{label}' handler")
    if h.read is None:
        raise LookupError(f"'{label}' is a write handler")
    return element.read(hname)


def print_handlers(router, specs: list[str]) -> bool:
    """Click's -h output; False if any handler could not be read."""
    ok = True
    several = len(specs) > 1
    for spec in specs:
        targets, error = _handler_targets(router, spec)
        if error:
            _err(error)
            ok = False
            continue
        for element, hname, label, expanded in targets:
            try:
                value = read_handler_value(router, element, hname, label)
            except LookupError as e:
                _err(str(e))
                ok = False
                continue
            except Exception as e:   # a handler that fails is reported, not a crash
                _err(f"'{label}': {e}")
                ok = False
                continue
            named = several or expanded
            out = (f"{label}:\n" if named else "") + value
            if value and not value.endswith("\n"):
                out += "\n"
            if named:
                out += "\n"
            sys.stdout.write(out)
    sys.stdout.flush()
    return ok


def exit_value(router, spec: str) -> int:
    from vforward.args import ArgumentError, boolean
    targets, error = _handler_targets(router, spec)
    if error or not targets:
        _err(error or f"no '{spec}' handler")
        return 255
    element, hname, label, _ = targets[0]
    try:
        value = read_handler_value(router, element, hname, label).strip()
    except (LookupError, Exception) as e:
        _err(str(e))
        return 255
    try:
        return int(value, 0) & 0xFF
    except ValueError:
        pass
    try:
        return 0 if boolean(value) else 1
    except ArgumentError:
        _err("exit handler value should be integer")
        return 255


def run(o: Options) -> int:
    from vforward.cli import _user_errors
    from vforward.runtime import Router
    try:
        graph = load(o)
    except _user_errors() as e:
        if isinstance(e, OSError) and e.filename:
            _err(f"{e.filename}: {e.strerror}")
        elif getattr(e, "click_lines", None):
            # an element that names each bad argument in Click's words
            print("\n".join(e.click_lines), file=sys.stderr)
            print("Router could not be initialized!", file=sys.stderr)
        else:
            print(format_error(e), file=sys.stderr)
        return 1
    if o.warnings:
        for w in getattr(graph.flat, "warnings", []):
            print(format_error(w).replace(": ", ": warning: ", 1) if getattr(w, "loc", None)
                  else f"warning: {w}", file=sys.stderr)
    code = 0
    if o.output:
        try:
            text = graph.flat_config()
            if o.output == "-":
                sys.stdout.write(text)
            else:
                with open(o.output, "w") as f:
                    f.write(text)
        except OSError as e:
            _err(f"{o.output}: {e.strerror}")
            code = 1
    loop = None
    if o.simtime is not None:
        from vforward.simtime import SimulatedTimeLoop
        loop = SimulatedTimeLoop(o.simtime)
    router = Router(graph, loop=loop)
    try:
        for spec in [*(f"tcp:{p}" for p in o.ports), *o.unix_sockets]:
            from vforward.control import ControlServer, parse_control_address
            server = ControlServer(router, **parse_control_address(spec))
            server.bind()
            router.listeners.append(server)
    except (ValueError, OSError) as e:
        _err(str(e))
        return 1
    before_cpu = resource.getrusage(resource.RUSAGE_SELF)
    before_wall = time.monotonic()
    try:
        if o.quit:
            router.initialize()
        else:
            code = router.run() or code
    except _user_errors() as e:
        print(format_error(e), file=sys.stderr)
        router.cleanup()
        return 1
    if o.time:
        after = resource.getrusage(resource.RUSAGE_SELF)
        wall = time.monotonic() - before_wall
        print(f"{after.ru_utime - before_cpu.ru_utime:.3f}u "
              f"{after.ru_stime - before_cpu.ru_stime:.3f}s "
              f"{int(wall // 60)}:{wall % 60:05.2f}")
    if o.handlers and not print_handlers(router, o.handlers):
        code = 1
    if o.exit_handler:
        code = exit_value(router, o.exit_handler)
    router.cleanup()
    return code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        o = parse_options(argv)
    except UsageError as e:
        _err(str(e))
        print(f"Usage: {PROG} [OPTION]... [ROUTERFILE]\nTry '{PROG} --help' for more information.",
              file=sys.stderr)
        return 1
    if o.help:
        print(__doc__.split("\n", 2)[2].strip())
        return 0
    if o.version:
        from vforward import __version__
        print(f"vforward {__version__} (Click command line)")
        return 0
    from vforward.catalogue import load_builtin
    try:
        with click_defaults(load_builtin()):
            return run(o)
    except KeyboardInterrupt:
        return 130
    finally:
        sys.stdout.flush()


def add_parser(sub) -> None:
    """`vforward click ...`: every word after 'click' goes to Click's option parser."""
    import argparse
    p = sub.add_parser("click", help="run a config with Click's own command line "
                                     "(-e, -f, -h E.H, -x, -o, -q, -p, -u, --simtime)",
                       add_help=False)
    p.add_argument("click_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=lambda args: main(args.click_args))


if __name__ == "__main__":
    sys.exit(main())
