"""NAT cost per packet: IPRewriter against plain forwarding, in the same run.

A source pushes batches of UDP packets from F private flows (fresh copies of
prebuilt packets each time, so the rewriter sees private traffic every
batch) through two graphs that differ only in the IPRewriter:

    forward:  src -> CheckIPHeader -> DecIPTTL -> LookupIPRoute -> Discard
    nat:      src -> CheckIPHeader -> DecIPTTL -> IPRewriter -> LookupIPRoute -> Discard

After a warm-up pass that creates the F mappings (timed too: the cost of a
new flow, made in Python), both graphs run the same packets; the difference
is what NAT costs per packet.  The kernel alone (rewrite_batch on a batch,
one call), its plain-Python reference, and a Python dict lookup of the
batch's packed keys (the alternative to the C hash table, lookup only) are
timed as well.

    python bench/bench_nat.py [--flows F] [--packets N] [--burst B] [--repeat R] [--json out]
"""
from __future__ import annotations

import argparse
import json
import socket
import statistics
import struct
import time

import dpkt
import numpy as np

from vforward.catalogue import load_builtin
from vforward.cext import rewriter as kern
from vforward.cext import rewriter_reference as ref
from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router

NAT_ADDR = "198.51.100.1"


def flow_packets(n_flows: int, size: int = 64) -> np.ndarray:
    """(n_flows, size) uint8: one UDP packet per flow, hosts 10.x.y.z, ports vary."""
    rows = np.zeros((n_flows, size), dtype=np.uint8)
    payload = bytes(size - 28)
    for i in range(n_flows):
        src = socket.inet_aton(f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255 or 1}")
        u = dpkt.udp.UDP(sport=10000 + i % 50000, dport=53 + (i % 7), ulen=8 + len(payload),
                         data=payload)
        ip = dpkt.ip.IP(src=src, dst=socket.inet_aton(f"203.0.113.{1 + i % 200}"), p=17,
                        ttl=64, id=i & 0xFFFF, data=u)
        rows[i] = np.frombuffer(bytes(ip), dtype=np.uint8)
    return rows


class _FlowSource(Element):
    """_NATBenchSource -- pushes LIMIT copies of prebuilt packets, BURST at a time"""
    CLASS_NAME = "_NATBenchSource"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY
    templates: np.ndarray = np.zeros((1, 64), np.uint8)

    def configure(self, args):
        self.limit = int(args.positional("LIMIT"))
        self.burst = int(args.positional("BURST"))
        args.finish()
        self.count = 0
        self._next = 0

    def initialize(self):
        self._task = self.router.new_task(self._run, self)
        self._task.schedule()

    def _run(self):
        n = min(self.burst, self.limit - self.count)
        if n <= 0:
            self.router.stop(drain=True)
            return False
        t = self.templates
        size = t.shape[1]
        pool = self.router.pool
        batch = pool.alloc(n, size)
        rows = (self._next + np.arange(n)) % len(t)
        self._next = int(rows[-1] + 1) % len(t)
        h = pool.headroom
        pool.data[batch.idx, h:h + size] = t[rows]
        pool.nh[batch.idx] = h
        self.count += n
        self.emit(0, batch)
        return True


register(_FlowSource)

FORWARD = ("src :: _NATBenchSource({limit}, {burst}) -> CheckIPHeader -> DecIPTTL "
           "-> {nat}LookupIPRoute(0.0.0.0/0 0) -> Discard;")


def graph(nat: bool, limit: int, burst: int) -> Router:
    text = FORWARD.format(limit=limit, burst=burst,
                          nat=(f"rw :: IPRewriter(pattern {NAT_ADDR} 1024-65535 - - 0 0, "
                               "REAP_INTERVAL 0) -> " if nat else ""))
    return Router(build_graph(text, "<bench>"), PacketPool(4096))


def timed_run(router: Router) -> float:
    t0 = time.perf_counter()
    router.run_until_idle()
    dt = time.perf_counter() - t0
    assert router.pool.n_used == 0
    return dt


def kernel_ns(impl, templates: np.ndarray, burst: int, rounds: int) -> float:
    """ns/packet of one rewrite_batch call per batch, every packet a hit."""
    pool = PacketPool(burst + 8)
    table = impl.FlowTable(len(templates))
    n_flows = len(templates)
    for f in range(n_flows):
        s, d = struct.unpack_from("!II", templates[f].tobytes(), 12)
        sp, dp = struct.unpack_from("!HH", templates[f].tobytes(), 20)
        table.insert(17, s, sp, d, dp, 0xC6336401, 1024 + f % 60000, d, dp, 0, 2 * f)
    cols = (np.zeros(n_flows), np.zeros(n_flows, np.uint8), np.zeros(n_flows, np.uint32))
    outs = (np.empty(burst, np.uint8), np.empty(burst, np.int32), np.empty(burst, np.int32),
            np.empty((burst, 4), np.uint32))
    batch = pool.alloc(burst, templates.shape[1])
    h = pool.headroom
    total = 0.0
    for r in range(rounds):
        rows = (r * burst + np.arange(burst)) % n_flows
        pool.data[batch.idx, h:h + templates.shape[1]] = templates[rows]
        pool.nh[batch.idx] = h
        t0 = time.perf_counter()
        hits = impl.rewrite_batch(pool, batch.idx, table, 1.0, *cols, True, *outs)
        total += time.perf_counter() - t0
        assert hits == burst
    batch.kill()
    return total / (rounds * burst) * 1e9


def dict_lookup_ns(templates: np.ndarray, burst: int, rounds: int) -> float:
    """ns/packet of only looking a batch's packed keys up in a Python dict (the
    alternative to the C table): the floor of a dict-based hot path."""
    keys = np.ascontiguousarray(templates[:, 12:24])       # addresses and ports
    table = {keys[f].tobytes(): f for f in range(len(keys))}
    get = table.get
    total = 0.0
    for r in range(rounds):
        rows = (r * burst + np.arange(burst)) % len(keys)
        t0 = time.perf_counter()
        kb = keys[rows].tobytes()
        found = [get(kb[j:j + 12]) for j in range(0, 12 * burst, 12)]
        total += time.perf_counter() - t0
        assert None not in found
    return total / (rounds * burst) * 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--flows", type=int, default=10_000)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--burst", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    load_builtin()
    _FlowSource.templates = flow_packets(a.flows)

    # warm-up: every flow new once (the Python slow path), then all hits
    warm = graph(True, a.flows, a.burst)
    dt_new = timed_run(warm)
    assert warm.element("rw").read("nmappings") == str(a.flows)

    fwd, nat = [], []
    for _ in range(a.repeat):   # interleaved, so drift hits both alike
        fwd.append(timed_run(graph(False, a.packets, a.burst)) / a.packets)
        r = graph(True, a.packets, a.burst)
        rw = r.element("rw")
        rw.table = warm.element("rw").table       # the mappings the warm-up made
        nat.append(timed_run(r) / a.packets)
        assert rw.read("mapping_failures") == "0"
    f, n = statistics.median(fwd) * 1e9, statistics.median(nat) * 1e9
    k = kernel_ns(kern, _FlowSource.templates, a.burst, max(1, a.packets // a.burst // 4))
    kr = kernel_ns(ref, _FlowSource.templates[:2000], a.burst, 20)
    kd = dict_lookup_ns(_FlowSource.templates, a.burst, max(1, a.packets // a.burst // 4))
    rows = {"forward_ns_per_packet": f, "nat_ns_per_packet": n, "nat_cost_ns": n - f,
            "ratio": n / f, "kernel_ns_per_packet": k, "reference_ns_per_packet": kr,
            "dict_lookup_ns_per_packet": kd,
            "new_flow_us": dt_new / a.flows * 1e6, "flows": a.flows, "burst": a.burst}
    print(f"{a.flows} flows, batches of {a.burst}, {a.packets} packets, median of {a.repeat}")
    print(f"  forwarding (CheckIPHeader, DecIPTTL, LookupIPRoute)  {f:8.1f} ns/packet")
    print(f"  the same with IPRewriter                             {n:8.1f} ns/packet")
    print(f"  NAT cost                                             {n - f:8.1f} ns/packet "
          f"(ratio {n / f:.2f})")
    print(f"  rewrite_batch kernel alone                           {k:8.1f} ns/packet")
    print(f"  Python dict, key lookup only (no rewrite)            {kd:8.1f} ns/packet")
    print(f"  plain-Python reference                               {kr:8.1f} ns/packet "
          f"({kr / k:.0f}x the kernel)")
    print(f"  a new flow (mapping made in Python, first packet)    {dt_new / a.flows * 1e6:8.1f} "
          f"us/flow")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
