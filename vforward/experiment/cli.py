"""`vforward topo run | route | flow | sense`: experiments on a deployed lab."""
from __future__ import annotations

import json
import sys
import time


def cmd_run(a) -> int:
    from vforward.experiment.runner import run_scenario
    from vforward.experiment.scenario import load_scenario
    path = a.scenario
    if path is None:                # the scenario in the lab's own file
        from vforward.topo.ops import lab_state
        path = lab_state(a.lab).topology
    sc = load_scenario(path)
    result = run_scenario(a.lab, sc, a.out, plot=not a.no_plot)
    failed = [r for r in result.events if not r["ok"]]
    late = max((abs(r["actual_s"] - r["planned_s"]) for r in result.events), default=0.0)
    print(f"wrote {a.out}/events.csv, series.csv, summary.json"
          + ("" if a.no_plot or result.plot_error else ", report.png"))
    print(f"{len(result.events)} events ({len(failed)} failed), latest {late * 1e3:.1f} ms "
          "from its planned time")
    for name, pair in result.summary["pairs"].items():
        if name.startswith("ping"):
            rtt = pair["rtt_ms"]
            longest = max((o["length_s"] for o in pair["outages"]), default=0.0)
            print(f"  {name}: {pair['lost']}/{pair['sent']} lost, longest outage "
                  f"{longest:.2f}s, RTT ms before/during/after "
                  f"{rtt['before']}/{rtt['during']}/{rtt['after']}")
        elif name.startswith("iperf3"):
            m = pair["mbps"]
            print(f"  {name}: Mbit/s before/during/after {m['before']}/{m['during']}/{m['after']}")
    if result.plot_error:
        print(f"vforward: error: {result.plot_error}", file=sys.stderr)
        return 1
    return 0


def cmd_route(a) -> int:
    from vforward.experiment import manualroutes
    if a.action == "show":
        rows = manualroutes.show_routes(a.lab, a.node)
        print(json.dumps(rows, indent=2) if a.json else manualroutes.format_routes(rows))
        return 0
    if not a.prefix:
        print(f"vforward: error: route {a.action} needs a PREFIX", file=sys.stderr)
        return 2
    if a.action == "add":
        if len(a.rest) != 2 or a.rest[0] != "via":
            print("vforward: error: write 'route LAB NODE add PREFIX via NEIGHBOUR|ADDRESS'",
                  file=sys.stderr)
            return 2
        print(f"{a.node}: {manualroutes.add_route(a.lab, a.node, a.prefix, a.rest[1])}")
    else:
        print(f"{a.node}: removed {manualroutes.del_route(a.lab, a.node, a.prefix)}")
    return 0


def cmd_flow(a) -> int:
    from vforward.experiment import flows
    if a.action == "list":
        rows = flows.list_flows(a.lab)
        if a.json:
            print(json.dumps(rows, indent=2))
            return 0
        print(f"{'flow':<12}{'path':<20}{'packets pinned':<24}match")
        for r in rows:
            pinned = ",".join(f"{n}={c if c is not None else '?'}" for n, c in r["packets"].items())
            print(f"{r['name']:<12}{','.join(r['path']):<20}{pinned:<24}{r['match']}")
        return 0
    if not a.name:
        print(f"vforward: error: flow {a.action} needs a NAME", file=sys.stderr)
        return 2
    if a.action == "add":
        if not a.match or not a.path:
            print("vforward: error: flow add needs --match 'PATTERN' and --path r1,r2,...",
                  file=sys.stderr)
            return 2
        for line in flows.add_flow(a.lab, a.name, a.match, [p.strip() for p in a.path.split(",")]):
            print(line)
    else:
        print(f"flow {a.name} removed from {', '.join(flows.del_flow(a.lab, a.name)) or 'no router'}")
    return 0


def cmd_sense(a) -> int:
    from vforward.experiment.sensing import PathProbe, format_table, pairs_of, prometheus
    from vforward.topo.deploy import prepare
    from vforward.topo.ops import lab_state
    st = lab_state(a.lab)
    lab = prepare(st.topology, st.name)
    probes = [PathProbe(lab, x, y, st.namespaces) for x, y in pairs_of(lab, a.pairs, a.all)]
    try:
        while True:
            results = [p.sense(a.count, a.train, a.size) for p in probes]
            if a.json:
                print(json.dumps([r.as_dict() for r in results], indent=2))
            elif a.prometheus:
                sys.stdout.write(prometheus(st.name, results))
            else:
                print(format_table(results))
            sys.stdout.flush()
            if not a.interval:
                return 0
            time.sleep(a.interval)
    except KeyboardInterrupt:
        return 0
    finally:
        for p in probes:
            p.close()


def cmd_reconfigure(a) -> int:
    from vforward.experiment.reconfigure import reconfigure
    print(reconfigure(a.lab, a.node, a.config))
    return 0


def add_parsers(ts) -> None:
    p = ts.add_parser("run", help="run a scenario (timed events, measurements) on a deployed lab")
    p.add_argument("lab", help="the deployed lab's name or its YAML file")
    p.add_argument("scenario", nargs="?",
                   help="the scenario YAML file (default: the lab file's own measure:/events:)")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="folder for events.csv, series.csv, summary.json, report.png")
    p.add_argument("--no-plot", action="store_true", help="skip report.png")
    p.set_defaults(func=cmd_run)

    p = ts.add_parser("route", help="a router's routes by hand: show, add, del")
    p.add_argument("lab")
    p.add_argument("node")
    p.add_argument("action", choices=["show", "add", "del"])
    p.add_argument("prefix", nargs="?")
    p.add_argument("rest", nargs="*", metavar="via NEIGHBOUR|ADDRESS")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_route)

    p = ts.add_parser("flow", help="per-flow paths: add, del, list")
    p.add_argument("lab")
    p.add_argument("action", choices=["add", "del", "list"])
    p.add_argument("name", nargs="?")
    p.add_argument("--match", help="an IPClassifier pattern, e.g. 'udp and dst port 5004'")
    p.add_argument("--path", help="routers in order, e.g. r1,r4,r3")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_flow)

    p = ts.add_parser("reconfigure", help="hot-swap a running router's config (keeps state)")
    p.add_argument("lab")
    p.add_argument("node")
    p.add_argument("config", metavar="NEW.click")
    p.set_defaults(func=cmd_reconfigure)

    p = ts.add_parser("sense", help="end-to-end latency, loss, available bandwidth between nodes")
    p.add_argument("lab")
    p.add_argument("--pairs", help="a:b,c:d")
    p.add_argument("--all", action="store_true", help="every pair of nodes")
    p.add_argument("--interval", type=float, help="repeat every S seconds until Ctrl-C")
    p.add_argument("--count", type=int, default=10, help="latency probes per pair (default 10)")
    p.add_argument("--train", type=int, default=60,
                   help="packets in the bandwidth train (default 60; 0: no train)")
    p.add_argument("--size", type=int, default=1400, help="train packet size in bytes")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true")
    g.add_argument("--prometheus", action="store_true", help="Prometheus text format")
    p.set_defaults(func=cmd_sense)
