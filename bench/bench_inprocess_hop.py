"""What an in-process hop costs: a packet across r1 - r2 - r3 of the bundled
ring, the three routers in one process as a lab worker runs them.

Renders the configs `vforward topo` generates for the ring (configs/labs/
ring4.yaml) with every router in one process, so that router-router links
are InProcessLinks; each router's devices (the hosts' TAPs and its own
kernel's) become an entry (Idle) and a Discard.  The routers get their
packet pools as the tree's lab worker gives them (one pool shared by the
worker's routers where the worker does that; a pool each otherwise) and
run on one loop (a RouterGroup).  One frame is pushed into r1 from h1's
side, from a callback of the loop, and timed until it leaves r3 toward h2,
the loop running in between as it would: so the time is three graph
passes and two in-process hand-offs, with whatever turns of the loop and
copies the tree's link needs.

    python bench/bench_inprocess_hop.py [--rounds N] [--cold] [--frame ping|super] [--batch B]

`ping` is a 98-byte echo request; `super` a 30,000-byte TCP super-frame
(GSO, MSS 1448) as a TAP with offloads hands over.  "cold" (with --cold)
is the median of pushes made after sweeping 32 MiB.  With --batch B, B
copies of the frame go in one push and the time is per packet (a burst
as a flood brings it).  Run it with two
trees' interpreters, in turns, to compare them.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import struct
import time

import dpkt

from bench_router_path import sweep_cache    # the same cold-cache sweep
from vforward.catalogue import load_builtin
from vforward.graph import build_graph
from vforward.packet import GSO_SLOT_SIZE, GSO_TCPV4, PacketPool
from vforward.runtime import RouterGroup
from vforward.topo import addressing, render
from vforward.topo.model import load_lab

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RING = os.path.join(ROOT, "configs", "labs", "ring4.yaml")
PATH = ["r1", "r2", "r3"]
SLOTS = 512


def router_text(lab, node: str) -> str:
    """The node's generated config, every router in one process; its TAPs an
    Idle entry and a Discard each, its in-process links kept."""
    text = render.router_config(lab, lab.nodes[node], placement={n: 0 for n in lab.nodes})
    for dev in re.findall(r"^(\w+) :: KernelTap\(.*?\);", text, flags=re.M):
        text = re.sub(rf"^{dev} :: KernelTap\(.*?\);", "", text, flags=re.M)
        text = re.sub(rf"-> {dev};", f"-> {dev}_out :: Discard;", text)
        text = re.sub(rf"^{dev} ->", f"{dev}_in :: Idle ->", text, flags=re.M)
    return text


def pools_for(graphs: list) -> list:
    """The pools the tree's lab worker would give these routers (big slots:
    lab routers have TAPs with offloads)."""
    try:
        from vforward.topo.worker import shared_pools
    except ImportError:
        return [PacketPool(SLOTS, slot_size=GSO_SLOT_SIZE, huge_pages=False) for _ in graphs]
    pool = PacketPool(SLOTS * len(graphs), slot_size=GSO_SLOT_SIZE, huge_pages=False)
    assert len({id(p) for p in shared_pools(graphs).values()}) == 1, "the worker shares no pool"
    return [pool] * len(graphs)


def iface_toward(lab, node: str, other: str):
    return next(i for i in lab.nodes[node].interfaces.values() if i.link.other(i).node == other)


def frame_from_h1(lab, kind: str) -> tuple[bytes, dict]:
    """The frame h1 sends toward h2, as r1 reads it, and its annotations."""
    iface = iface_toward(lab, "r1", "h1")
    src = lab.nodes["h1"].interfaces["eth1"].address.ip
    dst = lab.nodes["h2"].interfaces["eth1"].address.ip
    if kind == "ping":
        data = dpkt.icmp.ICMP(type=8, code=0,
                              data=dpkt.icmp.ICMP.Echo(id=0x1234, seq=1, data=bytes(range(56))))
        ip = dpkt.ip.IP(src=src.packed, dst=dst.packed, ttl=64, p=1, id=7, df=1, data=data)
        ann = {}
    else:
        payload = bytes(range(256)) * 117       # 29,952 bytes: 21 segments of 1448 and a tail
        data = dpkt.tcp.TCP(sport=5001, dport=5201, seq=1, flags=0x18, win=65535, data=payload)
        ip = dpkt.ip.IP(src=src.packed, dst=dst.packed, ttl=64, p=6, id=7, df=1, data=data)
        ann = {"gso_type": GSO_TCPV4, "gso_size": 1448}
    ip.len = len(bytes(ip))
    eth = dpkt.ethernet.Ethernet(src=bytes.fromhex(iface.link.other(iface).mac.replace(":", "")),
                                 dst=bytes.fromhex(iface.mac.replace(":", "")), type=0x0800, data=ip)
    frame = bytes(eth)
    if ann:
        ann.update(csum_start=0, csum_offset=16)
    return frame, ann




def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2000)
    ap.add_argument("--cold", action="store_true")
    ap.add_argument("--frame", choices=("ping", "super"), default="ping")
    ap.add_argument("--batch", type=int, default=1, help="frames per push (default 1)")
    a = ap.parse_args()
    load_builtin()
    lab = addressing.assign(load_lab(RING))
    graphs = [build_graph(router_text(lab, n), f"{n}.click") for n in PATH]
    group = RouterGroup()
    routers = [group.add(n, g, p) for n, g, p in zip(PATH, graphs, pools_for(graphs))]
    group.initialize()
    for node, nxt in zip(PATH, PATH[1:] + ["h2"]):
        out = iface_toward(lab, node, nxt)
        peer = out.link.other(out)
        routers[PATH.index(node)].element(f"{render.element_prefix(out)}_arpq").write(
            "insert", f"{peer.address.ip} {peer.mac}")
    entry = routers[0].element(f"{render.element_prefix(iface_toward(lab, 'r1', 'h1'))}_wire_in")
    sink = routers[-1].element(f"{render.element_prefix(iface_toward(lab, 'r3', 'h2'))}_wire_out")
    frame, ann = frame_from_h1(lab, a.frame)
    if ann:       # the partial checksum starts after the IP header, at the TCP header
        ann["csum_start"] = routers[0].pool.headroom + 14 + 20
    got, at = [], []
    push = sink.push

    def arrived(port, batch):
        at.append(time.perf_counter())
        got.extend(len(f) for f in batch.to_bytes())
        push(port, batch)
        group.loop.stop()
    sink.push = arrived
    sink.passthrough_changed()
    loop, pool = group.loop, routers[0].pool

    def one(cold: bool) -> float:
        b = pool.from_bytes([frame] * a.batch)
        for name, value in ann.items():
            getattr(pool, name)[b.idx] = value
        start = []

        def send():
            if cold:
                sweep_cache()
            start.append(time.perf_counter())
            entry._out_push[0](entry._out_port[0], b)
        got.clear()
        at.clear()
        loop.call_soon(send)
        loop.run_forever()
        return (at[0] - start[0]) / a.batch
    one(False)
    assert got == [len(frame)] * a.batch, \
        f"r3 sent {got} toward h2, not the {len(frame)}-byte frames whole"
    warm = statistics.median(one(False) for _ in range(a.rounds))
    line = f"r1 -> r2 -> r3, {a.frame} ({len(frame)} bytes) x {a.batch}: warm {warm * 1e6:8.2f} us"
    if a.cold:
        cold = statistics.median(one(True) for _ in range(max(20, a.rounds // 50)))
        line += f"   cold {cold * 1e6:8.2f} us"
    print(line + ("" if a.batch == 1 else " per packet"))
    for r in routers:
        assert r.pool.n_used == 0, "slots left in use"
        r.cleanup()
    loop.close()


if __name__ == "__main__":
    main()
