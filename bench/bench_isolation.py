"""What `resources:` buys: a quiet lab's ping RTT and TCP rate next to a flooded lab.

Three labs of the same shape (h1 - r1 - r2 - h2, static routes) run at once:

  quiet     the lab measured: ping h1 -> h2 (RTT) and iperf3 TCP h1 -> h2
  free      a noisy neighbour without limits
  limited   the same neighbour with `resources: {cpu: CPU}` for the whole lab

Each round measures the quiet lab three ways, in turn: with no flood, with
the free lab flooded, with the limited lab flooded (a UDP flood of small
packets h1 -> h2 by iperf3, one per round, started a second before the
measurement; in the limited lab the flood's iperf3 processes run in the
lab's cgroup, as `vforward topo exec` puts them).  Rounds are interleaved so that the machine's other work
weighs on the three alike; the table gives medians and the ratio to no flood.

    python bench/bench_isolation.py [--rounds 3] [--seconds 3] [--cpu 0.5]

Needs root, iperf3, ping, and cgroups (v2 or v1) with cpu and memory.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from vforward import netns as ns
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.isolation import join
from vforward.topo.render import netns_name
from vforward.topo.state import load_state
from vforward.topo.validate import reach

LAB = """\
name: {name}
{defaults}topology:
  nodes:
    r1: {{}}
    r2: {{}}
    h1: {{kind: host}}
    h2: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["h1:eth1", "r1:eth2"]
    - endpoints: ["h2:eth1", "r2:eth2"]
"""


def _h2(lab) -> str:
    return str(lab.nodes["h2"].interfaces["eth1"].address.ip)


def _ping_rtt_ms(lab, seconds: float) -> float:
    """The median RTT of pings every 50 ms (a median: the busy machine's outliers aside)."""
    count = max(5, int(seconds / 0.05))
    p = subprocess.run(["ip", "netns", "exec", netns_name(lab, "h1"), "ping", "-n", "-c",
                        str(count), "-i", "0.05", "-W", "1", _h2(lab)], capture_output=True,
                       text=True, timeout=seconds + 30)
    rtts = [float(t) for t in re.findall(r"time=([\d.]+) ms", p.stdout)]
    return statistics.median(rtts) if rtts else float("nan")


def _iperf(lab, args: list[str], seconds: float):
    """Start iperf3 h1 -> h2 (server first), in the lab's cgroup if it has one; the
    client process and the server."""
    record = (load_state(lab.name).cgroups or {})

    def into_lab():
        join(record, "h1", os.getpid())
    server = ns.popen(netns_name(lab, "h2"), "iperf3", "-s", "-1", "-B", _h2(lab),
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=into_lab)
    time.sleep(0.3)
    client = ns.popen(netns_name(lab, "h1"), "iperf3", "-c", _h2(lab), "-J", "-t",
                      f"{seconds:g}", *args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                      text=True, preexec_fn=into_lab)
    return client, server


def _tcp_mbps(lab, seconds: float) -> float:
    client, server = _iperf(lab, [], seconds)
    out, _ = client.communicate(timeout=seconds + 30)
    server.wait(10)
    try:
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6
    except (ValueError, KeyError):
        return float("nan")


def measure(quiet, noisy, seconds: float) -> tuple[float, float]:
    """(ping RTT ms, TCP Mbit/s) of the quiet lab while `noisy` (or nothing) is flooded."""
    flood = None
    if noisy is not None:
        flood = _iperf(noisy, ["-u", "-b", "0", "-l", "64"], 2 * seconds + 4)
        time.sleep(1.0)
    try:
        rtt = _ping_rtt_ms(quiet, seconds)
        rate = _tcp_mbps(quiet, seconds)
    finally:
        if flood is not None:
            for p in flood:
                p.kill()
                p.wait()
    return rtt, rate


def run(rounds: int, seconds: float, cpu: float, log=print) -> dict:
    tag = uuid.uuid4().hex[:5]
    tmp = tempfile.mkdtemp(prefix="vfiso")
    limits = f"resources: {{cpu: {cpu:g}}}\n"
    specs = {"quiet": "", "free": "", "limited": limits}
    labs = {}
    try:
        for role, defaults in specs.items():
            path = f"{tmp}/{role}.yaml"
            with open(path, "w") as f:
                f.write(LAB.format(name=f"iso{role[0]}{tag}", defaults=defaults))
            deploy(path, log=lambda *a: None)
            labs[role] = prepare(path)
            if not reach(labs[role], "h1", _h2(labs[role]), within=20)[0]:
                raise RuntimeError(f"lab {role} does not forward")
        results = {k: {"rtt_ms": [], "tcp_mbps": []} for k in ("no flood", "free", "limited")}
        for r in range(rounds):
            for case, noisy in (("no flood", None), ("free", labs["free"]),
                                ("limited", labs["limited"])):
                rtt, rate = measure(labs["quiet"], noisy, seconds)
                results[case]["rtt_ms"].append(rtt)
                results[case]["tcp_mbps"].append(rate)
                log(f"round {r + 1} {case:<9} rtt {rtt:7.3f} ms  tcp {rate:8.1f} Mbit/s")
        return results
    finally:
        for lab in labs.values():
            if load_state(lab.name) is not None:
                destroy(lab.name)


def print_table(results: dict, cpu: float, log=print) -> None:
    base = {k: statistics.median(v) for k, v in results["no flood"].items()}
    log(f"\nquiet lab next to a flooded lab (medians; limited = cpu {cpu:g} for the lab)")
    log(f"{'neighbour flooded':<20}{'ping RTT ms':>12}{'x no flood':>11}{'TCP Mbit/s':>12}"
        f"{'x no flood':>11}")
    for case, v in results.items():
        rtt, rate = statistics.median(v["rtt_ms"]), statistics.median(v["tcp_mbps"])
        log(f"{case:<20}{rtt:>12.3f}{rtt / base['rtt_ms']:>11.2f}{rate:>12.1f}"
            f"{rate / base['tcp_mbps']:>11.2f}")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=3.0, help="each measurement (default 3)")
    p.add_argument("--cpu", type=float, default=0.5, help="the limited lab's CPUs (default 0.5)")
    a = p.parse_args()
    results = run(a.rounds, a.seconds, a.cpu)
    print_table(results, a.cpu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
