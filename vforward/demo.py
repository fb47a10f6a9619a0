"""`vforward demo`: the default job.

As root it brings up the bundled lab (a ring of four vforward routers
running OSPF under BIRD, with a host on each side), validates it, cuts a
link on the path and measures how long OSPF takes to route around it, then
runs the same lab on kernel forwarding and prints the two side by side,
and destroys everything.  Without root (or with --pcap) it runs the
offline demo: a bundled config over a bundled capture.
"""
from __future__ import annotations

import os
import sys
import tempfile
from importlib import resources


def data_path(name: str) -> str:
    """Path of a file shipped in vforward/data."""
    return str(resources.files("vforward") / "data" / name)


def run_demo(args=None) -> int:
    if getattr(args, "pcap", False) or os.geteuid() != 0:
        if os.geteuid() != 0:
            print("vforward demo: not root, so no live lab; running the offline demo")
        return run_pcap_demo()
    return run_lab_demo()


def run_lab_demo(log=print) -> int:
    from vforward.bench import lab as labbench
    from vforward.topo import ops
    from vforward.topo.deploy import deploy, destroy, prepare
    from vforward.topo.state import load_state
    from vforward.topo.validate import validate

    path = data_path("demo-lab.yaml")
    lab = prepare(path)
    if load_state(lab.name) is not None:
        destroy(lab.name)
    src, dst, route = labbench.farthest_hosts(lab)
    log(f"vforward demo: lab {lab.name} from {path}")
    log(f"  {len(lab.routers())} vforward routers in a ring running OSPF (BIRD), hosts {src} and {dst}")
    results = {}
    for mode in ("user", "kernel"):
        label = "vforward (user space)" if mode == "user" else "Linux kernel"
        log(f"\n== {label} forwarding")
        deploy(path, mode=mode, log=lambda m: log("  " + m))
        try:
            if mode == "user":
                log(f"  validating ({len(lab.validations)} checks, waiting for OSPF):")
                code = validate(lab, log=lambda m: log("    " + m))
                if code != 0:
                    log(f"  validation failed (the FAIL lines above); to look closer, "
                        f"'vforward topo deploy {path}' and 'vforward topo inspect {lab.name}'")
                    return 1
                log("  frames received/sent by each router interface while validating:")
                for line in traffic_lines(ops.stats(lab.name)):
                    log("    " + line)
            log(f"  measuring {src} -> {dst} across {' '.join(route)}, then cutting "
                f"{route[0]}--{route[1]}")
            got = labbench.measure(lab, src, dst, route, seconds=2)
            results[mode] = got
            log(f"  64-byte UDP {got['udp64_pps']:,.0f} pps, TCP {got['tcp_mbps']:.0f} Mbit/s, "
                f"RTT {got['rtt_ms']:.2f} ms")
            log(f"  link {route[0]}--{route[1]} cut: traffic rerouted by OSPF after "
                f"{got['reroute_s']:.1f} s")
        finally:
            destroy(lab.name)
    log("\n== user space vs kernel, same lab, same traffic")
    labbench.print_table({"medians": results}, log=log)
    log("\nlab destroyed; nothing left behind.  Next: 'vforward topo deploy "
        f"{path}' and explore with 'vforward topo --help'.")
    return 0


def traffic_lines(rows: list[dict]) -> list[str]:
    """One line per router from `topo stats` rows: 'r1: eth1 12/15, eth2 0/3 (2 dropped)'."""
    by_node: dict[str, list[str]] = {}
    for row in rows:
        node, _, iface = row["interface"].partition(":")
        if "error" in row:
            text = f"{iface} unreadable ({row['error']})"
        else:
            text = f"{iface} {row['rx_packets']}/{row['tx_packets']}"
            if row.get("drops"):
                text += f" ({row['drops']} dropped)"
        by_node.setdefault(node, []).append(text)
    return [f"{node}: {', '.join(parts)}" for node, parts in by_node.items()]


def run_pcap_demo() -> int:
    from vforward.catalogue import load_builtin
    from vforward.graph import build_graph
    from vforward.runtime import Router
    load_builtin()
    cfg = data_path("demo.click")
    out_dir = tempfile.mkdtemp(prefix="vforward-demo-")
    out = os.path.join(out_dir, "demo-ip.pcap")
    with open(cfg) as f:
        text = f.read()
    graph = build_graph(text, cfg, {"IN": data_path("sample.pcap"), "OUT": out})
    router = Router(graph)
    print(f"vforward demo: running {cfg}")
    print(f"  over the bundled capture {data_path('sample.pcap')}")
    router.run(duration=30)
    read = lambda e, h: router.element(e).read(h)
    print(f"  frames read:    {read('frames', 'count')} ({read('frames', 'byte_count')} bytes)")
    print(f"  IPv4 frames:    {read('ip', 'count')}")
    print(f"  ARP frames:     {read('arp', 'count')}")
    print(f"  other frames:   {read('other', 'count')}")
    print(f"  wrote IPv4 packets to {out}")
    leaked = router.pool.n_used
    router.close()
    if leaked:
        print(f"  error: {leaked} packet slots were not returned to the pool", file=sys.stderr)
        return 1
    print("  every packet slot returned to the pool")
    return 0
