"""Wake-up of a sleeping reader: from a writer's stamp to the reader's callback.

The first leg of an idle hop is the router's wake-up: the process sleeps in
epoll, a frame arrives, the kernel wakes it and the event loop calls the
device's reader.  Here a writer process stamps CLOCK_REALTIME and writes 8
bytes to a pipe every --interval s; the reader, asleep in between, stamps
when its callback starts.  Three readers, run in turn and repeated
(--repeat), so the machine's other work falls on all of them alike:

  epoll     a plain Python loop around select.epoll (the floor from Python)
  asyncio   asyncio's own event loop, loop.add_reader
  uvloop    uvloop (what a router runs), loop.add_reader

    [chrt -f 1] [taskset -c 1] python bench/bench_wakeup.py [--count N] [--interval S] [--repeat R]
"""
from __future__ import annotations

import argparse
import os
import select
import statistics
import struct
import subprocess
import sys
import time

MODES = ("epoll", "asyncio", "uvloop")


def reader(mode: str, count: int, interval: float) -> list[float]:
    """Wake-up latencies (µs) of `count` writes, read with `mode`."""
    r, w = os.pipe()
    os.set_blocking(r, False)
    pid = os.fork()
    if pid == 0:                    # the writer, on another CPU than the reader's
        os.close(r)
        others = set(range(os.cpu_count() or 1)) - os.sched_getaffinity(0)
        if others:
            os.sched_setaffinity(0, others)
        time.sleep(0.2)
        for _ in range(count):
            time.sleep(interval)
            os.write(w, struct.pack("Q", time.time_ns()))
        os._exit(0)
    os.close(w)
    lat: list[float] = []

    def on_readable() -> bool:
        t = time.time_ns()
        data = os.read(r, 8)
        if data:
            lat.append((t - struct.unpack("Q", data)[0]) / 1e3)
        return bool(data) and len(lat) < count
    if mode == "epoll":
        ep = select.epoll()
        ep.register(r, select.EPOLLIN)
        while True:
            ep.poll()
            if not on_readable():
                break
    else:
        import asyncio
        if mode == "uvloop":
            import uvloop
            loop = uvloop.new_event_loop()
        else:
            loop = asyncio.new_event_loop()
        loop.add_reader(r, lambda: on_readable() or loop.stop())
        loop.run_forever()
        loop.close()
    os.waitpid(pid, 0)
    os.close(r)
    return lat


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=40, help="writes per reader and round")
    ap.add_argument("--interval", type=float, default=0.05, help="seconds between writes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.mode:
        print(" ".join(f"{x:.1f}" for x in reader(a.mode, a.count, a.interval)))
        return
    got = {m: [] for m in MODES}
    for _ in range(a.repeat):
        for m in MODES:         # each reader in a fresh process: no state carried over
            out = subprocess.run([sys.executable, __file__, "--mode", m, "--count", str(a.count),
                                  "--interval", str(a.interval)],
                                 capture_output=True, text=True, check=True).stdout
            got[m] += [float(x) for x in out.split()][2:]     # the first two warm up
    base = statistics.median(got["epoll"])
    print(f"{'reader':<9}{'p50 us':>8}{'p90 us':>8}{'p50 - epoll':>13}")
    for m in MODES:
        v = sorted(got[m])
        p50 = statistics.median(v)
        print(f"{m:<9}{p50:>8.1f}{v[int(len(v) * 0.9)]:>8.1f}{p50 - base:>13.1f}")
    print(f"({len(got['epoll'])} wake-ups each, {a.interval} s apart, one run)")


if __name__ == "__main__":
    main()
