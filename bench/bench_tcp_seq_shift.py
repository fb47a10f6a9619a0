"""What TCPRewriter's sequence shifting (FTPPortMapper's deltas) costs, in one run.

Batches of TCP packets of F mapped flows go through a TCPRewriter in three
states, interleaved round by round so that the machine's load falls on all
three alike:

    plain     no flow has a shift (every rewriter but an FTP NAT's control one)
    one       one other flow has a shift: the batch pays the check of its flows
    all       every flow of the batch has a shift: each packet is shifted in Python

Prints the median ns/packet of each and the ratios to `plain`.

    python bench/bench_tcp_seq_shift.py [--flows F] [--burst B] [--rounds R]
"""
from __future__ import annotations

import argparse
import socket
import statistics
import time

import dpkt
import numpy as np

from vforward.catalogue import load_builtin
from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router


class _Source(Element):
    """_SeqShiftBenchSource -- pushes what the benchmark hands it"""
    CLASS_NAME = "_SeqShiftBenchSource"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY


register(_Source)


def frames(n_flows: int) -> np.ndarray:
    rows = []
    for i in range(n_flows):
        tcp = dpkt.tcp.TCP(sport=10000 + i, dport=21, seq=1000, ack=2000, flags=0x10,
                           data=b"x" * 20)
        ip = dpkt.ip.IP(src=socket.inet_aton("10.0.0.2"), dst=socket.inet_aton("192.0.2.9"),
                        p=6, ttl=64, data=tcp)
        rows.append(np.frombuffer(bytes(ip), np.uint8))
    return np.stack(rows)


def setup(n_flows: int, burst: int):
    load_builtin()
    text = ("src :: _SeqShiftBenchSource -> rw :: TCPRewriter(pattern 198.51.100.1 "
            "1024-65535 - - 0 0, REAP_INTERVAL 0) -> Discard;")
    router = Router(build_graph(text, "<bench>"), PacketPool(4 * burst + 64))
    router.initialize()
    return router, router.element("src"), router.element("rw")


def push_ns(router, src, templates, burst: int) -> float:
    pool = router.pool
    batch = pool.alloc(burst, templates.shape[1])
    h = pool.headroom
    rows = np.arange(burst) % len(templates)
    pool.data[batch.idx, h:h + templates.shape[1]] = templates[rows]
    pool.nh[batch.idx] = h
    t0 = time.perf_counter()
    src.emit(0, batch)
    dt = time.perf_counter() - t0
    assert pool.n_used == 0
    return dt / burst * 1e9


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--flows", type=int, default=64)
    p.add_argument("--burst", type=int, default=256)
    p.add_argument("--rounds", type=int, default=200)
    a = p.parse_args(argv)
    templates = frames(a.flows)
    states = {}
    for name in ("plain", "one", "all"):
        router, src, rw = setup(a.flows, a.burst)
        push_ns(router, src, templates, a.burst)            # makes the mappings
        flows = rw.table.live_flows().tolist()
        if name == "one":
            rw.table.add(6, (1, 1, 2, 2), (3, 3, 2, 2), 0, 0, -1, rw.now())
            extra = int(rw.table.live_flows()[-1])
            rw.update_seqno_delta(extra, 0, 500, 4)
        elif name == "all":
            for f in flows:
                rw.update_seqno_delta(f, 0, 500, 4)
        states[name] = (router, src)
    times = {name: [] for name in states}
    for _ in range(a.rounds):
        for name, (router, src) in states.items():
            times[name].append(push_ns(router, src, templates, a.burst))
    base = statistics.median(times["plain"])
    print(f"TCPRewriter, {a.flows} flows, batches of {a.burst}, {a.rounds} rounds interleaved")
    for name, t in times.items():
        m = statistics.median(t)
        print(f"  {name:6s} {m:8.1f} ns/packet (median)   x{m / base:.2f} of plain")
    for router, _ in states.values():
        router.close()


if __name__ == "__main__":
    main()
