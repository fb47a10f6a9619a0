"""The ledger of a graph's packets: every slot taken is sent or dropped for a reason.

`PacketLedger(router, sinks)` counts the slots the router's pool hands out
(frames pushed in, and packets the graph makes: ICMP errors, ARP queries,
segments, clones) and takes back, and charges each slot returned to the
element whose code returned it (the nearest element method on the stack).
At the end, with nothing held:

    taken = returned                      no slot leaked: the pool is full again
    returned = sent + dropped             every packet accounted for

`sent` is what the sinks (the devices' stand-ins) took.  Every other
element that returned slots must show at least as many on its counters: a
Discard's `count`, any element's `drops` (which by Click's habit may also
count packets sent aside on output 1), and the packets an element ends on
purpose (CONSUMED: ARP replies ARPQuerier learns from, packets ICMPError
answers with a new packet).  An element that returned more than its
counters say dropped packets silently: `Balance.problems()` names it.

Slots an element took and gives back unused within the same push (room
for segments it could not all get, when the pool runs short) were never
packets: they are `unused`, not drops.  Super-frames that software
offload replaced by their segments are returned under SEGMENTED, not
charged to the element (which counts, in `drops`, those it could not cut).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from vforward.element import Element

# Elements that end packets as their job, and the counter that says how many.
CONSUMED = {"ICMPError": "count", "ARPQuerier": "responses"}
SEGMENTED = "(super-frames replaced by their segments)"


@dataclass
class Balance:
    taken: int
    returned: int
    sent: int
    freed: dict = field(default_factory=dict)     # element -> slots it returned (not unused)
    unused: int = 0                               # fresh slots returned unused
    counted: dict = field(default_factory=dict)   # element -> its drop (+ consumed) counters
    free: int = 0
    slots: int = 0

    @property
    def leaked(self) -> int:
        return self.taken - self.returned

    @property
    def dropped(self) -> int:
        return self.returned - self.unused - self.sent

    def uncounted(self) -> dict:
        """element -> packets it returned to the pool beyond what its counters show."""
        return {e: n - self.counted.get(e, 0) for e, n in self.freed.items()
                if n > self.counted.get(e, 0) and e != SEGMENTED}

    def problems(self) -> list[str]:
        out = []
        if self.leaked or self.free != self.slots:
            out.append(f"{self.leaked} slots taken and never returned; the pool has "
                       f"{self.free} of {self.slots} free")
        for e, n in sorted(self.uncounted().items()):
            out.append(f"{e} dropped {n} packets no counter of its own shows "
                       f"(returned {self.freed[e]}, counted {self.counted.get(e, 0)})")
        return out


def _counter(element, handler: str) -> int:
    h = element.handlers().get(handler)
    if h is None or h.read is None or h.read_takes_arg:
        return 0
    try:
        return int(element.read(handler))
    except (ValueError, TypeError):
        return 0


def _freeing_element(frame) -> str:
    """The element whose method is nearest on the stack.  A table an element
    owns (`arpq/table`) is charged to its owner, whose counters include it."""
    while frame is not None:
        if frame.f_code.co_name == "software_offload" and \
                frame.f_globals.get("__name__") == "vforward.offload":
            return SEGMENTED
        me = frame.f_locals.get("self")
        if isinstance(me, Element):
            return me.name.split("/", 1)[0]
        frame = frame.f_back
    return "(outside any element)"


class PacketLedger:
    """Counts a router's pool traffic from now on; `balance()` says where it went."""

    def __init__(self, router, sinks: list[str]):
        self.router = router
        self.pool = router.pool
        self.sinks = list(sinks)
        self.taken = 0
        self.returned = 0
        self.freed: dict[str, int] = {}
        self.unused = 0
        self.epoch = 1                   # the caller bumps it once per push
        pool = self.pool
        alloc, free = pool.alloc, pool.free
        taken_in = np.zeros(pool.n_slots, dtype=np.int64)       # epoch a slot was taken in
        taken_by: dict[int, str] = {}                            # slot -> element, this epoch

        def counting_alloc(n, length=0):
            batch = alloc(n, length)
            self.taken += len(batch.idx)
            if len(batch.idx):
                taken_in[batch.idx] = self.epoch
                who = _freeing_element(sys._getframe(1))
                for s in batch.idx.tolist():
                    taken_by[s] = who
            return batch

        def counting_free(idx):
            n = len(idx)
            if not n:
                return free(idx)
            who = _freeing_element(sys._getframe(1))
            fresh = taken_in[idx] == self.epoch
            if fresh.any():
                fresh &= np.array([taken_by.get(int(s)) == who for s in idx], dtype=bool)
            free(idx)
            self.returned += n
            unused = int(fresh.sum())
            self.unused += unused
            if n - unused:
                self.freed[who] = self.freed.get(who, 0) + n - unused

        pool.alloc = counting_alloc      # instance attributes: the class is left alone
        pool.free = counting_free
        self._base = self._counters()

    def _counters(self) -> dict:
        out = {}
        for name, element in self.router.elements.items():
            kind = type(element).__name__
            value = _counter(element, "count" if kind == "Discard" else "drops")
            if kind in CONSUMED:
                value += _counter(element, CONSUMED[kind])
            out[name] = value
        return out

    def balance(self) -> Balance:
        now = self._counters()
        counted = {k: v - self._base.get(k, 0) for k, v in now.items() if v != self._base.get(k, 0)}
        sent = sum(self.freed.get(s, 0) for s in self.sinks)
        return Balance(taken=self.taken, returned=self.returned, sent=sent, unused=self.unused,
                       freed=dict(self.freed), counted=counted, free=self.pool.n_free,
                       slots=self.pool.n_slots)
