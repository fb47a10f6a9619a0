"""One idle packet through a lab router's graph: the Python cost of a transit hop.

Renders the router config `vforward topo` generates for r2 of the bundled
ring (configs/labs/ring4.yaml: h1 - r1 - r2 - r3 - h2), replaces its devices
and links by an entry (Idle) and a Discard each, fills the ARP entry of the
next hop (r3), and pushes one 98-byte ping frame from the link to r1 into
the graph, timing the push until the frame has left toward r3 (the graph is
synchronous).  Device and link I/O are not included.  The frame crosses
what a lab router runs: LinkProbe, Counter, Capture, Classifier, Strip,
CheckIPHeader, IPClassifier, DecIPTTL, FlowRoutes, the route table,
IPFragmenter, ARPQuerier, Counter, Capture, LinkProbe, LinkEmulator.

    python bench/bench_lab_router_path.py [--rounds N] [--cold] [--batch B]

"warm" is the median of back-to-back pushes; "cold" (with --cold) the
median of pushes made after sweeping 32 MiB, closer to what an idle ping
meets.  Run it with two trees' interpreters to compare them.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import time

import dpkt

from bench_router_path import sweep_cache    # the same cold-cache sweep
from vforward.catalogue import load_builtin
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router
from vforward.topo import addressing, render
from vforward.topo.model import load_lab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RING = os.path.join(ROOT, "configs", "labs", "ring4.yaml")


def lab_router_text(lab, node: str) -> str:
    """The node's generated config with every device and link an Idle entry and a Discard."""
    placement = {n: 0 for n in lab.nodes}
    text = render.router_config(lab, lab.nodes[node], placement=placement)
    for dev in re.findall(r"^(\w+) :: (?:KernelTap|InProcessLink)\(.*?\);", text, flags=re.M):
        text = re.sub(rf"^{dev} :: (?:KernelTap|InProcessLink)\(.*?\);", "", text, flags=re.M)
        text = re.sub(rf"-> {dev};", f"-> {dev}_out :: Discard;", text)
        text = re.sub(rf"^{dev} ->", f"{dev}_in :: Idle ->", text, flags=re.M)
    return text


def ping_frame(lab, prev: str, node: str, src_host: str, dst_host: str) -> tuple[bytes, object]:
    """The echo request as it arrives at `node` from `prev`, and node's receiving interface."""
    iface = next(i for i in lab.nodes[node].interfaces.values() if i.link.other(i).node == prev)
    peer = iface.link.other(iface)
    src = lab.nodes[src_host].interfaces["eth1"].address.ip
    dst = lab.nodes[dst_host].interfaces["eth1"].address.ip
    icmp = dpkt.icmp.ICMP(type=8, code=0,
                          data=dpkt.icmp.ICMP.Echo(id=0x1234, seq=1, data=bytes(range(56))))
    ip = dpkt.ip.IP(src=src.packed, dst=dst.packed, ttl=63, p=1, id=7, df=1, data=icmp)
    ip.len = len(bytes(ip))
    eth = dpkt.ethernet.Ethernet(src=bytes.fromhex(peer.mac.replace(":", "")),
                                 dst=bytes.fromhex(iface.mac.replace(":", "")), type=0x0800, data=ip)
    return bytes(eth), iface


def new_router(lab, node: str, nxt: str) -> tuple[Router, str, str]:
    """The router, its entry (the link from the previous node) and the sink toward `nxt`."""
    router = Router(build_graph(lab_router_text(lab, node), f"{node}.click"), PacketPool(1024))
    router.initialize()
    out = next(i for i in lab.nodes[node].interfaces.values() if i.link.other(i).node == nxt)
    peer = out.link.other(out)
    e = render.element_prefix(out)
    router.element(f"{e}_arpq").write("insert", f"{peer.address.ip} {peer.mac}")
    return router, e




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3000)
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--batch", type=int, default=1)
    a = ap.parse_args()
    load_builtin()
    lab = addressing.assign(load_lab(RING))
    router, out_e = new_router(lab, "r2", "r3")
    frame, iface = ping_frame(lab, "r1", "r2", "h1", "h2")
    entry = router.element(f"{render.element_prefix(iface)}_wire_in")
    sink = router.element(f"{out_e}_wire_out")
    got = []
    push = sink.push
    sink.push = lambda port, batch: (got.extend(batch.to_bytes()), push(port, batch))
    if hasattr(sink, "passthrough_changed"):
        sink.passthrough_changed()
    else:       # a tree without pass-through skipping wires bound pushes once
        for e in router.elements.values():
            e._out_push = [sink.push if getattr(p, "__self__", None) is sink else p
                           for p in e._out_push]
    pool = router.pool

    def one(cold: bool) -> float:
        b = pool.from_bytes([frame] * a.batch)
        if cold:
            sweep_cache()
        t0 = time.perf_counter()
        entry._out_push[0](entry._out_port[0], b)
        return time.perf_counter() - t0
    one(False)
    assert len(got) == a.batch and dpkt.ethernet.Ethernet(got[0]).data.ttl == 62, \
        "the ping did not leave toward r3 with its TTL decremented"
    warm = statistics.median(one(False) for _ in range(a.rounds)) / a.batch
    line = f"transit   warm {warm * 1e6:8.3f} us"
    if a.cold:
        cold = statistics.median(one(True) for _ in range(max(20, a.rounds // 50))) / a.batch
        line += f"   cold {cold * 1e6:8.3f} us"
    assert pool.n_used == 0
    print(line + f"   (median per packet at batch {a.batch})")
    router.close()


if __name__ == "__main__":
    main()
