"""Graph machinery cost: batches through a chain of standard elements.

Pushes packets from InfiniteSource through a 6-element chain into Discard at
batch sizes 1, 32 and 256, side by side with a per-packet design (one Python
object and one method call per packet per element, the naive forwarder), and
prints packets/s, ns per packet, us per batch and the ratio.

    python bench/bench_graph.py [--packets N] [--repeat R] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

from vforward.catalogue import load_builtin
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router

STANDARD_CHAIN = ("Counter -> Paint(1) -> CheckPaint(1) -> Strip(14) -> Unstrip(14) -> Counter")
NULL_CHAIN = "Null -> Null -> Null -> Null -> Null -> Null"


def run_chain(chain: str, burst: int, packets: int) -> float:
    """Seconds to push `packets` through `chain` at batch size `burst`."""
    text = f"InfiniteSource(LENGTH 64, LIMIT {packets}, BURST {burst}, STOP true) -> {chain} -> Discard;"
    router = Router(build_graph(text, "<bench>"), PacketPool(4096))
    t0 = time.perf_counter()
    router.run_until_idle()
    dt = time.perf_counter() - t0
    assert router.pool.n_used == 0
    router.close()
    return dt


class _PerPacketElement:
    """The naive design: one Python object per packet, one call per element."""
    def __init__(self, nxt):
        self.nxt = nxt
        self.count = 0

    def push(self, pkt):
        self.count += 1
        self.nxt.push(pkt)


class _PerPacketSink:
    def push(self, pkt):
        pass


def run_per_packet(packets: int) -> float:
    node = _PerPacketSink()
    for _ in range(6):
        node = _PerPacketElement(node)
    payload = bytes(64)
    t0 = time.perf_counter()
    for _ in range(packets):
        node.push(bytearray(payload))
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    load_builtin()
    sizes = (1, 32, 256)
    rows = {}
    # Interleave configurations across repetitions so drift hits all alike.
    samples = {(c, b): [] for c in ("standard", "null") for b in sizes}
    samples[("per-packet", 1)] = []
    for _ in range(a.repeat):
        for b in sizes:
            n = a.packets if b > 1 else a.packets // 20
            samples[("standard", b)].append(run_chain(STANDARD_CHAIN, b, n) / n)
            samples[("null", b)].append(run_chain(NULL_CHAIN, b, n) / n)
        n = a.packets // 4
        samples[("per-packet", 1)].append(run_per_packet(n) / n)
    base = statistics.median(samples[("per-packet", 1)])
    print(f"{'chain (6 elements)':<22}{'batch':>6}{'Mpps':>9}{'ns/pkt':>9}{'us/batch':>10}{'vs per-packet':>15}")
    for (chain, b), s in samples.items():
        per = statistics.median(s)
        rows[f"{chain}/{b}"] = {"pps": 1 / per, "ns_per_packet": per * 1e9, "us_per_batch": per * b * 1e6}
        print(f"{chain:<22}{b:>6}{1 / per / 1e6:>9.2f}{per * 1e9:>9.1f}{per * b * 1e6:>10.2f}{base / per:>14.1f}x")
    null256 = statistics.median(samples[("null", 256)])
    print(f"\ngraph machinery per packet at batch 256 (6 Null elements + source + sink): "
          f"{null256 * 1e9:.1f} ns; per element hop: {null256 * 1e9 / 7:.1f} ns")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
