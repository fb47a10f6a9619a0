"""The fused IPv4 input path: a router's receive chain in one compiled pass.

What a router does to a frame between its device and its route lookup is,
in Click's IP router and in the lab routers alike, a chain of small steps:

    [HostEtherFilter] -> [Classifier] -> [Paint] -> [Strip] -> [Paint]
        -> CheckIPHeader -> [GetIPAddress] -> [IPClassifier] -> ...

(Click's router.click: HostEtherFilter, Classifier 12/0800, Paint, Strip(14),
CheckIPHeader(INTERFACES ...), GetIPAddress(16); a lab router: Classifier,
Strip(14), CheckIPHeader, and an IPClassifier that takes the router's own
addresses aside.)  When the graph finds such a chain behind a push
connection (past the pass-throughs it skips), it hands the upstream element
a `FusedInput` instead of the chain's first push.  For each batch it calls
cext/ipinput's `InputPass.run`, which checks every packet with the
elements' own rules (shared .pxd code) and, when every one takes the
common case (kept by the Ethernet filter, classified to the chain's output,
a good header, classified to the chain's output again), makes the elements'
changes to the whole batch at once and hands it to what follows the chain:
usually the fused forwarding pass (fusedforward.py), so that a transit
packet crosses the router in a few compiled calls.  Any other batch (ARP,
a frame for another host, a bad header, a packet for the router itself)
goes, whole and untouched, to the chain's first element, as it would have
without fusion; so outputs, errors and every element's counters are the
elements' own (in the common case none of them counts anything).

In a lab router the chain is entered through the link side: the link's
LinkProbe, its Counter and an idle Capture are crossed by one compiled
LinkStep (cext/ipforward; vforward/graph.py builds it), which keeps their
counts and hands a batch with a probe frame to the LinkProbe itself; on the
way out the same happens after the ARPQuerier (Counter, Capture, LinkProbe,
an unconditioned LinkEmulator), up to the transport's push.

An IPClassifier joins the chain only on an output that leads to a fused
forwarding pass: that is the output transit packets take.  The chain
follows the elements' state: a handler write that changes it (Paint's
color, HostEtherFilter's ether, an IPClassifier's pattern) makes the
graph build the chain again (Element.passthrough_changed).
"""
from __future__ import annotations

import numpy as np

from vforward import kernels

_ipinput = kernels.load("ipinput")


class FusedInput:
    """A push that runs a batch through the input chain in one compiled pass,
    then on to what follows the chain, or gives it to `entry`."""

    def __init__(self, entry, last, out: int, steps: dict):
        self.entry = entry              # the chain's first element
        self.entry_push = entry.push
        self.last = last                # the chain's last element, and its output taken
        self.out = out
        self.steps = steps              # InputPass keywords, but for the pool
        self.target = entry             # what the graph reports this push reaches
        self._pool = None
        self._run = None
        self._runs = {}                 # pool -> its bound pass (a router may see several pools)

    def __call__(self, port, batch):
        if batch.pool is not self._pool:
            self._bind(batch.pool)
        if self._run(batch.idx):
            last = self.last
            last._out_push[self.out](last._out_port[self.out], batch)
            return
        self.entry_push(port, batch)

    def _bind(self, pool) -> None:
        run = self._runs.get(pool)
        if run is None:
            run = self._runs[pool] = _ipinput.InputPass(pool, **self.steps).run
        self._run = run
        self._pool = pool


def fused_input(entry, port: int, resolve) -> FusedInput | None:
    """The fused input path for a push into `entry`'s input `port`, when the
    chain behind it is the one this module fuses (it must reach a
    CheckIPHeader); else None.  resolve(element, output) gives the (element,
    input) that output reaches first, or None when the way there does
    anything (a counting pass-through)."""
    if port != 0:
        return None
    found = _chain(entry, resolve, {}, 0)
    if found is None:
        return None
    last, out, steps = found
    return FusedInput(entry, last, out, steps)


# The steps in the order the chain may take them; each at most once.
_HOST, _ETHER, _PAINT, _STRIP, _CHECK, _DST, _IP = range(7)
_MAX_OFFSET = 0xFFFF        # past any packet: such a chain is left to the elements


def _chain(e, resolve, steps: dict, at: int):
    """(last element, its output, steps) of the longest chain from element e
    on (entered at input 0) that reaches a CheckIPHeader, or None; `at` is the
    first step e may be."""
    from vforward.elements.ether.hostetherfilter import HostEtherFilter
    from vforward.elements.ip.checkipheader import CheckIPHeader
    from vforward.elements.standard.classifier import Classifier
    from vforward.elements.standard.paint import Paint
    from vforward.elements.standard.strip import Strip
    kind = type(e)
    if kind is HostEtherFilter and at <= _HOST and e.offset <= _MAX_OFFSET:
        steps = dict(steps, host_mac=bytes(e.ether), host_offset=e.offset,
                     drop_own=e.drop_own, drop_other=e.drop_other)
        return _then(e, 0, resolve, steps, _ETHER)
    if kind is Classifier and at <= _ETHER:
        prog, entry = e.decision_program()
        for out in range(min(e.n_outputs, len(e.patterns))):
            accept = np.zeros(len(e.patterns) + 1, dtype=np.uint8)
            accept[out] = 1
            found = _then(e, out, resolve, dict(steps, ether_program=prog, ether_entry=entry,
                                                ether_accept=accept), _PAINT)
            if found is not None:
                return found
        return None
    if kind is Paint and at <= _CHECK and "paint" not in steps:
        # The pass sets the packet type before the paint: no HostEtherFilter after a Paint.
        return _then(e, 0, resolve, dict(steps, paint=e.anno, color=e.color), max(at, _ETHER))
    if kind is Strip and at <= _STRIP and e.length <= _MAX_OFFSET:
        return _then(e, 0, resolve, dict(steps, strip=e.length), _CHECK)
    if kind is CheckIPHeader and at <= _CHECK and e.offset <= _MAX_OFFSET:
        steps = dict(steps, check_offset=e.offset, checksum=e.checksum,
                     bad_src=e._bad_src, good_dst=e._good_dst)
        return _after_check(e, 0, resolve, steps, _DST)
    return None


def _then(e, out: int, resolve, steps: dict, at: int):
    """The chain continued past element e's output `out`."""
    step = resolve(e, out)
    if step is None or step[1] != 0:
        return None
    return _chain(step[0], resolve, steps, at)


def _after_check(e, out: int, resolve, steps: dict, at: int):
    """The chain past its header check: it may end here, at e's output `out`,
    or take in a GetIPAddress and an IPClassifier toward forwarding."""
    from vforward.elements.ip.fusedforward import fused_forward
    from vforward.elements.ip.getipaddress import GetIPAddress
    from vforward.elements.ip.ipclassifier import IPClassifier
    end = (e, out, steps)
    step = resolve(e, out)
    if step is None or step[1] != 0:
        return end
    nxt = step[0]
    if type(nxt) is GetIPAddress and at <= _DST and nxt.anno == "dst_ip":
        return _after_check(nxt, 0, resolve, dict(steps, dst_offset=nxt.offset), _IP)
    if type(nxt) is IPClassifier and at <= _IP:
        program = getattr(nxt._compiled, "program", None)
        if program is None:             # the numpy twin of the matcher: no program to share
            return end
        _, table = nxt._rule_ports()
        for o in range(nxt.n_outputs):
            after = resolve(nxt, o)
            if after is None or fused_forward(after[0], after[1], resolve) is None:
                continue
            accept = np.ascontiguousarray(table == o, dtype=np.uint8)
            return (nxt, o, dict(steps, ip_program=program, ip_entry=nxt._compiled.entry,
                                 ip_accept=accept))
    return end
