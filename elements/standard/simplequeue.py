"""SimpleQueue: Click's name for a Queue without notification extras."""
from __future__ import annotations

from .queue import Queue


class SimpleQueue(Queue):
    """SimpleQueue([CAPACITY]) -- store packets in a FIFO queue

    Ports: 1 push input, 1 pull output.

    Click's SimpleQueue, which differs from its Queue only in not telling
    its neighbours when it empties or fills.  vforward's Queue is cheap
    either way, so SimpleQueue is Queue; see Queue for the arguments and
    handlers.
    """
