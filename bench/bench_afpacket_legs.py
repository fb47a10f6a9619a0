"""Where an idle ping's time goes in bench/afpacket_router.click under vforward.

The bed of bench_afpacket_click.py (host A -- router namespace -- host B, on
veth, offloads off); the router runs in a child of this script with stamps
(CLOCK_REALTIME, the clock of the ring's frame timestamps) taken at each leg
of every echo request and reply it forwards:

  wake-up      from the kernel's receive stamp on the frame (the ring's
               tp_sec/tp_nsec) to the call of FromDevice's readiness callback
  ring read    that callback until the ring read returns
  graph        from there until the packet is pushed into the output Queue
  queue/pull   from the Queue's push until ToDevice's send starts
  ring send    ToDevice's ring send (copy into the TX ring and send())
  in router    from the kernel's receive stamp until the send returns

The ping RTT p50 (from host A, every --interval s) is printed beside them.
With --tree DIR the router is DIR's vforward (DIR/.venv/bin/python), so two
trees can be compared leg by leg; give --tree more than once to alternate
them, round by round, in one run.

    python bench/bench_afpacket_legs.py [--rounds N] [--count N] [--interval S]
                                        [--tree DIR ...] [--realtime]

Needs root, ping, ethtool, taskset.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_afpacket_click import CONFIG, FORWARDER_CPU, HOST2, LOAD_CPU, Bed  # noqa: E402
from bench_ping_legs import stop  # noqa: E402
from vforward import netns as ns  # noqa: E402

LEGS = ("wake-up", "ring read", "graph", "queue/pull", "ring send", "in router")


def router_child(stamp_file: str, words: list[str]) -> None:
    """Run the config with stamps on each leg of each ICMP packet; dump them at exit."""
    from vforward.elements.io.fromdevice import FromDevice
    from vforward.elements.io.todevice import ToDevice
    from vforward.elements.standard.queue import Queue
    from vforward.graph import build_graph
    from vforward.runtime import Router
    now = time.time_ns
    defines = dict(w.split("=", 1) for w in words)
    with open(CONFIG) as f:
        router = Router(build_graph(f.read(), CONFIG, defines))
    pool = router.pool
    events = []         # [kernel stamp, called, read, queued, send start, send end]
    current = {}        # slot -> its event, while it crosses the router

    def icmp(slot) -> bool:
        off = int(pool.off[slot])
        return int(pool.length[slot]) >= 34 and pool.data[slot, off + 12] == 8 \
            and pool.data[slot, off + 23] == 1

    class RxStamps:
        def __init__(self, rx, called):
            self._rx, self._called = rx, called

        def __getattr__(self, attr):
            return getattr(self._rx, attr)

        def receive(self, pool_, idx):
            got = self._rx.receive(pool_, idx)
            t = now()
            for slot in idx[:got]:
                if icmp(slot):
                    current[int(slot)] = [int(pool.ts_ns[slot]), self._called[0], t, 0, 0, 0]
            return got

    class TxStamps:
        def __init__(self, tx):
            self._tx = tx

        def __getattr__(self, attr):
            return getattr(self._tx, attr)

        def send(self, pool_, idx):
            mine = [current.pop(int(s)) for s in idx if int(s) in current]
            t0 = now()
            out = self._tx.send(pool_, idx)
            t1 = now()
            for ev in mine:
                ev[4], ev[5] = t0, t1
                events.append(ev)
            return out

    for e in router.elements.values():
        if isinstance(e, FromDevice):
            called = [0]
            inner = e._readable

            def readable(inner=inner, called=called):
                called[0] = now()
                inner()
            e._readable = readable
            e._called = called
        elif isinstance(e, Queue):
            push = e.push

            def queued(port, batch, push=push):
                t = now()
                for s in batch.idx:
                    ev = current.get(int(s))
                    if ev is not None:
                        ev[3] = t
                push(port, batch)
            e.push = queued
    next(iter(router.elements.values()))._rewire()     # the graph's pushes reach the wrappers
    router.initialize()
    for e in router.elements.values():
        if isinstance(e, FromDevice):
            e._rx = RxStamps(e._rx, e._called)
        elif isinstance(e, ToDevice):
            e._tx = TxStamps(e._tx)
    try:
        router.run()
    finally:
        with open(stamp_file, "w") as f:
            json.dump(events, f)


def legs_of(events: list) -> dict:
    rows = [{"wake-up": (c - k) / 1e3, "ring read": (r - c) / 1e3, "graph": (q - r) / 1e3,
             "queue/pull": (s0 - q) / 1e3, "ring send": (s1 - s0) / 1e3,
             "in router": (s1 - k) / 1e3}
            for k, c, r, q, s0, s1 in events if q and s1]
    return {leg: statistics.median(r[leg] for r in rows) for leg in LEGS} if rows else {}


def measure(bed: Bed, tree: str, opts, stamp_file: str) -> dict:
    python = os.path.join(tree, ".venv", "bin", "python")
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import bench_afpacket_legs as b; "
            "b.router_child(sys.argv[2], sys.argv[3:])")
    proc = ns.popen(bed.r, "taskset", "-c", FORWARDER_CPU, *opts.realtime, python, "-c", code,
                    os.path.join(ROOT, "bench"), stamp_file, *bed.defines(),
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while ns.run(bed.a, "ping", "-c", "1", "-W", "0.5", HOST2, check=False).returncode:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"router did not come up: {proc.stderr.read()[-600:]}")
        p = ns.run(bed.a, "taskset", "-c", LOAD_CPU, *opts.realtime, "ping", "-n", "-c",
                   str(opts.count), "-i", str(opts.interval), HOST2, check=False,
                   timeout=opts.count * opts.interval + 30)
        rtts = [float(t) * 1000 for t in re.findall(r"time=([\d.]+) ms", p.stdout)]
    finally:
        stop(proc)
    with open(stamp_file) as f:
        events = json.load(f)
    out = legs_of(events)
    out["RTT p50"] = statistics.median(rtts) if rtts else 0.0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=30, help="echo requests per run")
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--tree", action="append", help="checkout whose vforward runs (repeatable)")
    ap.add_argument("--realtime", action="store_true", help="router and ping at chrt -f 1")
    opts = ap.parse_args()
    opts.realtime = ["chrt", "-f", "1"] if opts.realtime else []
    trees = opts.tree or [ROOT]
    runs = {t: [] for t in trees}
    bed = Bed()
    try:
        bed.up()
        print(f"load average {os.getloadavg()[0]:.1f} at start", flush=True)
        for rnd in range(opts.rounds):
            for tree in trees[rnd % len(trees):] + trees[:rnd % len(trees)]:
                r = measure(bed, tree, opts, os.path.join(bed.tmp, "stamps.json"))
                runs[tree].append(r)
                print(f"round {rnd + 1} {tree}: " + ", ".join(f"{k} {v:.0f}" for k, v in r.items()),
                      flush=True)
    finally:
        bed.down()
    print("\nmedians in us (legs: one packet each way, so a round trip has two of each)")
    keys = LEGS + ("RTT p50",)
    print(f"{'tree':<28}" + "".join(f"{k:>12}" for k in keys))
    for tree, rs in runs.items():
        print(f"{tree[-28:]:<28}" + "".join(
            f"{statistics.median(r.get(k, 0.0) for r in rs):>12.0f}" for k in keys))


if __name__ == "__main__":
    main()
