"""The long packet fuzz run: millions of hostile frames through the example graphs.

The suite's fuzz tests (tests/fuzz/) run a few thousand frames with fixed
seeds; this runs as many as asked, in chunks, through router.click,
nat-gateway.click and both tunnel decapsulators (without their devices, see
vforward/fuzz), and after every chunk checks the ledger: the pool full
again, every packet sent or counted under a reason.  Every --compare-every'th
chunk also goes through a second graph on the reference kernels and must
come out byte for byte the same, with the same counters.

    python bench/bench_fuzz.py [--frames 1000000] [--seed 1] [--chunk 2048]
                               [--compare-every 1] [--graphs router,nat,link,vxlan]

Prints, per graph, frames pushed, frames compared with the reference,
packets sent and dropped, the drop reasons, the rate, and any problem; exits
1 on the first problem, printing the seed and chunk that replay it.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from tests.fuzz.conftest import NAT_IPS, NAT_MACS, ROUTER_IPS, ROUTER_MACS, nat_run, router_run  # noqa: E402
from tests.fuzz.test_tunnel_decap import decap_run, payloads  # noqa: E402
from vforward.fuzz.frames import FrameMaker  # noqa: E402
from vforward.fuzz.kernels import reference_kernels  # noqa: E402

GRAPHS = {
    "router": (router_run, ["if1", "if2"], ROUTER_MACS, ROUTER_IPS),
    "nat": (nat_run, ["priv", "pub"], NAT_MACS, NAT_IPS),
    "link": (lambda: decap_run("link"), ["wire"], [], []),
    "vxlan": (lambda: decap_run("vxlan"), ["wire"], [], []),
}


def chunk_of(name, maker, n, devices, batch=64):
    """[(device, frames, annotations)] for n frames."""
    out = []
    for i in range(0, n, batch):
        k = min(batch, n - i)
        if name in ("link", "vxlan"):
            frames, annos = payloads(maker, name, k)
        else:
            frames = [bytes(maker.hostile()) for _ in range(k)]
            annos = [maker.annotations(len(f), 128) for f in frames]
        out.append((devices[(i // batch) % len(devices)], frames, annos))
    return out


def run_graph(name, frames, seed, chunk, compare_every):
    make, devices, macs, ips = GRAPHS[name]
    maker = FrameMaker(seed, macs, ips, link_key=42, vni=7)
    run = make()
    with reference_kernels():
        ref = make()
    pushed = compared = 0
    t0 = time.monotonic()
    t_ref = 0.0
    i = 0
    try:
        while pushed < frames:
            n = min(chunk, frames - pushed)
            batches = chunk_of(name, maker, n, devices)
            compare = compare_every and i % compare_every == 0
            mark = {d: len(run.sent[d]) for d in devices}
            for dev, fr, an in batches:
                run.push(dev, fr, an)
            run.drain()
            b = run.balance()
            if b.problems():
                print(f"{name}: seed {seed} chunk {i}: {b.problems()}")
                return False
            if compare:
                t = time.monotonic()
                rmark = {d: len(ref.sent[d]) for d in devices}
                with reference_kernels():
                    for dev, fr, an in batches:
                        ref.push(dev, fr, an)
                    ref.drain()
                rb = ref.balance()
                t_ref += time.monotonic() - t
                for d in devices:
                    if run.sent[d][mark[d]:] != ref.sent[d][rmark[d]:]:
                        print(f"{name}: seed {seed} chunk {i}: compiled and reference kernels "
                              f"sent different frames by {d}")
                        return False
                if rb.counted != b.counted or rb.freed != b.freed:
                    print(f"{name}: seed {seed} chunk {i}: counters differ between compiled "
                          f"and reference kernels")
                    return False
                compared += n
            for d in devices:          # keep memory flat: the frames are checked, let them go
                run.sent[d].clear()
                ref.sent[d].clear()
            pushed += n
            i += 1
        took = time.monotonic() - t0
        b = run.balance()
        reasons = sorted(((v, k) for k, v in b.counted.items() if k not in devices),
                         reverse=True)[:6]
        print(f"{name:7s} {pushed:9d} frames ({compared} compared with the reference kernels), "
              f"{b.taken} slots taken, {b.sent} sent, {b.dropped} dropped, leaked {b.leaked}, "
              f"pool {b.free}/{b.slots} free, {took:.0f} s ({(took - t_ref) / pushed * 1e6:.0f} "
              f"us/frame compiled incl. generation); top counters: "
              + ", ".join(f"{k} {v}" for v, k in reasons))
        return True
    finally:
        run.close()
        ref.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000, help="frames in all, split over graphs")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--chunk", type=int, default=2048)
    ap.add_argument("--compare-every", type=int, default=1,
                    help="compare every Nth chunk with the reference kernels (0: never)")
    ap.add_argument("--graphs", default="router,nat,link,vxlan")
    a = ap.parse_args()
    names = a.graphs.split(",")
    ok = True
    for name in names:
        ok &= run_graph(name, a.frames // len(names), a.seed, a.chunk, a.compare_every)
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
