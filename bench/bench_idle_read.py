"""One idle frame's device read, cold: what the TAP read leg of an idle ping costs.

An idle router meets each frame with its caches full of other programs'
data.  This bench puts one 98-byte frame (a ping's size) on a datagram
socket pair (which keeps frame boundaries, as a TAP does), sweeps a 32 MiB
buffer through the caches, and times one read of it:

  os.read            the floor: a bare read() from Python
  read_burst 256     cext/tapio's burst read at KernelTap's default BURST
  read_burst 1       the same, asked for one frame

Medians over --rounds reads, interleaved; the "warm" column repeats without
the sweep.  Run it pinned and at real-time priority for steadier numbers:

    chrt -f 1 taskset -c 1 python bench/bench_idle_read.py [--rounds N]
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import time

import numpy as np

from vforward import kernels
from vforward.packet import PacketPool

FRAME = bytes(98)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=300)
    a = ap.parse_args()
    io = kernels.load("tapio")
    pool = PacketPool()
    tx, rx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    rx.setblocking(False)
    fd = rx.fileno()
    sweep = np.ones(32 << 20, dtype=np.uint8)

    def burst(n):
        return lambda: pool.free(io.read_burst(fd, pool, n))
    readers = {"os.read": lambda: os.read(fd, 2048),
               "read_burst 256": burst(256), "read_burst 1": burst(1)}
    times = {(name, cold): [] for name in readers for cold in (False, True)}
    for _ in range(a.rounds):
        for cold in (False, True):
            for name, read in readers.items():
                tx.send(FRAME)
                if cold:
                    sweep[::64] += 1
                t0 = time.perf_counter_ns()
                read()
                times[name, cold].append(time.perf_counter_ns() - t0)
    assert pool.n_used == 0
    print(f"{'reader':<16}{'warm us':>9}{'cold us':>9}")
    for name in readers:
        warm, cold = (statistics.median(times[name, c]) / 1e3 for c in (False, True))
        print(f"{name:<16}{warm:>9.2f}{cold:>9.2f}")
    print(f"(medians of {a.rounds} reads of one {len(FRAME)}-byte frame; cold: after a "
          "32 MiB cache sweep)")


if __name__ == "__main__":
    main()
