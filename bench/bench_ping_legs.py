"""Where an idle ping's round trip goes: the two legs through router.click, timed apart.

Two host namespaces and configs/examples/router.click between them (the
forwarder on CPU 1, ping on CPU 0), as in `vforward bench forward`'s tap
mode.  tcpdump on both hosts' TAP devices stamps each echo request and
reply as it leaves one host and reaches the other, so the request leg
(host A -> B, the packet that finds the forwarder asleep) and the reply
leg (B -> A, moments later, the forwarder still awake) are measured apart.
Each setting is run in turn:

  sleeping    the router as it is: it sleeps in epoll between packets
  busy-cpu    the same, with an unrelated `nice -n 19` busy loop on CPU 1,
              so that the CPU never goes idle
  poll        `vforward run --poll`: the router busy-polls its devices

    python bench/bench_ping_legs.py [--count N] [--interval S]

Prints the median of each leg in µs.  Needs root, tcpdump, ping, taskset.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from vforward import netns as ns

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "examples", "router.click")
HOST_B = "10.2.0.2"
_LINE = re.compile(r"^(\d+\.\d+) IP .*ICMP echo (request|reply), id \d+, seq (\d+)")


def _stamps(text: str) -> dict:
    """(kind, seq) -> capture time, from `tcpdump -tt` output."""
    out = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out[(m.group(2), int(m.group(3)))] = float(m.group(1))
    return out


def measure(run_args: list[str], count: int, interval: float, busy_cpu: bool) -> tuple:
    """(request leg µs, reply leg µs) medians for one setting."""
    tag = uuid.uuid4().hex[:6]
    a, b = f"vfpa{tag}", f"vfpb{tag}"
    dev_a, dev_b = f"pla{tag}", f"plb{tag}"
    procs = []
    tmp = tempfile.mkdtemp(prefix="vfping")
    ctl = os.path.join(tmp, "r.sock")
    try:
        for space in (a, b):
            ns.create(space)
        if busy_cpu:
            procs.append(subprocess.Popen(["taskset", "-c", "1", "nice", "-n", "19",
                                           "sh", "-c", "while :; do :; done"]))
        router = subprocess.Popen(["taskset", "-c", "1", sys.executable, "-m", "vforward", "run",
                                   *run_args, CONFIG, f"NS1={a}", f"NS2={b}", f"DEV1={dev_a}",
                                   f"DEV2={dev_b}", f"CTL={ctl}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(router)
        deadline = time.monotonic() + 30
        while not os.path.exists(ctl):
            if router.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the router did not come up")
            time.sleep(0.1)
        ns.run(a, "ping", "-c", "2", "-i", "0.2", "-W", "2", HOST_B, check=False)   # ARP
        dumps = []
        for space, dev in ((a, dev_a), (b, dev_b)):
            dumps.append(ns.popen(space, "taskset", "-c", "0", "tcpdump", "-i", dev, "-nn", "-tt",
                                  "--time-stamp-precision=micro", "-l", "icmp",
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True))
        time.sleep(1.0)                                     # tcpdump is listening
        ns.run(a, "taskset", "-c", "0", "ping", "-n", "-c", str(count), "-i", str(interval),
               HOST_B, check=False, timeout=count * interval + 30)
        time.sleep(0.5)
        texts = []
        for d in dumps:
            d.terminate()
            texts.append(d.communicate(timeout=10)[0])
        at_a, at_b = _stamps(texts[0]), _stamps(texts[1])
        request = [(at_b[k] - at_a[k]) * 1e6 for k in at_a if k[0] == "request" and k in at_b]
        reply = [(at_a[k] - at_b[k]) * 1e6 for k in at_a if k[0] == "reply" and k in at_b]
        if not request or not reply:
            raise RuntimeError("tcpdump saw no echo requests or replies on both sides")
        return statistics.median(request), statistics.median(reply)
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)
        for space in (a, b):
            ns.delete(space)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=30, help="echo requests per setting")
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between them")
    a = ap.parse_args()
    print(f"{'setting':<10}{'request us':>12}{'reply us':>10}")
    for name, run_args, busy in (("sleeping", [], False), ("busy-cpu", [], True),
                                 ("poll", ["--poll"], False)):
        req, rep = measure(run_args, a.count, a.interval, busy)
        print(f"{name:<10}{req:>12.0f}{rep:>10.0f}", flush=True)
    print("(medians; request: host A -> B through the router, reply: B -> A)")


if __name__ == "__main__":
    main()
