"""DelayLine and WakeTimer: packets held until their due time, released in batches.

Every element of elements/link/ holds packets for a while: DelayUnqueue and
DelayShaper until their timestamp plus DELAY, LinkUnqueue until the packet
has crossed the emulated wire, LinkEmulator for its propagation delay and
jitter.  They share two pieces:

- `DelayLine`: slot indices with a due time each, stored as chunks (one per
  batch that came in) in a heap keyed by each chunk's first due time.
  `pop_due(now)` takes every packet whose time has come in one call, with a
  binary search per chunk and no per-packet Python work.
- `WakeTimer`: one loop timer for the earliest due time.  The elements are
  woken by it, never by polling and never by sleeping.

`DelayLineElement` is the element side of the two (cleanup and the size
handler), `DelayLineUnqueue` adds the pull task of the pull-to-push ones,
and `stamped_due` and `released` handle the timestamps of those that delay
from a packet's timestamp.

Times are seconds on `clock()` (time.monotonic).  The loop's own clock and
timers are too coarse for this (uvloop's count whole milliseconds), so the
timer is the router's precise one (`call_precise`, a timerfd): it fires at
the due time to the microsecond, never before, and on an idle machine the
packet leaves within some tens of microseconds after it (the loop is woken
a little ahead and spins to the due time; vforward/precisetimer.py).
Packets due within one wake-up leave in one batch.
"""
from __future__ import annotations

import heapq
import itertools
import math
import time

import numpy as np

from vforward.element import Element, read_handler
from vforward.packet import Batch

clock = time.monotonic

_NO_SLOTS = np.zeros(0, dtype=np.uint32)


def realtime_to_clock(ts_ns: np.ndarray) -> np.ndarray:
    """Timestamp annotations (CLOCK_REALTIME ns) as times on `clock()`.

    The two clocks are read realtime first, so that the conversion errs
    late by the time between the two reads, never early.
    """
    now_ns = time.time_ns()
    now = clock()
    return now + (ts_ns.astype(np.int64) - now_ns) * 1e-9


def stamped_due(pool, idx: np.ndarray, delay: float) -> np.ndarray:
    """When packets `idx` are due: `delay` after their timestamp annotations,
    on `clock()`; a packet without a timestamp counts from now."""
    ts = pool.ts_ns[idx]
    unset = ts == 0
    if unset.any():
        ts[unset] = time.time_ns()
    return realtime_to_clock(ts) + delay


def released(pool, idx: np.ndarray) -> Batch:
    """Packets leaving a delay, their timestamps set to the time they leave."""
    pool.ts_ns[idx] = time.time_ns()
    return Batch(pool, idx)


def finish_times(start: float, lengths: np.ndarray, rate: float) -> np.ndarray:
    """When each packet's last byte has left a serial link of `rate` bytes/s
    that starts sending the first of them at `start`, back to back."""
    return start + np.cumsum(lengths, dtype=np.float64) / rate


class DelayLine:
    """Packets held until their due times.

    In order (the default), a packet never leaves before one added ahead of
    it: `add` raises each due time to at least the one before it, as a
    single wire or Click's head-of-line DelayUnqueue does.  With `reorder`
    every packet keeps its own due time and may overtake earlier ones, as
    netem's time-sorted queue does when jitter is set.
    """

    __slots__ = ("reorder", "_heap", "_seq", "_n", "_last")

    def __init__(self, reorder: bool = False):
        self.reorder = reorder
        self._heap: list = []            # (first due, sequence, due array, idx array)
        self._seq = itertools.count()    # ties keep the order chunks came in
        self._n = 0
        self._last = -math.inf           # last due time, for in-order lines

    def __len__(self) -> int:
        return self._n

    def add(self, idx: np.ndarray, due: np.ndarray) -> None:
        """Hold packets `idx` until `due` (one time per packet)."""
        if not len(idx):
            return
        due = np.asarray(due, dtype=np.float64)
        if self.reorder:
            order = np.argsort(due, kind="stable")
            idx, due = idx[order], due[order]
        else:
            due = np.maximum.accumulate(np.maximum(due, self._last))
            self._last = float(due[-1])
            idx = idx.copy()   # the caller's index array may be reused upstream
        heapq.heappush(self._heap, (float(due[0]), next(self._seq), due, idx))
        self._n += len(idx)

    def next_due(self) -> float | None:
        """The earliest due time held, or None when the line is empty."""
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float, max_n: int | None = None) -> np.ndarray:
        """Take the packets due at `now` (at most max_n), earliest first."""
        heap = self._heap
        if not heap or heap[0][0] > now:
            return _NO_SLOTS
        idx_parts, due_parts, taken = [], [], 0
        while heap and heap[0][0] <= now and (max_n is None or taken < max_n):
            _, seq, due, idx = heapq.heappop(heap)
            k = int(np.searchsorted(due, now, side="right"))
            if max_n is not None:
                k = min(k, max_n - taken)
            if k < len(idx):
                heapq.heappush(heap, (float(due[k]), seq, due[k:], idx[k:]))
            idx_parts.append(idx[:k])
            due_parts.append(due[:k])
            taken += k
        self._n -= taken
        if len(idx_parts) == 1:
            return idx_parts[0]
        out = np.concatenate(idx_parts)
        if self.reorder:
            out = out[np.argsort(np.concatenate(due_parts), kind="stable")]
        return out

    def clear(self) -> np.ndarray:
        """Remove and return every packet held (to be dropped)."""
        out = np.concatenate([c[3] for c in self._heap]) if self._heap else _NO_SLOTS
        self._heap.clear()
        self._n = 0
        self._last = -math.inf
        return out


class WakeTimer:
    """One loop timer set for the earliest time asked: arming it for an
    earlier time moves it, arming it for a later time changes nothing."""

    __slots__ = ("element", "callback", "when", "_handle")

    def __init__(self, element, callback):
        self.element = element      # its router's loop runs the timer
        self.callback = callback
        self.when = math.inf
        self._handle = None

    def arm(self, when: float) -> None:
        if self._handle is not None:
            if when >= self.when:
                return
            self._handle.cancel()
        self.when = when
        self._handle = self.element.router.call_precise(when, self._fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self.when = math.inf

    def _fire(self) -> None:
        self._handle = None
        self.when = math.inf
        self.callback()


class DelayLineElement(Element):
    """The base of the elements that hold packets in a DelayLine `_line` and
    wake on a WakeTimer `_timer`, both made in configure: at cleanup the
    timer stops and what the line holds is freed.  Adds the size handler."""
    ABSTRACT = True

    def cleanup(self):
        self._timer.cancel()
        if len(self._line) and self.router is not None:
            self.router.pool.free(self._line.clear())

    @read_handler("size")
    def read_size(self):
        return len(self._line)


class DelayLineUnqueue(DelayLineElement):
    """A DelayLineElement that pulls in a task, `_run`, scheduled by the
    Queues upstream and by `_wake` (the timer's callback), and pushes what
    is due.  It counts what it sends in `count`, with a count handler."""
    ABSTRACT = True

    def initialize(self):
        self._task = self.router.new_task(self._run, self)
        for q in self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener")):
            q.add_listener(self._task)
        self._task.schedule()

    def _wake(self):
        self._task.schedule()

    @read_handler("count")
    def read_count(self):
        return self.count
