"""`vforward topo ...`: the lab life cycle on the command line.

Every subcommand takes the lab first: the YAML file, or the name of a
deployed lab.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys


def _lab_for(lab_ref: str):
    """The addressed Lab for a YAML file, or for a deployed lab's recorded YAML."""
    from vforward.topo.deploy import prepare
    from vforward.topo.ops import lab_state
    if lab_ref.endswith((".yaml", ".yml")) or os.path.exists(lab_ref):
        return prepare(lab_ref)
    st = lab_state(lab_ref)
    return prepare(st.topology, st.name)


def cmd_configs(a) -> int:
    from vforward.topo.deploy import assign_underlay
    from vforward.topo.render import configs
    lab = _lab_for(a.lab)
    assign_underlay(lab)
    os.makedirs(a.output, exist_ok=True)
    for name, text in configs(lab).items():
        path = os.path.join(a.output, f"{name}.click")
        with open(path, "w") as f:
            f.write(text)
        print(f"wrote {path}")
    return 0


def cmd_deploy(a) -> int:
    from vforward.cli import fail
    from vforward.topo.deploy import deploy
    if a.cpus is not None and a.cpus < 1:
        return fail(f"--cpus {a.cpus}: give at least 1")
    if a.k8s:
        from vforward.cluster.cli import deploy_k8s_cmd
        return deploy_k8s_cmd(a)
    if a.emulate_hosts:
        from vforward.node.emulate import deploy_emulated
        st = deploy_emulated(a.lab)
    else:
        st = deploy(a.lab, nodes_per_worker=a.nodes_per_process, mode=a.mode, name=a.name,
                    cpus=a.cpus, poll_budget=a.poll_budget)
    print(f"state: {st.directory}")
    return 0


def cmd_destroy(a) -> int:
    from vforward.topo.deploy import destroy
    from vforward.cluster.kubeapi import destroy_k8s_ref
    if (removed := destroy_k8s_ref(a.lab)) is not None:
        print(f"destroyed: {', '.join(removed)}")
        return 0
    removed = destroy(a.lab)
    print(f"destroyed: {len(removed)} items removed")
    return 0


def cmd_exec(a) -> int:
    from vforward.topo.ops import exec_in
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    from vforward.cluster.kubeapi import exec_k8s_ref
    if (code := exec_k8s_ref(a.lab, a.node, cmd)) is not None:
        return code   # a lab on Kubernetes: exec in the node's pod through the API
    return exec_in(a.lab, a.node, cmd)


def cmd_link(a) -> int:
    from vforward.topo.ops import set_link
    ends = set_link(a.lab, a.interface, a.state)
    print(f"link {' -- '.join(ends)} {a.state}")
    return 0


def cmd_impair(a) -> int:
    from vforward.topo.ops import impair
    now = impair(a.lab, a.interface, reset=a.reset, delay=a.delay, jitter=a.jitter,
                 loss=a.loss, rate=a.rate, queue=a.queue)
    print(f"{a.interface} egress: " + ", ".join(f"{k} {v}" for k, v in now.items()))
    return 0


def cmd_stats(a) -> int:
    from vforward.topo.monitor import PROBE_HEADER, probe_columns
    from vforward.topo.ops import stats
    rows = stats(a.lab)
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'interface':<14}{'peer':<14}{'rx pkts':>10}{'tx pkts':>10}{'rx Mbit/s':>11}"
          f"{'tx Mbit/s':>11}{'drops':>8}{PROBE_HEADER}  state")
    for r in rows:
        if "error" in r:
            print(f"{r['interface']:<14}{r['peer']:<14}  error: {r['error']}")
            continue
        print(f"{r['interface']:<14}{r['peer']:<14}{r['rx_packets']:>10}{r['tx_packets']:>10}"
              f"{r['rx_rate_bps'] / 1e6:>11.2f}{r['tx_rate_bps'] / 1e6:>11.2f}{r['drops']:>8}"
              f"{probe_columns(r)}  {'up' if r['up'] else 'DOWN'}")
    return 0


def cmd_capture(a) -> int:
    from vforward.topo.ops import capture
    capture(a.lab, a.interface, a.write, duration=a.duration, count=a.count)
    print(f"wrote {a.write}")
    return 0


def cmd_inspect(a) -> int:
    from vforward.topo.ops import inspect
    info = inspect(a.lab)
    if a.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"lab {info['name']} ({info['mode']} mode) from {info['topology']}")
    if info.get("cluster"):
        c = info["cluster"]
        print(f"  on Kubernetes: namespace {c['namespace']}"
              f"{', context ' + c['context'] if c['context'] else ''}")
    if info.get("resources"):
        print(f"  resources of the lab: {_use(info['resources'])}")
    for n in info["nodes"]:
        state = {True: "running", False: "DOWN", None: "-"}[n["running"]]
        if n.get("restarts"):
            state += f" (restarted {n['restarts']}x, last in {n['last_restart_s']}s)"
        if n.get("down"):
            state += f": {n['down']}"
        print(f"  {n['node']:<10} {n['kind']:<7} netns {n['netns']:<24} pid {n['pid'] or '-'} {state}")
        if n.get("resources"):
            print(f"      resources: {_use(n['resources'])}")
        for i in n["interfaces"]:
            print(f"      {i['name']:<8} {i['address']:<20} {i['mac']}  -> {i['peer']} ({i['link']})"
                  + (f"\n      {'':<8} {i['address6']}" if i.get("address6") else ""))
    for d in info.get("daemons", []):   # BIRD, and an ingress node's OpenVPN server
        print(f"  {d['what']:<8} of {d['node']:<10} pid {d['pid']} "
              f"{'running' if d['alive'] else 'DOWN'}")
    return 0


def _use(r: dict) -> str:
    """'cpu 0.12 of 0.50 (throttled 3.1s), memory 41.2 of 256.0 MB' for `topo inspect`."""
    cpu = f"{r['cpu_limit']:.2f}" if r["cpu_limit"] is not None else "no limit"
    mem = f"{r['memory_limit'] / 2**20:.1f} MB" if r["memory_limit"] is not None else "no limit"
    return (f"cpu {r['cpu_used']:.2f} of {cpu} (throttled {r['throttled_s']:.1f}s), "
            f"memory {r['memory_bytes'] / 2**20:.1f} MB of {mem}")


def cmd_graph(a) -> int:
    from vforward.topo.picture import topology_dot
    lab = _lab_for(a.lab)
    dot = topology_dot(lab)
    if not a.output or a.output.endswith(".dot"):
        if a.output:
            with open(a.output, "w") as f:
                f.write(dot)
        else:
            sys.stdout.write(dot)
        return 0
    if shutil.which("dot") is None:
        print("vforward: error: Graphviz 'dot' is not installed (install graphviz)", file=sys.stderr)
        return 1
    fmt = os.path.splitext(a.output)[1].lstrip(".")
    subprocess.run(["dot", f"-T{fmt}", "-o", a.output], input=dot.encode(), check=True)
    print(f"wrote {a.output}")
    return 0


def cmd_validate(a) -> int:
    from vforward.topo.validate import validate
    return validate(_lab_for(a.lab))


def cmd_worker(a) -> int:
    from vforward.topo.worker import run_worker
    return run_worker(a.lab_dir, a.nodes)


def cmd_workers(a) -> int:
    from vforward.topo.worker import fork_workers
    for pid in fork_workers(a.lab_dir, [g.split(",") for g in a.groups]):
        print(pid)
    return 0


def cmd_restart(a) -> int:
    from vforward.topo.ops import restart_node
    print(f"{a.node} restarted: {restart_node(a.lab, a.node, timeout=a.timeout)}")
    return 0


def add_parser(sub) -> None:
    t = sub.add_parser("topo", help="virtual network labs: deploy, operate, destroy")
    ts = t.add_subparsers(dest="topo_command", metavar="SUBCOMMAND")
    ts.required = True

    def lab_cmd(name, func, help_):
        p = ts.add_parser(name, help=help_)
        p.add_argument("lab", help="the topology YAML file, or a deployed lab's name")
        p.set_defaults(func=func)
        return p

    p = lab_cmd("configs", cmd_configs, "write every node's vforward config")
    p.add_argument("-o", "--output", default="configs", help="folder (default ./configs)")
    p = lab_cmd("deploy", cmd_deploy, "bring the lab up")
    p.add_argument("--nodes-per-process", type=int, default=25,
                   help="routers hosted by one process (default 25)")
    p.add_argument("--mode", choices=["user", "kernel"], default="user",
                   help="user: vforward forwards (default); kernel: Linux forwards over veth")
    p.add_argument("--emulate-hosts", action="store_true",
                   help="every host of 'hosts:' a namespace on an underlay bridge, every router "
                        "run by 'vforward node run' in a namespace of its own, as a pod")
    from vforward.cluster.cli import add_deploy_options
    add_deploy_options(p)   # --k8s, --context, --image, --namespace
    p.add_argument("--name", help="deploy under this lab name instead of the file's (a second "
                                  "slice of the same lab)")
    p.add_argument("--cpus", type=int, default=None,
                   help="how many processes a lab of --nodes-per-process routers or fewer is "
                        "spread over (default: the CPUs this process may use; 1 keeps it in one)")
    p.add_argument("--poll-budget", default="0", metavar="TIME|PCT",
                   help="each router process spins up to TIME after device work before it "
                        "sleeps, within a CPU share PCT (e.g. 200us,10%%; see 'vforward run "
                        "--poll-budget'); default 0, never spins")
    lab_cmd("destroy", cmd_destroy, "tear the lab down, leaving nothing behind")
    p = lab_cmd("exec", cmd_exec, "run a command in a node's namespace")
    p.add_argument("node")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- COMMAND ...")
    p = lab_cmd("link", cmd_link, "take a link down or up (both directions)")
    p.add_argument("interface", help="node:interface at either end")
    p.add_argument("state", choices=["up", "down"])
    p = lab_cmd("impair", cmd_impair, "set an interface's egress conditions")
    p.add_argument("interface", help="node:interface")
    p.add_argument("--delay")
    p.add_argument("--jitter")
    p.add_argument("--loss", help="e.g. 1%% or 0.01")
    p.add_argument("--rate", help="e.g. 10mbit")
    p.add_argument("--queue", type=int)
    p.add_argument("--reset", action="store_true", help="remove every condition")
    p = lab_cmd("stats", cmd_stats, "per-interface packets, bytes, rates and drops")
    p.add_argument("--json", action="store_true")
    p = lab_cmd("capture", cmd_capture, "write an interface's traffic to a pcap file")
    p.add_argument("interface")
    p.add_argument("-w", "--write", required=True, metavar="FILE.pcap")
    p.add_argument("--duration", type=float, help="seconds (default: until Ctrl-C)")
    p.add_argument("-c", "--count", type=int, help="stop after this many packets")
    p = lab_cmd("inspect", cmd_inspect, "nodes, interfaces, addresses, processes")
    p.add_argument("--json", action="store_true")
    p = lab_cmd("graph", cmd_graph, "draw the topology (DOT, SVG, PNG)")
    p.add_argument("-o", "--output")
    p = lab_cmd("restart", cmd_restart, "restart a node's router (and those sharing its process)")
    p.add_argument("node")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for its control socket (default 30)")
    lab_cmd("validate", cmd_validate, "run the lab's validate: checks (exit 0 pass, 1 fail, 2 none)")
    from vforward.cluster.cli import add_parsers as add_cluster_parsers
    add_cluster_parsers(ts)   # place, manifests
    from vforward.topo.listing import add_parser as add_list_parser
    add_list_parser(ts)       # list: every deployed lab
    from vforward.topo.ingress.cli import add_parser as add_ingress_parser
    add_ingress_parser(ts)    # ingress LAB client | list | revoke
    from vforward.topo.monitor import add_monitor_parsers
    add_monitor_parsers(ts)   # metrics (Prometheus exporter) and top (live link table)
    from vforward.experiment.cli import add_parsers as add_experiment_parsers
    add_experiment_parsers(ts)   # run (scenarios), route, flow, sense
    w = ts.add_parser("worker", help="(internal) host lab routers; deploy starts it")
    w.add_argument("lab_dir")
    w.add_argument("nodes", nargs="+")
    w.set_defaults(func=cmd_worker)
    w = ts.add_parser("workers", help="(internal) fork one lab worker per group; deploy starts it")
    w.add_argument("lab_dir")
    w.add_argument("groups", nargs="+", metavar="NODE,NODE...")
    w.set_defaults(func=cmd_workers)
    w = ts.add_parser("supervise", help="(internal) restart a lab's routers; deploy starts it")
    w.add_argument("lab_dir")
    w.add_argument("policy", choices=["always", "on-failure", "never"])
    w.set_defaults(func=lambda a: __import__("vforward.topo.supervise", fromlist=["x"])
                   .run_supervisor(a.lab_dir, a.policy))
