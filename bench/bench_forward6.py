"""IPv6 against IPv4 forwarding through the example routers, 64-byte frames, one run.

    python bench/bench_forward6.py [--rounds N] [--batch N]

Builds configs/examples/router.click (IPv4) and configs/examples/router6.click
(IPv6) with their KernelTap devices replaced by an entry and a Discard per
interface (as bench/bench_router_path.py does), resolves host B in the ARP
and neighbour tables, and pushes batches of 64-byte Ethernet frames from
host A to host B into each router, timing each push until the batch has left
by interface 2 (the graph is synchronous).  IPv4's path: HostEtherFilter,
Classifier, Paint, Strip, CheckIPHeader, GetIPAddress, RadixIPLookup,
DecIPTTL, IPFragmenter, ARPQuerier; IPv6's: HostEtherFilter, Classifier,
Paint, Strip, CheckIP6Header, LookupIP6Route, DecIP6HLim, CheckLength,
IP6NDSolicitor.  The two are interleaved round by round (so a busy machine
slows both alike) and the medians compared; device I/O is excluded.  Each
path is checked first: the frame leaves by interface 2 for host B's MAC
with TTL / hop limit 63.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import struct
import time

import numpy as np

from vforward.catalogue import load_builtin
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {4: os.path.join(ROOT, "configs", "examples", "router.click"),
           6: os.path.join(ROOT, "configs", "examples", "router6.click")}
HOST_A_ETH, ROUTER_A_ETH = bytes.fromhex("02000a010002"), bytes.fromhex("02000a010001")
HOST_B_ETH = bytes.fromhex("02000a020002")
QUERIER = {4: "arpq2", 6: "nds2"}
TARGET = 0.9


def router_text(version: int) -> str:
    with open(CONFIGS[version]) as f:
        text = f.read()
    text = re.sub(r"^ControlSocket\(.*?\);", "", text, flags=re.M)
    for n in (1, 2):
        text, k = re.subn(rf"^if{n} :: KernelTap\(.*?\);", f"if{n} :: Discard; in{n} :: Idle;",
                          text, flags=re.M | re.S)
        assert k == 1, f"{CONFIGS[version]} no longer declares if{n} as expected"
        text, k = re.subn(rf"^if{n} -> HostEtherFilter", f"in{n} -> hf{n} :: HostEtherFilter",
                          text, flags=re.M)
        assert k == 1
    return text


def frame(version: int) -> bytes:
    """A 64-byte UDP frame from host A to host B."""
    if version == 4:
        udp = struct.pack("!HHHH", 1000, 2000, 30, 0) + bytes(22)
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                         bytes([10, 1, 0, 2]), bytes([10, 2, 0, 2])) + udp
        s = sum(struct.unpack("!10H", ip[:20]))
        while s >> 16:
            s = (s & 0xFFFF) + (s >> 16)
        ip = ip[:10] + struct.pack("!H", ~s & 0xFFFF) + ip[12:]
        ether = 0x0800
    else:
        udp = struct.pack("!HHHH", 1000, 2000, 10, 0) + bytes(2)
        ip = struct.pack("!IHBB", 6 << 28, len(udp), 17, 64) + \
            bytes.fromhex("20010db8000100000000000000000002") + \
            bytes.fromhex("20010db8000200000000000000000002") + udp
        ether = 0x86DD
    f = ROUTER_A_ETH + HOST_A_ETH + struct.pack("!H", ether) + ip
    assert len(f) == 64
    return f


def new_router(version: int) -> Router:
    router = Router(build_graph(router_text(version), CONFIGS[version]), PacketPool(4096))
    router.initialize()
    if version == 4:
        router.element("arpq2").write("insert", "10.2.0.2 02:00:0a:02:00:02")
    else:
        router.element("nds2").write("insert", "2001:db8:2::2 02:00:0a:02:00:02")
    return router


def check(router: Router, version: int) -> None:
    out = []
    q = router.element(QUERIER[version])
    saved = q._out_push[0]
    q._out_push[0] = lambda port, batch: (out.extend(batch.to_bytes()), batch.kill())
    try:
        router.element("hf1").push(0, router.pool.from_bytes([frame(version)] * 3))
    finally:
        q._out_push[0] = saved
    assert len(out) == 3, f"IPv{version}: {len(out)} of 3 frames left by interface 2"
    for f in out:
        assert f[:6] == HOST_B_ETH, f"IPv{version}: wrong Ethernet destination"
        assert f[14 + (8 if version == 4 else 7)] == 63, f"IPv{version}: TTL not 63"


def one_round(router: Router, version: int, batch: int) -> float:
    pool = router.pool
    b = pool.from_bytes([frame(version)] * batch)
    t0 = time.perf_counter()
    router.element("hf1").push(0, b)
    dt = time.perf_counter() - t0
    assert pool.n_used == 0
    return dt / batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=256)
    a = ap.parse_args()
    load_builtin()
    routers = {v: new_router(v) for v in (4, 6)}
    for v, r in routers.items():
        check(r, v)
    times = {4: [], 6: []}
    for _ in range(a.rounds):
        for v in (4, 6):
            times[v].append(one_round(routers[v], v, a.batch))
    med = {v: statistics.median(t) for v, t in times.items()}
    for v in (4, 6):
        print(f"IPv{v}: {med[v] * 1e9:8.1f} ns/packet  {1 / med[v] / 1e6:6.2f} Mpps "
              f"(median of {a.rounds} rounds at batch {a.batch}, device I/O excluded)")
    ratio = med[4] / med[6]
    print(f"IPv6 / IPv4 packets per second: {ratio:.2f} x  (target >= {TARGET}: "
          f"{'ok' if ratio >= TARGET else 'MISS'})")
    for r in routers.values():
        r.close()


if __name__ == "__main__":
    main()
