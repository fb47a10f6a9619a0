"""The fused IPv6 forwarding path: a router's IPv6 output chain in one compiled pass.

IPv6's counterpart of elements/ip/fusedforward.py.  A router's chain after
the header check is, per output of the route table,

    route table -> DecIP6HLim -> CheckLength(MTU) -> IP6NDSolicitor -> ...

(configs/examples/router6.click).  When the graph finds this chain behind a
push connection (past the pass-throughs it skips), it hands the upstream
element a `FusedForward6` instead of the table's push.  For each batch it
looks the destinations up (one call of the compiled Fib6) and, when every
packet leaves by one output, calls cext/ip6forward's `forward6_to_port`,
which does the gateway, port annotation, hop limit, length check and
Ethernet header of the whole batch at once and hands it to what follows
the IP6NDSolicitor.  Whatever that kernel does not finish (an expiring hop
limit, no route, a multipath route, a packet too big, a neighbour to
solicit, a batch for several outputs) goes, whole and untouched, to the
route table's own push, as it would have without fusion; so outputs,
errors and every element's counters are the elements' own.  The only
counter the fused pass keeps is DecIP6HLim's count.
"""
from __future__ import annotations

import math

import numpy as np

from vforward import kernels

_ip6forward = kernels.load("ip6forward")


class _PortPlan:
    """What the chain does on one output of the route table."""
    __slots__ = ("hlim", "max_length", "segments", "solicitor", "src_mac")

    def __init__(self, hlim, check_length, solicitor):
        self.hlim = hlim                # the DecIP6HLim on this output
        self.max_length = check_length.max_length
        self.segments = check_length.segments
        self.solicitor = solicitor
        self.src_mac = solicitor._eth_row


class FusedForward6:
    """A push that forwards a batch in one compiled pass, or gives it to the table."""

    def __init__(self, table, plans: dict):
        self.entry = table
        self.entry_push = table.push
        self.table = table              # the route table element
        self.plans = plans              # route table output -> _PortPlan
        self.target = table             # what the graph reports this push reaches
        self._nhs = np.empty(0, dtype=np.uint16)

    def __call__(self, port, batch):
        idx = batch.idx
        n = len(idx)
        if n and idx.flags.c_contiguous:
            pool = batch.pool
            nhs = self._nhs
            if len(nhs) < n:
                nhs = self._nhs = np.empty(max(n, len(pool.dst_ip6)), dtype=np.uint16)
            table = self.table.table
            table.fib.lookup_indexed(pool.dst_ip6, idx, nhs)
            out = table.nh_port.item(nhs.item(0))
            plan = self.plans.get(out)
            if plan is not None:
                q = plan.solicitor
                nd = q.table
                if nd is not None:
                    if nd._index_dirty:
                        nd._rebuild_index()
                    if _ip6forward.forward6_to_port(
                            pool, idx, nhs, table.nh_port, table.nh_via, table.nh_gw, out, True,
                            plan.max_length, plan.segments, nd._sorted_ips, nd._sorted_rows,
                            nd._known, nd._live, nd._mac, plan.src_mac,
                            q.router.loop.time() - nd.timeout if nd.timeout else -math.inf):
                        plan.hlim.count += n
                        q._out_push[0](q._out_port[0], batch)
                        return
        self.entry_push(port, batch)


def fused_forward6(table, port: int, resolve) -> FusedForward6 | None:
    """The fused path for a push into IPv6 route table `table`'s input `port`,
    when the chains behind its outputs are the one this module fuses; else
    None.  resolve(element, output) gives the (element, input) that output
    reaches first, or None when the way there does anything."""
    from vforward.elements.ip.iproutetable import IPRouteTable
    from .ip6family import IPV6
    if not isinstance(table, IPRouteTable) or table.FAMILY is not IPV6 \
            or type(table).push is not IPRouteTable.push or port != 0 \
            or not hasattr(getattr(table, "table", None), "fib"):
        return None
    plans = {}
    for out in range(table.n_outputs):
        plan = _port_plan(table, out, resolve)
        if plan is not None:
            plans[out] = plan
    if not plans:
        return None
    return FusedForward6(table, plans)


def _port_plan(table, out: int, resolve) -> _PortPlan | None:
    """The chain on route table output `out`: DecIP6HLim -> CheckLength -> IP6NDSolicitor."""
    from vforward.elements.standard.checklength import CheckLength
    from .decip6hlim import DecIP6HLim, DecIP6HLIM
    from .ip6ndsolicitor import IP6NDSolicitor
    step = resolve(table, out)
    if step is None or type(step[0]) not in (DecIP6HLim, DecIP6HLIM) or step[1] != 0:
        return None
    hlim = step[0]
    step = resolve(hlim, 0)
    if step is None or type(step[0]) is not CheckLength or step[1] != 0:
        return None
    check_length = step[0]
    step = resolve(check_length, 0)
    if step is None or type(step[0]) is not IP6NDSolicitor or step[1] != 0:
        return None
    return _PortPlan(hlim, check_length, step[0])
