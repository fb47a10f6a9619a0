"""End-to-end sensing against iperf3, on an idle and on a rate-limited path.

Deploys configs/labs/ospf4.yaml under a unique name and compares, between
r1 and r3 (not neighbours: r1-r2-r3), the packet-train dispersion estimate
of `vforward topo sense` with an iperf3 TCP run, interleaved (train, iperf3,
train, iperf3, ...) so that the machine's load falls on both alike, first on
the idle path and then with r1's egress toward r2 limited by its
LinkEmulator.  Prints the medians and their ratio; also the sensed RTT
against ping's.  The lab is destroyed in a finally block.

    python bench/bench_sense.py [--rounds 5] [--rate 20mbit] [--seconds 2]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time
import uuid

from vforward.experiment.sensing import PathProbe
from vforward.topo import ops
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.state import load_state
from vforward.topo.validate import ping, reach

HERE = os.path.dirname(os.path.abspath(__file__))


def iperf_mbps(st, src, dst, addr, seconds):
    port = str(20000 + uuid.uuid4().int % 10000)
    server = subprocess.Popen(["ip", "netns", "exec", st.namespaces[dst], "iperf3", "-s", "-1",
                               "-B", addr, "-p", port, "-J"], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.3)
        c = subprocess.run(["ip", "netns", "exec", st.namespaces[src], "iperf3", "-c", addr,
                            "-p", port, "-t", str(seconds), "-J"], capture_output=True, text=True,
                           timeout=seconds + 30)
        out, _ = server.communicate(timeout=15)
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        if server.poll() is None:
            server.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--rate", default="20mbit")
    ap.add_argument("--seconds", type=int, default=2)
    a = ap.parse_args()
    name = "bs" + uuid.uuid4().hex[:6]
    text = open(os.path.join(HERE, "..", "configs", "labs", "ospf4.yaml")).read()
    text = text.replace("name: ospf4", f"name: {name}")
    path = os.path.join(tempfile.mkdtemp(), "lab.yaml")
    with open(path, "w") as f:
        f.write(text)
    try:
        deploy(path, log=lambda *x: None)
        lab = prepare(path)
        st = load_state(name)
        r3 = str(lab.nodes["r3"].loopback.ip)
        assert reach(lab, "r1", r3, within=40)[0], "OSPF never converged"
        probe = PathProbe(lab, "r1", "r3", st.namespaces)
        try:
            for label, rate in (("idle", None), (f"rate-limited {a.rate}", a.rate)):
                if rate:
                    ops.impair(name, "r1:eth1", rate=rate)
                trains, tcps, rtts, pings = [], [], [], []
                for _ in range(a.rounds):
                    s = probe.sense(count=10, train=60)
                    trains.append(s.avail_bw_mbps)
                    rtts.append(s.rtt_ms)
                    _, _, out = ping(lab, "r1", r3, count=10, interval=0.05)
                    m = re.search(r"= [\d.]+/([\d.]+)/", out)
                    if m:
                        pings.append(float(m.group(1)))
                    tcps.append(iperf_mbps(st, "r1", "r3", r3, a.seconds))
                t, i = statistics.median(trains), statistics.median(tcps)
                print(f"{label:<24} train {t:8.1f} Mbit/s   iperf3 {i:8.1f} Mbit/s   "
                      f"train/iperf3 {t / i:5.2f}   rtt sensed {statistics.median(rtts):.3f} ms"
                      f" ping {statistics.median(pings):.3f} ms  (medians of {a.rounds})")
        finally:
            probe.close()
    finally:
        if load_state(name) is not None:
            destroy(name)


if __name__ == "__main__":
    main()
