"""The mapping capacity one or more rewriters draw on, and who is evicted at it.

Click's rule, kept here: a flow is *guaranteed* for GUARANTEE seconds after
each of its packets, then *best-effort* until its timeout.  A new flow that
finds the capacity reached evicts the best-effort flow that would expire
first (whichever rewriter sharing the capacity holds it); when every flow is
still guaranteed the new flow is refused instead (admission control).  A new
flow with no guarantee of its own (GUARANTEE 0) is refused when it would
itself expire first.

Several rewriters share one capacity when one names another in
MAPPING_CAPACITY: the capacity is then the named one's, and a flood of new
flows through one can evict the other's idle flows.
"""
from __future__ import annotations

import numpy as np


class MappingCapacity:
    """A bound on live flows, shared by the rewriters in `members`."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self.members: list = []         # rewriter elements (IPRewriterBase)

    def size(self) -> int:
        return sum(m.table.size for m in self.members)

    def full(self) -> bool:
        return self.size() >= self.capacity

    def _earliest(self, now: float, guaranteed: bool):
        """(member, flow, deadline) of the evictable flow that ends first: among
        best-effort flows by expiry, or (guaranteed) among guaranteed flows by the
        end of their guarantee.  None when there is none."""
        best = None
        for m in self.members:
            flows, guarantee_end, expiry = m.table.deadlines(m.timeouts)
            if not len(flows):
                continue
            pick = guarantee_end > now if guaranteed else guarantee_end <= now
            if not pick.any():
                continue
            when = (guarantee_end if guaranteed else expiry)[pick]
            i = int(np.argmin(when))
            if best is None or when[i] < best[2]:
                best = (m, int(flows[pick][i]), float(when[i]))
        return best

    def admit(self, now: float, new_expiry: float | None) -> bool:
        """Make room for one new flow; False when it must be refused.

        new_expiry is the new flow's own expiry when it starts best-effort
        (no guarantee), None when it starts guaranteed."""
        if self.size() < self.capacity:
            return True
        victim = self._earliest(now, guaranteed=False)
        if victim is None or (new_expiry is not None and new_expiry < victim[2]):
            return False
        member, flow, _ = victim
        member.evict(flow)
        return True

    def shrink(self, now: float) -> None:
        """Down to the capacity (after it was lowered): best-effort flows first,
        the one that expires first first; then guaranteed ones, the one whose
        guarantee ends first first."""
        while self.size() > self.capacity:
            victim = (self._earliest(now, guaranteed=False)
                      or self._earliest(now, guaranteed=True))
            if victim is None:
                return              # only static flows left
            victim[0].evict(victim[1])
