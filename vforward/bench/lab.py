"""`vforward bench lab LAB.yaml`: one lab, user mode against kernel mode.

The lab is deployed in each mode in turn (interleaved over --repeat rounds)
and the same traffic crosses it between the two hosts farthest apart:

  * small-packet rate: iperf3 UDP with 18-byte payloads (64-byte frames),
    unlimited, received packets per second at the far host;
  * TCP throughput: iperf3 TCP, received Mbit/s;
  * RTT: the median of idle pings across the path;
  * reroute time (labs with routing: ospf): a link on the path is cut and
    the time until the far host answers again is measured;
  * on a dual-stack lab (`ipv6: true`), the small-packet rate and the TCP
    throughput again over IPv6, to the far host's IPv6 address (the same
    18-byte payloads make 82-byte IPv6 frames: the IPv6 header is 20 bytes
    longer).

The same generator drives both modes, so where it is the bottleneck both
are held to its rate; the table says so when the kernel hits that ceiling.
Medians are printed with the ratio user/kernel; --json and --png write them.

--modes adds `one-process`: user mode with every router of the (small) lab
in one process, as labs were placed before they were spread over the CPUs,
so that the two placements are compared in the same run, and `spin`: user
mode whose router processes spin after device work within --poll-budget
(deploy --poll-budget; vforward/busypoll.py).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import time

from vforward import netns
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.model import Lab
from vforward.topo.render import netns_name
from vforward.topo.routes import static_routes
from vforward.topo import ops, validate

METRICS = [("udp64_pps", "64-byte UDP", "pps", True), ("tcp_mbps", "TCP", "Mbit/s", True),
           ("rtt_ms", "RTT", "ms", False), ("reroute_s", "reroute after a cut", "s", False),
           ("udp6_pps", "small UDP, IPv6", "pps", True), ("tcp6_mbps", "TCP, IPv6", "Mbit/s", True)]


class LabBenchError(RuntimeError):
    pass


def farthest_hosts(lab: Lab) -> tuple[str, str, list[str]]:
    """The two hosts with the most routers between them, and that router path."""
    hosts = [n for n in lab.nodes.values() if not n.is_router]
    if len(hosts) < 2:
        raise LabBenchError(f"lab {lab.name} needs two hosts to carry the traffic")
    table = static_routes(lab)
    owners = validate.address_owners(lab)
    best = None
    for i, a in enumerate(hosts):
        for b in hosts[i + 1:]:
            path = _static_path(lab, table, owners, a.name, b.name)
            if best is None or len(path) > len(best[2]):
                best = (a.name, b.name, path)
    return best


def _static_path(lab, table, owners, src, dst) -> list[str]:
    """Routers from src's gateway to dst by the static tables."""
    s_if = next(iter(lab.nodes[src].interfaces.values()))
    d_if = next(iter(lab.nodes[dst].interfaces.values()))
    node = s_if.link.other(s_if).node
    path = []
    for _ in range(64):
        path.append(node)
        route = next((r for r in table[node] if d_if.address.ip in r.prefix and r.gateway is None), None)
        if route is not None:
            return path
        route = max((r for r in table[node] if d_if.address.ip in r.prefix), key=lambda r: r.prefix.prefixlen)
        node = owners[str(route.gateway)]
    return path


def _iperf(lab: Lab, src: str, dst: str, dst_ip: str, args: list[str], seconds: float) -> dict:
    server = netns.popen(netns_name(lab, dst), "iperf3", "-s", "-1", stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        p = netns.run(netns_name(lab, src), "iperf3", "-c", dst_ip, "-t", str(seconds), "-J", *args,
                      check=False, timeout=seconds + 20)
        data = json.loads(p.stdout or "{}")
        if "error" in data:
            raise LabBenchError(f"iperf3 {' '.join(args)}: {data['error']}")
        return data
    finally:
        server.kill()
        server.wait()


def measure(lab: Lab, src: str, dst: str, path: list[str], seconds: float) -> dict:
    dst_ip = str(next(iter(lab.nodes[dst].interfaces.values())).address.ip)
    ok, _ = validate.reach(lab, src, dst_ip, within=30)
    if not ok:
        raise LabBenchError(f"{src} cannot reach {dst} in lab {lab.name}")
    out = {}
    udp = _iperf(lab, src, dst, dst_ip, ["-u", "-l", "18", "-b", "0"], seconds)
    s = udp["end"]["sum"]
    out["udp64_pps"] = (s["packets"] - s["lost_packets"]) / s["seconds"]
    tcp = _iperf(lab, src, dst, dst_ip, [], seconds)
    out["tcp_mbps"] = tcp["end"]["sum_received"]["bits_per_second"] / 1e6
    out.update(_measure6(lab, src, dst, seconds))
    p = netns.run(netns_name(lab, src), "ping", "-n", "-c", "20", "-i", "0.05", dst_ip,
                  check=False)
    out["rtt_ms"] = _median([float(t) for t in re.findall(r"time=([\d.]+) ms", p.stdout)])
    out["reroute_s"] = _reroute(lab, src, dst_ip, path)
    return out


def _measure6(lab: Lab, src: str, dst: str, seconds: float) -> dict:
    """The IPv6 rows, when the far host has an IPv6 address."""
    dst6 = next(iter(lab.nodes[dst].interfaces.values())).address6
    if dst6 is None:
        return {}
    ok, _ = validate.reach(lab, src, str(dst6.ip), within=30)
    if not ok:
        raise LabBenchError(f"{src} cannot reach {dst} over IPv6 in lab {lab.name}")
    udp = _iperf(lab, src, dst, str(dst6.ip), ["-u", "-l", "18", "-b", "0"], seconds)
    s = udp["end"]["sum"]
    tcp = _iperf(lab, src, dst, str(dst6.ip), [], seconds)
    return {"udp6_pps": (s["packets"] - s["lost_packets"]) / s["seconds"],
            "tcp6_mbps": tcp["end"]["sum_received"]["bits_per_second"] / 1e6}


def _reroute(lab: Lab, src: str, dst_ip: str, path: list[str]) -> float:
    """Cut the first router-router link on the path; seconds until dst answers again."""
    if lab.routing != "ospf" or len(path) < 2:
        return float("nan")
    a, b = path[0], path[1]
    link = next(l for l in lab.links if {l.a.node, l.b.node} == {a, b})
    ops.set_link(lab.name, link.a.ref, "down")
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            _, got, _ = validate.ping(lab, src, dst_ip, count=1, timeout=0.2)
            if got:
                return time.monotonic() - t0
        return float("inf")
    finally:
        ops.set_link(lab.name, link.a.ref, "up")


def run(path: str, repeat: int = 3, seconds: float = 3.0, modes=("user", "kernel"), log=print,
        poll_budget: str = "200us,10%") -> dict:
    # Under a name of its own, so that a bench never meets a lab of the same
    # file that someone deployed, nor another bench run at the same time.
    name = f"{prepare(path).name[:5]}-b{secrets.token_hex(2)}"
    lab = prepare(path, name)
    src, dst, route = farthest_hosts(lab)
    log(f"lab {lab.name}: traffic {src} -> {dst} across {' '.join(route)}; "
        f"{repeat} rounds of {seconds:g}s per measurement")
    samples = {m: {k: [] for k, *_ in METRICS} for m in modes}
    for r in range(repeat):
        for mode in modes:
            if mode == "one-process":
                deploy(path, mode="user", cpus=1, log=lambda *a: None, name=name)
            elif mode == "spin":
                deploy(path, mode="user", poll_budget=poll_budget, log=lambda *a: None,
                       name=name)
            else:
                deploy(path, mode=mode, log=lambda *a: None, name=name)
            try:
                got = measure(lab, src, dst, route, seconds)
            finally:
                destroy(lab.name)
            for k, v in got.items():
                samples[mode][k].append(v)
            log(f"  round {r + 1} {mode:<6} " + "  ".join(f"{k}={v:.4g}" for k, v in got.items()))
    med = {m: {k: _median(v) for k, v in s.items()} for m, s in samples.items()}
    return {"lab": lab.name, "src": src, "dst": dst, "path": route, "medians": med, "samples": samples}


def _median(values):
    finite = [v for v in values if v == v]
    return statistics.median(finite) if finite else float("nan")


def print_table(result: dict, log=print) -> None:
    """A column per mode, then each user-space mode's ratio to the kernel's."""
    med = result["medians"]
    modes = [m for m in med if m != "kernel"] + (["kernel"] if "kernel" in med else [])
    others = [m for m in modes if m != "kernel"] if "kernel" in med else []
    width = {m: max(12, len(m) + 2) for m in modes}
    log(f"\n{'measure':<22}" + "".join(f"{m:>{width[m]}}" for m in modes)
        + "".join(f"{m + '/kernel':>{max(13, len(m) + 9)}}" for m in others))
    for key, label, unit, _higher_better in METRICS:
        values = [med[m].get(key) for m in modes]
        if any(v is None for v in values) or all(v != v for v in values):
            continue
        k = med.get("kernel", {}).get(key)
        line = f"{label + ' (' + unit + ')':<22}" + "".join(f"{v:>{width[m]}.4g}"
                                                         for m, v in zip(modes, values))
        for m in others:
            u = med[m][key]
            ratio = u / k if k and k == k and u == u else float("nan")
            line += f"{ratio:>{max(12, len(m) + 8)}.2f}x"
        log(line)


def write_png(result: dict, path: str) -> None:
    """A bar chart of user/kernel ratios (needs matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise LabBenchError("--png needs matplotlib (pip install 'vforward[bench]')") from None
    med = result["medians"]
    labels, ratios = [], []
    for key, label, unit, _ in METRICS:
        u, k = med.get("user", {}).get(key), med.get("kernel", {}).get(key)
        if u is None or k is None:
            continue
        if u == u and k == k and k:
            labels.append(f"{label}\n({unit})")
            ratios.append(u / k)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(labels, ratios, color="#3d85c6")
    ax.axhline(1.0, color="#444", lw=1, ls="--")
    ax.set_ylabel("vforward / kernel")
    ax.set_title(f"lab {result['lab']}: user mode vs kernel mode (medians)")
    for i, r in enumerate(ratios):
        ax.text(i, r, f"{r:.2f}x", ha="center", va="bottom")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("lab", help="topology YAML file")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--modes", default="user,kernel",
                   help="comma-separated, in the order run each round: user, kernel, one-process "
                        "(user mode, the whole lab in one process), spin (user mode with "
                        "--poll-budget); default user,kernel")
    p.add_argument("--poll-budget", default="200us,10%", metavar="TIME|PCT",
                   help="the spin mode's deploy --poll-budget (default 200us,10%%)")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--png", help="write a bar chart here (needs matplotlib)")


def main(a) -> int:
    if not os.path.exists(a.lab):
        raise LabBenchError(f"topology file {a.lab} does not exist")
    modes = tuple(m.strip() for m in a.modes.split(",") if m.strip())
    unknown = [m for m in modes if m not in ("user", "kernel", "one-process", "spin")]
    if unknown or not modes:
        raise LabBenchError(f"--modes {a.modes}: modes are user, kernel, one-process and spin")
    result = run(a.lab, repeat=a.repeat, seconds=a.seconds, modes=modes, poll_budget=a.poll_budget)
    print_table(result)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2, default=str)
    if a.png:
        write_png(result, a.png)
        print(f"wrote {a.png}")
    return 0
