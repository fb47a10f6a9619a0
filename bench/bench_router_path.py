"""One idle packet through the example IP router: the Python cost of a ping.

Builds configs/examples/router.click with its two KernelTap devices
replaced by a named entry and a Discard per interface (`in1`/`in2` feed
the HostEtherFilters, `if1`/`if2` take what the router sends), fills both
ARP tables as a host's ARP replies would, and pushes one Ethernet frame at
a time out of the receiving device's entry, as the device does (so a fused
path the graph put behind it is taken), timing the push until
the frame has left by the other device (the graph is synchronous, so the
push returns once the packet is out).  The device I/O itself (read/write on
the TAPs) is not included.  Three paths are measured, each at batch 1:

  request   host A -> host B echo request, forwarded: HostEtherFilter,
            Classifier, Paint, Strip, CheckIPHeader(INTERFACES),
            GetIPAddress(16), RadixIPLookup, DecIPTTL, IPFragmenter,
            ARPQuerier (resolved) into if2
  reply     host B -> host A echo reply, forwarded the other way into if1
  local     host A -> router echo request (ping 10.1.0.1): the same input
            path, then IPClassifier, ICMPPingResponder, the route lookup
            again and the output path of interface 1

Every frame built outside the timing; the first round of each path is
checked (right output device, TTL decremented, Ethernet header rewritten)
before timing starts.  "warm" is the median of back-to-back pushes; "cold"
(with --cold) is the median of pushes made after sweeping a buffer larger
than the last-level cache, which is closer to what an idle ping meets.

    python bench/bench_router_path.py [--rounds N] [--cold] [--profile PATH]

--profile runs cProfile over the warm rounds of one path (request, reply,
local) and prints the top functions by internal time.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import time

import dpkt
import numpy as np

from vforward.catalogue import load_builtin
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "examples", "router.click")

HOST_A, HOST_A_ETH = "10.1.0.2", "02:00:0a:01:00:02"
HOST_B, HOST_B_ETH = "10.2.0.2", "02:00:0a:02:00:02"
ROUTER_A, ROUTER_A_ETH = "10.1.0.1", "02:00:0a:01:00:01"
ROUTER_B_ETH = "02:00:0a:02:00:01"


def router_text() -> str:
    """router.click with the devices replaced by an entry and a sink each, no control socket."""
    with open(CONFIG) as f:
        text = f.read()
    text = re.sub(r"^ControlSocket\(.*?\);", "", text, flags=re.M)
    for n in (1, 2):
        text, k = re.subn(rf"^if{n} :: KernelTap\(.*?\);", f"if{n} :: Discard; in{n} :: Idle;",
                          text, flags=re.M | re.S)
        assert k == 1, f"router.click no longer declares if{n} as expected"
        text, k = re.subn(rf"^if{n} -> HostEtherFilter", f"in{n} -> hf{n} :: HostEtherFilter",
                          text, flags=re.M)
        assert k == 1, f"router.click no longer feeds if{n} into a HostEtherFilter"
    return text


def mac(text: str) -> bytes:
    return bytes(int(b, 16) for b in text.split(":"))


def ip4(text: str) -> bytes:
    return bytes(int(b) for b in text.split("."))


def echo_frame(src: str, dst: str, src_eth: str, dst_eth: str, icmp_type: int) -> bytes:
    """A 98-byte ping frame (56 data bytes, as ping sends), checksums right."""
    icmp = dpkt.icmp.ICMP(type=icmp_type, code=0,
                          data=dpkt.icmp.ICMP.Echo(id=0x1234, seq=1, data=bytes(range(56))))
    ip = dpkt.ip.IP(src=ip4(src), dst=ip4(dst), ttl=64, p=1, id=7, df=1, data=icmp)
    ip.len = len(bytes(ip))
    return bytes(dpkt.ethernet.Ethernet(src=mac(src_eth), dst=mac(dst_eth), type=0x0800, data=ip))


# name -> (entry element, frame, the querier whose output is the leaving device, expected
#          Ethernet destination, expected IP TTL)
PATHS = {
    "request": ("in1", echo_frame(HOST_A, HOST_B, HOST_A_ETH, ROUTER_A_ETH, 8), "arpq2",
                HOST_B_ETH, 63),
    "reply": ("in2", echo_frame(HOST_B, HOST_A, HOST_B_ETH, ROUTER_B_ETH, 0), "arpq1",
              HOST_A_ETH, 63),
    "local": ("in1", echo_frame(HOST_A, ROUTER_A, HOST_A_ETH, ROUTER_A_ETH, 8), "arpq1",
              HOST_A_ETH, 254),
}


def new_router() -> Router:
    router = Router(build_graph(router_text(), CONFIG), PacketPool(1024))
    router.initialize()
    router.element("arpq1").write("insert", f"{HOST_A} {HOST_A_ETH}")
    router.element("arpq2").write("insert", f"{HOST_B} {HOST_B_ETH}")
    return router


def check(router: Router, name: str) -> None:
    """One frame through the path: it must leave by the right device, rewritten."""
    entry, frame, querier, dst_eth, ttl = PATHS[name]
    out = []
    q = router.element(querier)
    saved = q._out_push[0]
    q._out_push[0] = lambda port, batch: (out.extend(batch.to_bytes()), batch.kill())
    try:
        device_push(router, entry)(router.pool.from_bytes([frame]))
    finally:
        q._out_push[0] = saved
    assert len(out) == 1, f"{name}: {len(out)} frames left by {querier}'s device, expected 1"
    eth = dpkt.ethernet.Ethernet(out[0])
    assert eth.dst == mac(dst_eth) and eth.type == 0x0800, f"{name}: wrong Ethernet header"
    ip = eth.data
    assert ip.ttl == ttl, f"{name}: TTL {ip.ttl}, expected {ttl}"
    assert ip.sum == dpkt.ip.IP(bytes(ip)).sum, f"{name}: bad IP checksum"


def device_push(router: Router, entry: str):
    """push(batch) as the receiving device hands a batch to the graph."""
    e = router.element(entry)
    return lambda batch: e._out_push[0](e._out_port[0], batch)


_SWEEP = None


def sweep_cache() -> None:
    """Touch 32 MiB so that the next push finds little of the router in cache."""
    global _SWEEP
    if _SWEEP is None:
        _SWEEP = np.ones(32 << 20, dtype=np.uint8)
    _SWEEP[::64] += 1


def measure(router: Router, name: str, rounds: int, cold: bool = False, batch: int = 1) -> float:
    """Median seconds per frame from the receiving to the sending device, `batch` at a time."""
    entry, frame, _, _, _ = PATHS[name]
    push = device_push(router, entry)
    pool = router.pool
    times = []
    for _ in range(rounds):
        b = pool.from_bytes([frame] * batch)
        if cold:
            sweep_cache()
        t0 = time.perf_counter()
        push(b)
        times.append(time.perf_counter() - t0)
    assert pool.n_used == 0, f"{name}: {pool.n_used} slots still in use after the rounds"
    return statistics.median(times) / batch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3000)
    ap.add_argument("--cold", action="store_true", help="also time pushes after a cache sweep")
    ap.add_argument("--profile", choices=sorted(PATHS), help="cProfile one path instead")
    ap.add_argument("--batch", type=int, default=1,
                    help="frames per push (256: the cost per packet under load)")
    a = ap.parse_args()
    load_builtin()
    router = new_router()
    for name in PATHS:
        check(router, name)
    if a.profile:
        import cProfile
        import pstats
        prof = cProfile.Profile()
        prof.enable()
        measure(router, a.profile, a.rounds, batch=a.batch)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)
        return
    print(f"{'path':<10}{'warm us':>10}" + (f"{'cold us':>10}" if a.cold else ""))
    for name in PATHS:
        warm = measure(router, name, a.rounds, batch=a.batch)
        line = f"{name:<10}{warm * 1e6:>10.3f}"
        if a.cold:
            cold = measure(router, name, max(20, a.rounds // 50), cold=True, batch=a.batch)
            line += f"{cold * 1e6:>10.3f}"
        print(line)
    router.close()
    print(f"(median per packet at batch {a.batch}, device I/O excluded)")


if __name__ == "__main__":
    main()
