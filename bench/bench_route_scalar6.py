"""IPv6 route lookups of short batches: the scalar path against the batch path.

IPRouteTable routes a batch of up to four packets bound for one output with
one scalar FIB lookup per packet instead of the array calls of the batch
path.  This runs StaticIP6Lookup on batches of 1-4 packets (a gateway route,
so the dst_ip6 annotation is rewritten too) with the scalar path on and off,
interleaved, and StaticIPLookup's IPv4 scalar path beside them; it prints
the median microseconds per batch and the scalar/batch ratio.

    python bench/bench_route_scalar6.py [--rounds R] [--reps N]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from vforward.args import Args
from vforward.elements.ip.iplookup import StaticIPLookup
from vforward.elements.ip6.lookupip6route import StaticIP6Lookup
from vforward.packet import Batch, PacketPool

ROUTES6 = "2001:db8:1::/48 2001:db8:1::ff 0, 2001:db8::/32 1, ::/0 2"
ROUTES4 = "10.1.0.0/16 10.1.0.255 0, 10.0.0.0/8 1, 0.0.0.0/0 2"


def _table(cls, routes: str, scalar: bool):
    e = cls.__new__(cls)
    e.configure(Args(routes, where=cls.__name__))
    e.n_outputs = 3
    e.emit = lambda port, batch: None       # the element alone, no graph behind it
    if not scalar:
        e.scalar_batch = 0
    return e


def _per_batch(e, batch: Batch, reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        e.push(0, batch)
    return (time.perf_counter() - t0) / reps * 1e6


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--reps", type=int, default=20000)
    args = p.parse_args()
    pool = PacketPool(64)
    idx = pool.from_bytes([b"\0" * 60] * 4).idx
    pool.dst_ip6[idx] = np.frombuffer(bytes.fromhex("20010db8000100000000000000000005"), np.uint8)
    pool.dst_ip[idx] = 0x0A010005
    tables = {"IPv6 scalar": _table(StaticIP6Lookup, ROUTES6, True),
              "IPv6 batch": _table(StaticIP6Lookup, ROUTES6, False),
              "IPv4 scalar": _table(StaticIPLookup, ROUTES4, True)}
    print(f"{'batch':>5s} {'IPv6 scalar us':>15s} {'IPv6 batch us':>14s} {'scalar/batch':>13s} "
          f"{'IPv4 scalar us':>15s}")
    for n in (1, 2, 3, 4):
        batch = Batch(pool, np.ascontiguousarray(idx[:n]))
        times = {k: [] for k in tables}
        for _ in range(args.rounds):
            for k, e in tables.items():
                times[k].append(_per_batch(e, batch, args.reps))
        m = {k: statistics.median(v) for k, v in times.items()}
        print(f"{n:>5d} {m['IPv6 scalar']:>15.2f} {m['IPv6 batch']:>14.2f} "
              f"{m['IPv6 scalar'] / m['IPv6 batch']:>12.2f}x {m['IPv4 scalar']:>15.2f}")
    print(f"(medians of {args.rounds} interleaved rounds of {args.reps} batches; time per batch)")


if __name__ == "__main__":
    main()
