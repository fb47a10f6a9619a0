"""Queue: stores pushed packets until they are pulled."""
import numpy as np

from vforward.args import unsigned
from vforward.element import PUSH_TO_PULL, Element, read_handler, write_handler
from vforward.packet import Batch


class Queue(Element):
    """Queue([CAPACITY]) -- store packets in a FIFO queue

    Ports: 1 push input, 1 pull output.

    Stores incoming packets in a first-in-first-out queue of at most CAPACITY
    packets; when full, drops arriving packets (tail drop) and counts them.
    Pullers downstream (Unqueue, ToDevice ...) sleep while the queue is empty
    and are woken when a packet arrives; push sources upstream
    (InfiniteSource) pause while it is full and are woken when it has room,
    as with Click's full notifier.

    Arguments:
      CAPACITY (integer, default 1000)   most packets held

    Handlers:
      length (read)           packets now queued
      highwater_length (read) most packets ever queued
      capacity (read/write)   the capacity; lowering it drops the newest packets
                              that no longer fit
      drops (read)            packets dropped because the queue was full
      reset_counts (write)    reset drops and highwater_length
      reset (write)           drop every queued packet
    """
    PORTS = "1/1"
    PROCESSING = PUSH_TO_PULL

    def configure(self, args):
        self.capacity = args.positional("CAPACITY", unsigned, default=1000)
        args.finish()
        self._ring = np.zeros(max(self.capacity, 1), dtype=np.uint32)
        self._head = 0   # position of the oldest packet
        self._len = 0
        self.drops = 0
        self.highwater = 0
        self._listeners = []
        self._full_listeners = []
        self._taker = None      # the puller's send_at_once, when it is the only puller

    def add_listener(self, task):
        """A puller's task, woken when the queue stops being empty."""
        self._listeners.append(task)

    def set_taker(self, take) -> None:
        """Let the element that pulls this Queue's output directly (ToDevice)
        take a batch pushed into the empty Queue at once: take(batch) sends
        it and returns True, or returns False and the batch is queued.  The
        packets cross the Queue as if pulled at once; an idle router's packet
        then costs no store and pull (highwater_length still counts them)."""
        self._taker = take

    def clear_taker(self, take) -> None:
        """Forget `take` (its element is going away), unless another replaced it."""
        if self._taker == take:
            self._taker = None

    def add_full_listener(self, task):
        """A source's task, woken when the queue stops being full."""
        self._full_listeners.append(task)

    def is_full(self) -> bool:
        return self._len >= self.capacity

    def _wake_sources(self):
        for task in self._full_listeners:
            task.schedule()

    def push(self, port, batch):
        idx = batch.idx
        if self._len == 0 and self._taker is not None and len(idx) <= self.capacity \
                and self._taker(batch):
            if len(idx) > self.highwater:
                self.highwater = len(idx)
            return
        room = max(0, self.capacity - self._len)
        if len(idx) > room:
            over = Batch(batch.pool, idx[room:])
            self.drops += len(over.idx)
            over.kill()
            idx = idx[:room]
        n = len(idx)
        if n == 0:
            return
        if len(self._ring) < self.capacity:
            self._grow()
        size = len(self._ring)
        tail = (self._head + self._len) % size
        first = min(n, size - tail)
        self._ring[tail:tail + first] = idx[:first]
        if first < n:
            self._ring[:n - first] = idx[first:]
        was_empty = self._len == 0
        self._len += n
        self._pool = batch.pool
        if self._len > self.highwater:
            self.highwater = self._len
        if was_empty:
            for task in self._listeners:
                task.schedule()

    def pull(self, port, max_n):
        n = min(max_n, self._len)
        if n == 0:
            return None
        if self._full_listeners and self._len >= self.capacity > self._len - n:
            self._wake_sources()
        size = len(self._ring)
        first = min(n, size - self._head)
        if first == n:
            out = self._ring[self._head:self._head + n].copy()
        else:
            out = np.concatenate((self._ring[self._head:], self._ring[:n - first]))
        self._head = (self._head + n) % size
        self._len -= n
        return Batch(self._pool, out)

    def _grow(self):
        old = self._ring
        ordered = np.concatenate((old[self._head:], old[:self._head]))[:self._len]
        self._ring = np.zeros(self.capacity, dtype=np.uint32)
        self._ring[:self._len] = ordered
        self._head = 0

    def cleanup(self):
        if self._len:
            self.pull(0, self._len).kill()

    @read_handler("length")
    def read_length(self):
        return self._len

    @read_handler("highwater_length")
    def read_highwater(self):
        return self.highwater

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("capacity")
    def read_capacity(self):
        return self.capacity

    @write_handler("capacity")
    def write_capacity(self, value):
        new = unsigned(value)
        if new > len(self._ring):
            self.capacity = new
            self._grow()
        self.capacity = new
        if self._len > new:               # Click drops what no longer fits, newest first
            keep = self.pull(0, new) if new else None
            self.pull(0, self._len).kill()
            if keep is not None:
                self.push(0, keep)
        self.config = f"CAPACITY {new}"   # Click rewrites the configuration so
        if not self.is_full():            # that the 'config' handler shows it
            self._wake_sources()

    @write_handler("reset_counts")
    def write_reset_counts(self, value):
        self.drops = 0
        self.highwater = self._len

    @write_handler("reset")
    def write_reset(self, value):
        if self._len:
            self.pull(0, self._len).kill()
