"""The cost of a host boundary: the same lab on one machine and across two
emulated hosts, side by side in one run.

    h1 - r1 - r2 - h2

deployed three times:

  one host    an ordinary lab (`vforward topo deploy`): both routers in one
              process, r1--r2 an in-process link
  one host,   the same with `transport: udp` and a process per router: the
  udp link    Ethernet-over-UDP link over loopback, MTU 1500
  two hosts   r1 on host a, r2 on host b (`--emulate-hosts`): each router a
              `vforward node run` in a pod-like namespace, r1--r2 the UDP link
              through both hosts over a 1500-byte underlay bridge, so its lab
              MTU is 1446

For each, in alternating rounds:

  pps    iperf3 UDP with 18-byte payloads (64-byte Ethernet frames with FCS)
         from h1 to h2, sent as fast as iperf3 goes; the rate h2 received
  tcp    iperf3 TCP from h1 to h2, one stream; Mbit/s received

Medians over the rounds; the ratio is two hosts / one host.

    python bench/bench_host_boundary.py [--seconds S] [--rounds N]

Needs root, bird2 is not needed (static routes), iperf3.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from vforward.node.emulate import deploy_emulated
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.render import netns_name
from vforward.topo.state import load_state
from vforward.topo.validate import reach

LAB = """\
name: {name}
{hosts}topology:
  nodes:
    r1: {{{r1}}}
    r2: {{{r2}}}
    h1: {{kind: host{h1}}}
    h2: {{kind: host{h2}}}
  links:
    - endpoints: [r1:eth1, r2:eth1]{transport}
    - endpoints: [h1:eth1, r1:eth2]
    - endpoints: [h2:eth1, r2:eth2]
"""
HOSTS = "hosts:\n  a: {address: 192.0.2.1, mtu: 1500}\n  b: {address: 192.0.2.2, mtu: 1500}\n"


def lab_text(name: str, emulated: bool, udp: bool = False) -> str:
    if emulated:
        return LAB.format(name=name, hosts=HOSTS, r1="host: a", r2="host: b",
                          h1=", host: a", h2=", host: b", transport="")
    return LAB.format(name=name, hosts="", r1="", r2="", h1="", h2="",
                      transport="\n      transport: udp" if udp else "")


def iperf(lab, args: list[str], seconds: float) -> dict:
    dst = str(lab.nodes["h2"].interfaces["eth1"].address.ip)
    server = subprocess.Popen(["ip", "netns", "exec", netns_name(lab, "h2"), "iperf3", "-s",
                               "-1", "-J"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True)
    time.sleep(0.5)
    try:
        subprocess.run(["ip", "netns", "exec", netns_name(lab, "h1"), "iperf3", "-c", dst,
                        "-t", str(seconds), "-J", *args], capture_output=True, text=True,
                       timeout=seconds + 30)
        out, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    return json.loads(out)["end"]


def measure(lab, seconds: float) -> dict:
    udp = iperf(lab, ["-u", "-l", "18", "-b", "0"], seconds)
    tcp = iperf(lab, [], seconds)
    s = udp["sum"]
    return {"pps": (s["packets"] - s["lost_packets"]) / s["seconds"],
            "tcp_mbps": tcp["sum_received"]["bits_per_second"] / 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    tag = uuid.uuid4().hex[:5]
    folder = tempfile.mkdtemp(prefix="vf-boundary-")
    labs = {}
    try:
        for kind, letter, emulated, udp in (("one host", "l", False, False),
                                            ("udp link", "u", False, True),
                                            ("two hosts", "e", True, False)):
            name = f"hb{letter}{tag}"
            path = os.path.join(folder, f"{name}.yaml")
            with open(path, "w") as f:
                f.write(lab_text(name, emulated, udp))
            if emulated:
                deploy_emulated(path, log=lambda *x: None)
            else:
                deploy(path, nodes_per_worker=1 if udp else 25, log=lambda *x: None)
            labs[kind] = prepare(path)
            ok, _ = reach(labs[kind], "h1", str(labs[kind].nodes["h2"].interfaces["eth1"]
                                                .address.ip), within=30)
            if not ok:
                sys.exit(f"{kind}: h1 does not reach h2")
        results = {kind: [] for kind in labs}
        for r in range(a.rounds):
            for kind, lab in labs.items():       # alternating, so load drifts hit both
                results[kind].append(measure(lab, a.seconds))
                print(f"round {r + 1} {kind:9}: {results[kind][-1]['pps']:10.0f} pps  "
                      f"{results[kind][-1]['tcp_mbps']:8.0f} Mbit/s", file=sys.stderr)
        med = {k: {m: statistics.median(x[m] for x in v) for m in ("pps", "tcp_mbps")}
               for k, v in results.items()}
        print(f"\nmedians of {a.rounds} rounds of {a.seconds:g}s (h1 -> r1 -> r2 -> h2):")
        print(f"{'':22}{'one host':>12}{'udp link':>12}{'two hosts':>12}{'ratio':>8}")
        for m, label in (("pps", "64-byte UDP, pkt/s"), ("tcp_mbps", "TCP, Mbit/s")):
            one, udp, two = med["one host"][m], med["udp link"][m], med["two hosts"][m]
            print(f"{label:22}{one:12.0f}{udp:12.0f}{two:12.0f}{two / one:8.2f}")
    finally:
        for lab in labs.values():
            if load_state(lab.name) is not None:
                destroy(lab.name)
        subprocess.run(["rm", "-rf", folder])


if __name__ == "__main__":
    main()
