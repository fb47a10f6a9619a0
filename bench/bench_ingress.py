"""What entering a lab over OpenVPN costs: the ingress path against the same
routers from inside the lab, measured side by side in one run.

A lab r1 -- r2 with host h1 at r2 and host h2 at r1; r1 has `ingress:`.
An "outside" namespace joins the machine only by a veth into the root
namespace (198.51.100.0/24) and runs the real `openvpn` client with a
profile from `vforward topo ingress LAB client`.  Paths, in turn each round:

  lab       h2 -> r1 -> r2 -> h1: the lab's own path (TAPs, two vforward routers)
  ingress   outside -> OpenVPN (root namespace) -> r1's kernel -> r1 -> r2 -> h1
  vpn-only  outside -> OpenVPN -> r1's kernel (the pool's first address): the
            OpenVPN leg alone, no vforward router on the way

For each: ping RTT (p50 over --count echoes) and iperf3 TCP (Mbit/s over
--seconds); medians over --rounds, and the ratio to `lab`.

    python bench/bench_ingress.py [--rounds 3] [--count 20] [--seconds 2]

Needs root, openvpn, iperf3, ping.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from vforward import netns
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.render import netns_name
from vforward.topo.state import load_state

LAB = """\
name: {name}
topology:
  nodes:
    r1:
      ingress: {{listen: {listen}, port: {port}}}
    r2: {{}}
    h1: {{kind: host}}
    h2: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "h1:eth1"]
    - endpoints: ["r1:eth2", "h2:eth1"]
"""


def ping_p50(ns: str, dst: str, count: int) -> float:
    p = netns.run(ns, "ping", "-n", "-c", str(count), "-i", "0.05", "-W", "2", dst,
                  check=False, timeout=count + 30)
    rtts = [float(w.split("=")[1]) for w in p.stdout.split() if w.startswith("time=")]
    return statistics.median(rtts) if rtts else float("nan")


def tcp_mbps(client_ns: str, server_ns: str, dst: str, seconds: float) -> float:
    server = netns.popen(server_ns, "iperf3", "-s", "-1", "-B", dst, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        p = netns.run(client_ns, "iperf3", "-c", dst, "-t", str(seconds), "-J",
                      check=False, timeout=seconds + 30)
        return json.loads(p.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        server.kill()
        server.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=20, help="echo requests per path and round")
    ap.add_argument("--seconds", type=float, default=2.0, help="iperf3 time per path and round")
    a = ap.parse_args()

    tag = uuid.uuid4().hex[:6]
    out_ns, root_dev = f"vfigb-{tag}", f"vfigb{tag}"
    base = random.randrange(0, 64) * 4
    root_addr, out_addr = f"198.51.100.{base + 1}", f"198.51.100.{base + 2}"
    name = "igb" + tag[:5]
    work = tempfile.mkdtemp(prefix="vforward-ingress-bench-")
    client = None
    netns.create(out_ns)
    try:
        netns.ip("link", "add", root_dev, "type", "veth", "peer", "name", "eth0", "netns", out_ns)
        netns.ip("link", "set", root_dev, "up")
        netns.ip("address", "add", f"{root_addr}/30", "dev", root_dev)
        netns.ip("link", "set", "eth0", "up", netns=out_ns)
        netns.ip("address", "add", f"{out_addr}/30", "dev", "eth0", netns=out_ns)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((root_addr, 0))
            port = s.getsockname()[1]
        path = os.path.join(work, "lab.yaml")
        with open(path, "w") as f:
            f.write(LAB.format(name=name, listen=root_addr, port=port))
        deploy(path, log=lambda *x: None)
        lab = prepare(path)
        profile = os.path.join(work, "bench.ovpn")
        subprocess.run([sys.executable, "-m", "vforward", "topo", "ingress", name, "client",
                        "bench", "-o", profile], check=True, capture_output=True)
        log = os.path.join(work, "client.log")
        with open(log, "wb") as f:
            client = netns.popen(out_ns, "openvpn", "--config", profile,
                                 stdout=f, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while "Initialization Sequence Completed" not in open(log, errors="replace").read():
            if time.monotonic() > deadline or client.poll() is not None:
                raise SystemExit(f"the OpenVPN client did not connect; see {log}")
            time.sleep(0.1)
        h1 = str(lab.nodes["h1"].interfaces["eth1"].address.ip)
        h1_ns, h2_ns = netns_name(lab, "h1"), netns_name(lab, "h2")
        r1_ns = netns_name(lab, "r1")
        paths = {"lab": (h2_ns, h1_ns, h1), "ingress": (out_ns, h1_ns, h1),
                 "vpn-only": (out_ns, r1_ns, "10.8.0.1")}
        rtt = {p: [] for p in paths}
        tcp = {p: [] for p in paths}
        for rnd in range(a.rounds):
            order = list(paths)[rnd % 3:] + list(paths)[:rnd % 3]    # rotated each round
            for p in order:
                src, srv, dst = paths[p]
                rtt[p].append(ping_p50(src, dst, a.count))
                tcp[p].append(tcp_mbps(src, srv, dst, a.seconds))
            print(f"round {rnd + 1}: " + ", ".join(
                f"{p} {rtt[p][-1]:.3f} ms {tcp[p][-1]:.0f} Mbit/s" for p in paths), flush=True)
        print(f"\nmedians over {a.rounds} rounds ({a.count} pings, {a.seconds:g} s iperf3 TCP each):")
        print(f"{'path':<10} {'RTT p50 ms':>11} {'x lab':>7} {'TCP Mbit/s':>11} {'x lab':>7}")
        lab_rtt, lab_tcp = statistics.median(rtt["lab"]), statistics.median(tcp["lab"])
        for p in paths:
            r, t = statistics.median(rtt[p]), statistics.median(tcp[p])
            print(f"{p:<10} {r:>11.3f} {r / lab_rtt:>7.2f} {t:>11.0f} {t / lab_tcp:>7.2f}")
    finally:
        if client is not None and client.poll() is None:
            client.terminate()
            client.wait()
        if load_state(name) is not None:
            destroy(name)
        netns.delete(out_ns)
        netns.ip("link", "del", root_dev, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
