"""FullNoteQueue, QuickNoteQueue, NotifierQueue: Click's names for its queue variants."""
from __future__ import annotations

from .queue import Queue


class FullNoteQueue(Queue):
    """FullNoteQueue([CAPACITY]) -- store packets in a FIFO queue, telling sources when full

    Ports: 1 push input, 1 pull output.

    Click's Queue is a FullNoteQueue: it wakes pullers when it stops being
    empty and pauses push sources upstream while it is full.  vforward's
    Queue does both, so FullNoteQueue is Queue; see Queue for the
    arguments and handlers.
    """


class QuickNoteQueue(Queue):
    """QuickNoteQueue([CAPACITY]) -- store packets in a FIFO queue

    Ports: 1 push input, 1 pull output.

    Click's QuickNoteQueue is a Queue whose empty notification is cheaper;
    here it is Queue; see Queue for the arguments and handlers.
    """


class NotifierQueue(Queue):
    """NotifierQueue([CAPACITY]) -- store packets in a FIFO queue, without full notification

    Ports: 1 push input, 1 pull output.

    A Queue that wakes pullers when it stops being empty but does not pause
    the sources that fill it: when it is full, arriving packets are dropped
    (and counted), as with Click's NotifierQueue.  Arguments and handlers
    as Queue's.
    """
    add_full_listener = None   # not a full notifier: sources upstream never pause
