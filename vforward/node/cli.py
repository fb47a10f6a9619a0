"""`vforward node render` and `vforward node run`: one node on its own (see vforward.node)."""
from __future__ import annotations

import os


def cmd_render(a) -> int:
    from vforward.node.bundle import node_bundle
    from vforward.topo.deploy import assign_underlay, prepare
    lab = prepare(a.lab)
    assign_underlay(lab)
    os.makedirs(a.output, exist_ok=True)
    for name, text in node_bundle(lab, a.node).items():
        path = os.path.join(a.output, name)
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote {path}")
    return 0


def cmd_run(a) -> int:
    from vforward.cli import fail
    from vforward.node.run import NodeError, run_node
    try:
        return run_node(a.dir, run_dir=a.run_dir, control=a.control, metrics=a.metrics,
                        peer_suffix=a.peer_suffix)
    except NodeError as e:
        return fail(str(e))


def cmd_relay(a) -> int:
    from vforward.node.relay import main
    return main(["--control", a.control] if a.control else [])


def add_parser(sub) -> None:
    n = sub.add_parser("node", help="one lab node on its own: render its bundle, run it (a pod's command)")
    ns = n.add_subparsers(dest="node_command", metavar="SUBCOMMAND")
    ns.required = True
    p = ns.add_parser("render", help="write the files one router needs to run on its own")
    p.add_argument("lab", help="the topology YAML file")
    p.add_argument("node", help="a router of the lab")
    p.add_argument("-o", "--output", required=True, metavar="DIR")
    p.set_defaults(func=cmd_render)
    p = ns.add_parser("run", help="run a node from its bundle in this network namespace")
    p.add_argument("dir", help="the bundle (node.json, router.click, bird.conf)")
    p.add_argument("--run-dir", help="where to write the control socket, BIRD's files and "
                                     "'ready' (default $VFORWARD_RUN_DIR or /run/vforward/node)")
    p.add_argument("--control", help="the control socket path (default RUN_DIR/control.sock)")
    p.add_argument("--metrics", metavar="HOST:PORT",
                   help="Prometheus metrics address, or 'off' (default $VFORWARD_METRICS or "
                        "0.0.0.0:9100)")
    p.add_argument("--peer-suffix", help="appended to peer names before they are resolved "
                                         "(default $VFORWARD_PEER_SUFFIX or none)")
    p.set_defaults(func=cmd_run)
    p = ns.add_parser("relay", help="join stdin and stdout to the node's control socket "
                                    "(what lab commands exec in a pod)")
    p.add_argument("--control", help="the control socket (default $VFORWARD_RUN_DIR/control.sock "
                                     "or /run/vforward/node/control.sock)")
    p.set_defaults(func=cmd_relay)
