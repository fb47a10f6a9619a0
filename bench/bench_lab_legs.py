"""Where an idle ping's time goes across a lab: h1 - r1 - r2 - r3 - h2, leg by leg.

A line of three routers (static routes) is deployed once per link transport
(in-process, shared memory, UDP; forced with `transport:`, one worker per
router for shm and udp) and pinged from h1 to h2 at an idle pace.  tcpdump
in both hosts stamps the echo request and reply where they leave and reach
a host; a Capture at every router interface on the path stamps them as they
pass it (STAMP pass; the Capture sits right after the device or link read,
and right before the link or device write), all on CLOCK_REALTIME.  The request's
legs are then:

  h1 -> r1 in      h1's kernel to the TAP, the worker's wake-up, the TAP read
  r1               r1's graph: classify, check, TTL, lookup, ARP, to the link
  r1 -> r2 link    probe, emulator, the transport, the next router's turn
  r2, r2 -> r3, r3 the same
  r3 -> h2         the TAP write and h2's kernel

and the reply's the same backwards.  Medians in µs, one row per transport,
side by side in one run.

`spread` is the placement a small lab gets by default: the bundled ring of
four routers (r4 on the other way round) over two workers, r1 and r2 in one,
r3 and r4 in the other, so the path crosses one in-process link and one
shared-memory link (deploy's own choice of transports).

    python bench/bench_lab_legs.py [--count N] [--interval S] [--transports inprocess,shm,udp,spread]
                                   [--poll-budget 500us,10%]   (a row NAME+spin: with it)

Needs root, tcpdump, ping.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from vforward import netns as ns
from vforward.elements.io.pcapfile import PcapReader
from vforward.topo import ops
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.render import netns_name
from vforward.topo.validate import reach

LINE = """\
name: {name}
topology:
  nodes:
    r1: {{}}
    r2: {{}}
    r3: {{}}
    h1: {{kind: host}}
    h2: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
      transport: {transport}
    - endpoints: ["r2:eth2", "r3:eth1"]
      transport: {transport}
    - endpoints: ["h1:eth1", "r1:eth2"]
    - endpoints: ["h2:eth1", "r3:eth2"]
"""
RING = """\
name: {name}
topology:
  nodes:
    r1: {{}}
    r2: {{}}
    r3: {{}}
    r4: {{}}
    h1: {{kind: host}}
    h2: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "r3:eth1"]
    - endpoints: ["r3:eth2", "r4:eth1"]
      cost: 20
    - endpoints: ["r4:eth2", "r1:eth2"]
      cost: 20
    - endpoints: ["h1:eth1", "r1:eth3"]
    - endpoints: ["h2:eth1", "r3:eth3"]
"""
# Router interfaces on the path, in the request's order.
PATH = ["r1:eth2", "r1:eth1", "r2:eth1", "r2:eth2", "r3:eth1", "r3:eth2"]
RING_PATH = ["r1:eth3", "r1:eth1", "r2:eth1", "r2:eth2", "r3:eth1", "r3:eth3"]
LEGS = ["h1 -> r1 in", "r1", "r1 -> r2 link", "r2", "r2 -> r3 link", "r3", "r3 -> h2"]
_DUMP = re.compile(r"^(\d+\.\d+) IP .*ICMP echo (request|reply), id \d+, seq (\d+)")


def _icmp_key(frame: bytes):
    """(kind, seq) of an ICMP echo in an Ethernet frame, else None."""
    if len(frame) < 42 or frame[12:14] != b"\x08\x00" or frame[23] != 1:
        return None
    ihl = (frame[14] & 0xF) * 4
    icmp = frame[14 + ihl:]
    if len(icmp) < 8 or icmp[0] not in (0, 8):
        return None
    return ("request" if icmp[0] == 8 else "reply", int.from_bytes(icmp[6:8], "big"))


def _pcap_stamps(path: str) -> dict:
    out = {}
    for ts_ns, data, _ in PcapReader(path).records():
        key = _icmp_key(bytes(data))
        if key is not None:
            out.setdefault(key, ts_ns / 1e9)
    return out


def _dump_stamps(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        m = _DUMP.match(line)
        if m:
            out[(m.group(2), int(m.group(3)))] = float(m.group(1))
    return out


def measure(transport: str, count: int, interval: float, spin: str = "0") -> tuple[list, list]:
    """Median µs of each leg: (request legs, reply legs)."""
    name = "bl" + uuid.uuid4().hex[:6]
    tmp = tempfile.mkdtemp(prefix="vflegs")
    path = os.path.join(tmp, "line.yaml")
    extra = {"poll_budget": spin} if transport.endswith("+spin") else {}
    transport = transport.removesuffix("+spin")
    route = RING_PATH if transport == "spread" else PATH
    with open(path, "w") as f:
        f.write(RING.format(name=name) if transport == "spread"
                else LINE.format(name=name, transport=transport))
    if transport == "spread":
        deploy(path, cpus=2, log=lambda *a: None, **extra)
    else:
        deploy(path, nodes_per_worker=3 if transport == "inprocess" else 1, log=lambda *a: None,
               **extra)
    try:
        lab = prepare(path)
        h2 = str(lab.nodes["h2"].interfaces["eth1"].address.ip)
        if not reach(lab, "h1", h2, within=20)[0]:
            raise RuntimeError("h1 never reached h2")
        dumps = [ns.popen(netns_name(lab, h), "tcpdump", "-i", "eth1", "-nn", "-tt",
                          "--time-stamp-precision=micro", "-l", "icmp", stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) for h in ("h1", "h2")]
        ctl = ops.NodeControl(ops.lab_state(name))
        try:      # each record stamped when the packet passes, not when it was received
            for ref in route:
                node, prefix = ops.lab_state(name).interfaces[ref]["counters"]
                ctl.write(node, f"{prefix}_capture.stamp", "pass")
        finally:
            ctl.close()
        seconds = count * interval + 2.0
        pcaps = [os.path.join(tmp, f"{ref.replace(':', '-')}.pcap") for ref in route]
        captures = [threading.Thread(target=ops.capture, args=(name, ref, p),
                                     kwargs={"duration": seconds}) for ref, p in zip(route, pcaps)]
        for t in captures:
            t.start()
        time.sleep(1.0)
        ns.run(netns_name(lab, "h1"), "ping", "-n", "-c", str(count), "-i", str(interval), h2,
               check=False, timeout=seconds + 30)
        for t in captures:
            t.join()
        texts = []
        for d in dumps:
            d.terminate()
            texts.append(d.communicate(timeout=10)[0])
        at = [_dump_stamps(texts[0])] + [_pcap_stamps(p) for p in pcaps] + [_dump_stamps(texts[1])]
        request, reply = [], []
        for i in range(len(at) - 1):
            a, b = at[i], at[i + 1]
            request.append(_median([(b[k] - a[k]) * 1e6 for k in a if k[0] == "request" and k in b]))
            reply.append(_median([(a[k] - b[k]) * 1e6 for k in a if k[0] == "reply" and k in b]))
        return request, reply[::-1]
    finally:
        destroy(name)


def _median(values):
    return statistics.median(values) if values else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=30, help="echo requests per transport")
    ap.add_argument("--interval", type=float, default=0.1, help="seconds between them")
    ap.add_argument("--transports", default="inprocess,shm,udp",
                    help="comma-separated: inprocess, shm, udp, spread; NAME+spin deploys "
                         "with --poll-budget")
    ap.add_argument("--poll-budget", default="500us,10%",
                    help="deploy --poll-budget of the +spin rows (default 500us,10%%)")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_lab_legs needs root (namespaces)")
    rows = {t: measure(t, a.count, a.interval, a.poll_budget) for t in a.transports.split(",")}
    width = max(len(leg) for leg in LEGS) + 2
    print(f"\n{'request leg (µs)':<{width}}" + "".join(f"{t:>13}" for t in rows))
    for i, leg in enumerate(LEGS):
        print(f"{leg:<{width}}" + "".join(f"{rows[t][0][i]:>13.0f}" for t in rows))
    print(f"{'sum':<{width}}" + "".join(f"{sum(rows[t][0]):>13.0f}" for t in rows))
    back = ["h2 -> r3 in", "r3", "r3 -> r2 link", "r2", "r2 -> r1 link", "r1", "r1 -> h1"]
    print(f"\n{'reply leg (µs)':<{width}}" + "".join(f"{t:>13}" for t in rows))
    for i, leg in enumerate(back):
        print(f"{leg:<{width}}" + "".join(f"{rows[t][1][i]:>13.0f}" for t in rows))
    print(f"{'sum':<{width}}" + "".join(f"{sum(rows[t][1]):>13.0f}" for t in rows))
    print("(medians of one run; the machine's other work shows in every leg)")


if __name__ == "__main__":
    main()
