"""The fused IPv4 forwarding path: a router's forwarding chain in one compiled pass.

A router's common chain after the header check is, per packet, the same
few steps whichever way a config orders them:

    [DecIPTTL] -> route table -> [DecIPTTL] -> [IPFragmenter] -> ARPQuerier -> ...

(the lab routers decrement before the lookup, Click's IP router after it;
Click's AF_PACKET router has no IPFragmenter, and then nothing checks an MTU).
When the graph finds this chain behind a push connection (past the
pass-throughs it skips), it hands the upstream element a `FusedForward`
instead of the chain's first push.  For each batch it looks the
destinations up (one compiled lookup) and, when every packet leaves by one
output, calls cext/ipforward's `forward_to_port`, which does the TTL,
gateway, port annotation, MTU check and Ethernet header of the whole batch
at once and hands it to what follows the ARPQuerier.  Whatever that kernel
does not finish (an expired TTL, no route, a multipath route, a packet
over the MTU, a next hop ARP must ask for, a batch for several outputs)
goes, whole and untouched, to the chain's first element as it would have
without fusion; so outputs, errors and every element's counters are the
elements' own.  The only counter the fused pass keeps is DecIPTTL's count.
"""
from __future__ import annotations

import math

import numpy as np

from vforward import kernels

_ipforward = kernels.load("ipforward")
_NO_MTU = 1 << 20       # above any IP datagram: the MTU check of a chain without IPFragmenter


class _PortPlan:
    """What the chain does on one output of the route table."""
    __slots__ = ("ttl", "mtu", "querier", "src_mac")

    def __init__(self, ttl, mtu, querier):
        self.ttl = ttl                  # the DecIPTTL on this output, or None
        self.mtu = mtu
        self.querier = querier
        self.src_mac = querier._eth_row


class FusedForward:
    """A push that forwards a batch in one compiled pass, or gives it to `entry`."""

    def __init__(self, entry, ttl, table, plans: dict):
        self.entry = entry              # the chain's first element
        self.entry_push = entry.push
        self.ttl = ttl                  # the DecIPTTL ahead of the table, or None
        self.table = table              # the route table element
        self.plans = plans              # route table output -> _PortPlan
        self.target = entry             # what the graph reports this push reaches
        self._nhs = np.empty(0, dtype=np.uint16)

    def __call__(self, port, batch):
        # One Python frame for the whole pass: a cold packet pays per call.
        idx = batch.idx
        n = len(idx)
        if n and idx.flags.c_contiguous:
            pool = batch.pool
            nhs = self._nhs
            if len(nhs) < n:
                nhs = self._nhs = np.empty(max(n, len(pool.dst_ip)), dtype=np.uint16)
            table = self.table.table
            table.fib.lookup_indexed(pool.dst_ip, idx, nhs)
            out = table.nh_port.item(nhs.item(0))
            plan = self.plans.get(out)
            if plan is not None:
                q = plan.querier
                arp = q.table
                if arp is not None and q.ipaddr:
                    if arp._index_dirty:
                        arp._rebuild_index()
                    now = q.router.loop.time()      # Router.now without its Python frame
                    if _ipforward.forward_to_port(
                            pool, idx, nhs, table.nh_port, table.nh_gw, out, True, plan.mtu,
                            arp._sorted_ips, arp._sorted_rows, arp._known, arp._live, arp._mac,
                            plan.src_mac, now - arp.timeout if arp.timeout else -math.inf,
                            now - q.poll_timeout if q.poll_timeout else -math.inf):
                        (self.ttl if self.ttl is not None else plan.ttl).count += n
                        q._out_push[0](q._out_port[0], batch)
                        return
        self.entry_push(port, batch)


def fused_forward(entry, port: int, resolve) -> FusedForward | None:
    """The fused path for a push into `entry`'s input `port`, when the chain
    behind it is the one this module fuses; else None.  resolve(element,
    output) gives the (element, input) that output reaches first, or None
    when the way there does anything (a counting pass-through)."""
    from vforward.elements.ip.decipttl import DecIPTTL
    from vforward.elements.ip.iproutetable import IPRouteTable, IPV4
    ttl = None
    table = entry
    if type(entry) is DecIPTTL:
        if port != 0 or not entry.multicast:
            return None
        ttl = entry
        step = resolve(entry, 0)
        if step is None or step[1] != 0:
            return None
        table = step[0]
    if not isinstance(table, IPRouteTable) or table.FAMILY is not IPV4 \
            or type(table).push is not IPRouteTable.push or port != 0 \
            or not hasattr(getattr(table, "table", None), "fib"):
        return None
    plans = {}
    for out in range(table.n_outputs):
        plan = _port_plan(table, out, ttl is None, resolve)
        if plan is not None:
            plans[out] = plan
    if not plans:
        return None
    return FusedForward(entry, ttl, table, plans)


def _port_plan(table, out: int, may_decrement: bool, resolve) -> _PortPlan | None:
    """The chain on route table output `out`: [DecIPTTL] -> [IPFragmenter] -> ARPQuerier."""
    from vforward.elements.ether.arpquerier import ARPQuerier
    from vforward.elements.ip.decipttl import DecIPTTL
    from vforward.elements.ip.ipfragmenter import IPFragmenter
    step = resolve(table, out)
    ttl = None
    if step is not None and type(step[0]) is DecIPTTL:
        if not may_decrement or step[1] != 0 or not step[0].multicast:
            return None
        ttl = step[0]
        step = resolve(ttl, 0)
    if ttl is None and may_decrement:
        return None                     # no DecIPTTL on this path: not the router chain
    mtu = _NO_MTU                       # no IPFragmenter (Click's AF_PACKET router): no limit
    if step is not None and type(step[0]) is IPFragmenter and step[1] == 0:
        mtu = step[0].mtu
        step = resolve(step[0], 0)
    if step is None or type(step[0]) is not ARPQuerier or step[1] != 0:
        return None
    return _PortPlan(ttl, mtu, step[0])
