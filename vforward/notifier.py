"""Click's "full" notification: a push source that pauses while every queue
it feeds is full, and wakes when one of them has room again.

Click's sources (InfiniteSource ...) ask for the downstream full signal of
their output: the queues reached by following push connections.  If some
push path ends without a queue (in a Discard, say), the packets always have
somewhere to go and the signal stays on.  Under --simtime this is what lets
the clock move: a source that never pauses would keep the router busy at
one instant forever.
"""
from __future__ import annotations


def is_full_notifier(element) -> bool:
    return callable(getattr(element, "add_full_listener", None))


class FullSignal:
    """Whether a source's output has room: on while any downstream queue is
    not full (or a path has no queue at all)."""

    __slots__ = ("queues", "always")

    def __init__(self, router, element, port: int, task):
        self.queues, self.always = router.downstream(element, port, is_full_notifier)
        for q in self.queues:
            q.add_full_listener(task)

    def active(self) -> bool:
        if self.always or not self.queues:
            return True
        return any(not q.is_full() for q in self.queues)
