"""BurstWriter and BurstSink: writing batches to a non-blocking packet fd.

KernelTun (a TUN/TAP device) and Socket (a UDP socket) send the same way:
a batch goes to the kernel in one call, and what the kernel will not take
yet waits in a bounded backlog until the fd is writable.  `BurstWriter` does
the writing; `BurstSink` is the element side both share: the pull task that
feeds the writer, and the transmit handlers.
"""
from __future__ import annotations

import errno

import numpy as np

from vforward.element import Element, read_handler
from vforward.packet import Batch

_EMPTY = np.zeros(0, dtype=np.uint32)


class BurstWriter:
    """Writes batches to a non-blocking packet fd without ever blocking the loop.

    Packets go out at once while the kernel takes them.  When it pushes back
    (EAGAIN) the rest waits in a backlog of at most `capacity` packets, in
    order, and the writer asks the router for writability to resume; what
    would overflow the backlog is dropped and counted.  A packet the kernel
    refuses outright (any other error) is dropped and counted too.
    `on_drained` is called when a backlog has been written out completely.
    """

    def __init__(self, router, fd: int, io, capacity: int = 1000, on_drained=None,
                 on_error=None):
        self.router = router
        self.fd = fd
        self.io = io
        self.capacity = capacity
        self.on_drained = on_drained
        self.on_error = on_error       # f(errno) for packets the kernel refused
        self.sent = 0
        self.drops = 0
        self._backlog = _EMPTY
        self._pool = None
        self._waiting = False

    @property
    def blocked(self) -> bool:
        """True while a backlog waits for the fd to become writable."""
        return self._waiting

    @property
    def backlog_length(self) -> int:
        return len(self._backlog)

    def send(self, batch: Batch) -> None:
        """Write the batch (behind any backlog); this writer now owns its packets."""
        if self._waiting:
            self._hold(batch.pool, batch.idx)
        else:
            self._write(batch.pool, batch.idx)

    def _write(self, pool, idx: np.ndarray) -> None:
        while len(idx):
            n, err = self.io.write_burst(self.fd, pool, idx)
            if err == 0:                # all went: no slice of idx (numpy's slicing is cold)
                self.sent += n
                pool.free(idx)
                return
            if n:
                self.sent += n
                pool.free(idx[:n])
            if err == errno.EAGAIN:
                self._hold(pool, idx[n:])
                self._wait()
                return
            self.drops += 1
            pool.free(idx[n:n + 1])
            if self.on_error is not None:
                self.on_error(err)
            idx = idx[n + 1:]

    def _hold(self, pool, idx: np.ndarray) -> None:
        room = self.capacity - len(self._backlog)
        if len(idx) > room:
            over = idx[max(room, 0):]
            self.drops += len(over)
            pool.free(over)
            idx = idx[:max(room, 0)]
        if len(idx):
            self._pool = pool
            self._backlog = np.concatenate((self._backlog, idx)) if len(self._backlog) else idx.copy()

    def _wait(self) -> None:
        if not self._waiting:
            self._waiting = True
            self.router.add_writer(self.fd, self._on_writable)

    def _on_writable(self) -> None:
        idx, self._backlog = self._backlog, _EMPTY
        self._waiting = False
        self._write(self._pool, idx)
        if not self._waiting:       # else _write met EAGAIN again and re-registered
            self.router.remove_writer(self.fd)
            if self.on_drained is not None:
                self.on_drained()

    def close(self) -> None:
        """Stop waiting and free the backlog (at cleanup)."""
        if self._waiting:
            self._waiting = False
            self.router.remove_writer(self.fd)
        if len(self._backlog):
            self._pool.free(self._backlog)
            self._backlog = _EMPTY



class BurstSink(Element):
    """The transmit side of an element that writes through a BurstWriter.

    A subclass sets `burst` (most packets pulled at a time) and
    `queue_capacity` (the writer's backlog) in configure, calls
    `_start_writer` in initialize once its fd is open and `_start_pulling`
    after that, and gives `_is_open` and `_on_write_error`.  Its push sends
    with `self._writer.send`.  BurstSink adds the handlers tx_count, drops
    and queue_length; the subclass's manual page lists them.
    """
    ABSTRACT = True

    _writer: BurstWriter | None = None
    _task = None

    def _is_open(self) -> bool:
        """True while the fd is open (between initialize and cleanup)."""
        raise NotImplementedError

    def _on_write_error(self, err: int) -> None:
        """The kernel refused a packet with errno `err` (it is dropped and counted)."""

    def _start_writer(self, fd: int, io) -> None:
        """Write to `fd` with io.write_burst(fd, pool, idx)."""
        self._writer = BurstWriter(self.router, fd, io, self.queue_capacity,
                                   on_drained=self._on_drained, on_error=self._on_write_error)

    def _start_pulling(self) -> None:
        """On a pull input, pull whenever an upstream Queue has packets."""
        if self.n_inputs and self.input_processing[0] == "l":
            self._task = self.router.new_task(self._run_pull, self)
            upstream = self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener"))
            for q in upstream:
                q.add_listener(self._task)
            self._poll_pull = not upstream
            self._task.schedule()

    def _on_drained(self) -> None:
        if self._task is not None:
            self._task.schedule()

    def _run_pull(self) -> bool:
        if not self._is_open() or self._writer.blocked:
            return False            # the writer wakes us when the fd takes packets again
        batch = self.pull_input(0, self.burst)
        if batch is None:
            if self._poll_pull:     # no Queue to wake us: look again soon
                self.router.call_later(0.001, self._task.schedule)
            return False
        self.push(0, batch)
        return not self._writer.blocked

    def _reset_writer_counts(self) -> None:
        if self._writer is not None:
            self._writer.sent = self._writer.drops = 0

    @read_handler("tx_count")
    def read_tx_count(self):
        return self._writer.sent if self._writer else 0

    @read_handler("drops")
    def read_drops(self):
        return self._writer.drops if self._writer else 0

    @read_handler("queue_length")
    def read_queue_length(self):
        return self._writer.backlog_length if self._writer else 0
