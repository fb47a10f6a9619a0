"""The `vforward` command line: run | check | graph | ctl | elements | topo | bench | demo | click."""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys


USER_ERRORS: tuple = ()   # filled lazily: the exception types that are the user's to fix


def _user_errors() -> tuple:
    global USER_ERRORS
    if not USER_ERRORS:
        from vforward.args import ArgumentError
        from vforward.config import ConfigError
        from vforward.element import ElementError
        from vforward.graph import GraphError
        from vforward.kernels import KernelNotBuilt
        from vforward.topo.deploy import DeployError
        from vforward.experiment.scenario import ScenarioError
        from vforward.topo.model import TopologyError
        USER_ERRORS = (ConfigError, GraphError, ArgumentError, ElementError, TopologyError,
                       DeployError, KernelNotBuilt, ScenarioError,
                       FileNotFoundError, PermissionError, IsADirectoryError)
    return USER_ERRORS


def fail(message: str, code: int = 1) -> int:
    print(f"vforward: error: {message}", file=sys.stderr)
    return code


# -- loading a config --------------------------------------------------------

def _split_defines(items: list[str]) -> tuple[list[str], dict[str, str]]:
    """Separate `NAME=value` command-line overrides from other words."""
    rest, defines = [], {}
    for item in items:
        name, eq, value = item.partition("=")
        if eq and name.lstrip("$").replace("_", "").isalnum():
            defines[name.lstrip("$")] = value
        else:
            rest.append(item)
    return rest, defines


def load_graph(args) -> "object":
    """Build the element graph named by args.config / args.expr, with element files loaded."""
    from vforward.catalogue import load_builtin, load_file
    from vforward.graph import build_graph
    load_builtin()
    for path in args.elements or []:
        load_file(path)
    words, defines = _split_defines(args.words)
    if args.expr is not None:
        text, filename = args.expr, "<expr>"
        if words:
            raise FileNotFoundError(f"unexpected arguments {' '.join(words)!r} after -e")
    else:
        if not words:
            raise FileNotFoundError("no configuration given: name a .cfg file or use -e 'CONFIG'")
        filename = words[0]
        if len(words) > 1:
            raise FileNotFoundError(f"unexpected arguments {' '.join(words[1:])!r}; "
                                    "overrides are written NAME=value")
        if filename == "-":
            text, filename = sys.stdin.read(), "<stdin>"
        else:
            with open(filename) as f:
                text = f.read()
    graph = build_graph(text, filename, defines)
    for warning in graph.flat.warnings:     # placed as errors are: FILE:LINE:COL: warning: ...
        where = f"{warning.loc}: " if getattr(warning, "loc", None) else "vforward: "
        print(f"{where}warning: {getattr(warning, 'message', warning)}", file=sys.stderr)
    return graph


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("words", nargs="*", metavar="CONFIG [NAME=value ...]",
                   help="configuration file ('-' for stdin) and define overrides")
    p.add_argument("-e", "--expr", help="configuration text given on the command line")
    p.add_argument("--elements", action="append", metavar="FILE.py",
                   help="load custom element classes from a Python file (repeatable)")


def _poll_budget(text: str) -> tuple[float, float]:
    from vforward.args import ArgumentError
    from vforward.busypoll import parse_budget
    try:
        return parse_budget(text)
    except ArgumentError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


# -- commands ------------------------------------------------------------------

def cmd_run(args) -> int:
    from vforward.runtime import Router
    graph = load_graph(args)
    router = Router(graph, n_slots=args.pool_slots, poll=args.poll, poll_budget=args.poll_budget)
    if args.control:
        from vforward.control import ControlServer, parse_control_address
        try:
            server = ControlServer(router, **parse_control_address(args.control))
            server.bind()   # fail here, with the socket's own message, before anything runs
        except (ValueError, OSError) as e:
            return fail(f"--control {args.control}: {e}")
        router.listeners.append(server)
    if args.metrics:
        from vforward.metrics import parse_listen_address, serve_metrics
        try:
            serve_metrics(router, **parse_listen_address(args.metrics))
        except (ValueError, OSError) as e:
            return fail(f"--metrics {args.metrics}: {e}")
    if args.stats:
        def report():
            print(f"-- stats at {router.now() - start:.1f}s", file=sys.stderr)
            router.print_summary()
            router.call_later(args.stats, report)
        start = router.now()
        router.call_later(args.stats, report)
    try:
        code = router.run(duration=args.duration)
    except _user_errors() as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"{e} (are you root, and does the device or file exist?)")
    if not args.quiet:
        print("vforward: final counters:", file=sys.stderr)
        router.print_summary()
    router.close()
    return code


def cmd_check(args) -> int:
    from vforward.host_device_addresses import static_check
    from vforward.topo.labcheck import check_lab, is_lab_file
    if args.words and args.expr is None and is_lab_file(args.words[0]):
        for name in check_lab(args.words[0]):
            if not args.quiet:
                print(f"router {name}: builds")
        return 0
    with static_check(offline=args.no_devices) as devices:     # opens no device
        graph = load_graph(args)
    for loc, warning in devices.values():
        print(f"{loc or 'vforward'}: warning: {warning}", file=sys.stderr)
    if not args.quiet:
        sys.stdout.write(graph.flat_config())
    return 0


def cmd_graph(args) -> int:
    graph = load_graph(args)
    dot = graph.to_dot()
    out = args.output
    if out is None or out.endswith(".dot") or out == "-":
        if out in (None, "-"):
            sys.stdout.write(dot)
        else:
            with open(out, "w") as f:
                f.write(dot)
        return 0
    fmt = os.path.splitext(out)[1].lstrip(".") or "svg"
    if shutil.which("dot") is None:
        with open(os.path.splitext(out)[0] + ".dot", "w") as f:
            f.write(dot)
        return fail(f"Graphviz 'dot' is not installed, so {out} was not drawn; wrote the DOT "
                    "file beside it (install the graphviz package)")
    subprocess.run(["dot", f"-T{fmt}", "-o", out], input=dot.encode(), check=True)
    print(f"wrote {out}")
    return 0


def cmd_ctl(args) -> int:
    from vforward.control import ControlClient, ControlError
    try:
        client = ControlClient(args.address)
    except ValueError as e:
        return fail(str(e))
    except OSError as e:
        return fail(f"cannot reach control socket {args.address}: {e.strerror or e}")
    try:
        if args.op == "hotswap":
            return _hotswap(client, args.handler)
        if args.op == "read":
            print(client.read(args.handler, " ".join(args.value) or None))
        elif args.op == "write":
            client.write(args.handler, " ".join(args.value))
        else:
            print(client.read("list"), end="")
    except ControlError as e:
        return fail(str(e))
    finally:
        client.close()
    return 0


def _hotswap(client, path: str) -> int:
    """Check a new configuration here (errors name the file), then swap it in."""
    from vforward.catalogue import load_builtin
    from vforward.graph import build_graph
    with open(path) as f:
        text = f.read()
    load_builtin()
    build_graph(text, path)
    client.write("hotconfig", text)
    print(f"hot-swapped {path}")
    return 0


def cmd_elements(args) -> int:
    from vforward.catalogue import load_builtin, load_file
    from vforward.config import did_you_mean
    classes = load_builtin()
    for path in args.elements or []:
        load_file(path)
    if args.name:
        cls = classes.get(args.name)
        if cls is None:
            hint = did_you_mean(args.name, classes)
            return fail(f"no element class '{args.name}'" +
                        (f" — did you mean '{hint}'?" if hint else ""))
        print(cls.manual())
        return 0
    for name in sorted(classes, key=str.lower):
        summary = classes[name].manual().splitlines()[0]
        _, _, what = summary.partition(" -- ")
        print(f"{name:<24} {what}")
    return 0


def cmd_demo(args) -> int:
    from vforward.demo import run_demo
    return run_demo(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vforward", description=__doc__)
    from vforward.doctor import VersionAction
    p.add_argument("--version", action=VersionAction)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    r = sub.add_parser("run", help="run one router's element graph")
    _add_config_args(r)
    r.add_argument("--control", metavar="ADDR",
                   help="open a control socket: a unix socket PATH, or tcp:PORT (127.0.0.1)")
    r.add_argument("--metrics", metavar="HOST:PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (a bare PORT "
                        "listens on 127.0.0.1)")
    r.add_argument("--stats", type=float, metavar="SECONDS", help="print counters periodically")
    r.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this long")
    r.add_argument("--pool-slots", type=int, default=32768, help="packet pool size (slots)")
    r.add_argument("--poll", action="store_true",
                   help="busy-poll the devices instead of sleeping until they are readable: "
                        "lowest latency, one CPU kept at 100%% (as VPP's polling rx-mode)")
    r.add_argument("--poll-budget", type=_poll_budget, default="0", metavar="TIME|PCT",
                   help="adaptive polling: after reading a device, spin up to TIME (e.g. "
                        "50us) before sleeping, within a CPU share (e.g. 5%%, or 50us,5%%); "
                        "0 never spins (default %(default)s)")
    r.add_argument("-q", "--quiet", action="store_true", help="no final counter summary")
    r.set_defaults(func=cmd_run)

    c = sub.add_parser("check", help="parse and build a graph without touching devices")
    _add_config_args(c)
    c.add_argument("-q", "--quiet", action="store_true", help="print nothing, exit status only")
    c.add_argument("--no-devices", action="store_true",
                   help="offline: a device this machine lacks is a warning, not an error "
                        "(a configuration meant for another machine)")
    c.set_defaults(func=cmd_check)

    g = sub.add_parser("graph", help="draw a config's element graph (DOT, SVG or PNG)")
    _add_config_args(g)
    g.add_argument("-o", "--output", help="out.dot, out.svg or out.png (default: DOT on stdout)")
    g.set_defaults(func=cmd_graph)

    t = sub.add_parser("ctl", help="read or write a running router's handlers")
    t.add_argument("address", help="control socket path, or tcp:PORT / HOST:PORT")
    t.add_argument("op", choices=["read", "write", "list", "hotswap"])
    t.add_argument("handler", nargs="?", default="list",
                   help="element.handler (hotswap: the new .click file)")
    t.add_argument("value", nargs="*", help="argument or value")
    t.set_defaults(func=cmd_ctl)

    e = sub.add_parser("elements", help="list element classes, or show one's manual page")
    e.add_argument("name", nargs="?")
    e.add_argument("--elements", action="append", metavar="FILE.py")
    e.set_defaults(func=cmd_elements)

    from vforward.topo.cli import add_parser as add_topo_parser
    add_topo_parser(sub)
    from vforward.bench.cli import add_parser as add_bench_parser
    add_bench_parser(sub)
    from vforward.doctor import add_parser as add_doctor_parser
    add_doctor_parser(sub)
    from vforward.clickcli import add_parser as add_click_parser
    add_click_parser(sub)
    from vforward.node.cli import add_parser as add_node_parser
    add_node_parser(sub)

    d = sub.add_parser("demo", help="the default job: a live OSPF lab, user vs kernel forwarding")
    d.add_argument("--pcap", action="store_true", help="the offline demo over a bundled capture")
    d.set_defaults(func=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["click"]:   # Click's own option syntax, not argparse's
        from vforward.clickcli import main as click_main
        return click_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except _user_errors() as e:
        if isinstance(e, OSError) and e.filename:
            return fail(f"{e.strerror}: {e.filename}")
        return fail(str(e))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:   # output piped into head or less, closed early
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
