"""FrontDropQueue: a queue that drops its oldest packets when full."""
from __future__ import annotations

from vforward.packet import Batch

from .queue import Queue


class FrontDropQueue(Queue):
    """FrontDropQueue([CAPACITY]) -- store packets in a FIFO queue, dropping from the front

    Ports: 1 push input, 1 pull output.

    A FIFO queue like Queue, except that a packet arriving when the queue is
    full is kept and the oldest packet (at the head) is dropped instead:
    the queue holds the newest CAPACITY packets.  Sources upstream are not
    paused, since the queue always takes what arrives.

    Arguments:
      CAPACITY (integer, default 1000)   most packets held

    Handlers:
      As Queue's: length, highwater_length, capacity, drops, reset_counts, reset.
    """
    add_full_listener = None   # it never refuses a packet: no full notification

    def push(self, port, batch):
        n = len(batch.idx)
        if n > self.capacity:            # only the newest CAPACITY of this batch can stay
            over = n - self.capacity
            Batch(batch.pool, batch.idx[:over]).kill()
            self.drops += over
            batch = Batch(batch.pool, batch.idx[over:])
            n = self.capacity
        excess = self._len + n - self.capacity
        if excess > 0:
            self.pull(0, excess).kill()
            self.drops += excess
        super().push(port, batch)
