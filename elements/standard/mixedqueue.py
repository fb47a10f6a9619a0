"""MixedQueue: FIFO on input 0, LIFO on input 1."""
from __future__ import annotations

import numpy as np

from vforward.packet import Batch

from .queue import Queue


class MixedQueue(Queue):
    """MixedQueue([CAPACITY]) -- store packets, first-in-first-out or last-in-first-out

    Ports: 2 push inputs, 1 pull output.

    Packets arriving on input 0 join the tail of the queue (FIFO), and are
    dropped when the queue is full.  Packets arriving on input 1 go to the
    head (LIFO), so they leave next; when the queue is full the packet at
    the tail is dropped to make room.  Pulls take from the head.

    Arguments:
      CAPACITY (integer, default 1000)   most packets held

    Handlers:
      As Queue's: length, highwater_length, capacity, drops, reset_counts, reset.
    """
    PORTS = "2/1"
    add_full_listener = None   # as Click's: sources are not paused when it is full

    def push(self, port, batch):
        if port == 0:
            super().push(0, batch)
            return
        pool = batch.pool
        was_empty = self._len == 0
        for i in batch.idx.tolist():
            if self.capacity == 0:
                self.drops += 1
                Batch(pool, np.array([i], dtype=np.uint32)).kill()
                continue
            if self._len >= self.capacity:      # drop the tail to make room
                size = len(self._ring)
                tail = (self._head + self._len - 1) % size
                Batch(pool, self._ring[tail:tail + 1].copy()).kill()
                self._len -= 1
                self.drops += 1
            size = len(self._ring)
            self._head = (self._head - 1) % size
            self._ring[self._head] = i
            self._len += 1
        self._pool = pool
        self.highwater = max(self.highwater, self._len)
        if was_empty and self._len:
            for task in self._listeners:
                task.schedule()
