"""PreciseTimers: loop timers with microsecond resolution, on one timerfd.

uvloop's timers (libuv's) count whole milliseconds: a timer set 300 µs ahead
fires a millisecond later, and two packets due 200 µs apart leave together.
The timed elements (LinkEmulator, DelayUnqueue, DelayShaper, LinkUnqueue,
the rate shapers) need better: a 5 ms delay that is 5 ms, jitter that
follows its distribution, a rate whose packets leave spaced as on a wire.

So their timers share a Linux timerfd (CLOCK_MONOTONIC, the clock of
`time.monotonic`), set to the earliest deadline asked for and registered
with the loop as a reader.  The kernel's high-resolution timer wakes the
loop (timerfd expiry takes no timer slack), and every callback due by then
runs in that one wake-up.  Deadlines are in seconds on `time.monotonic()`;
a callback never runs before its deadline.

Waking a sleeping process takes the kernel some tens of microseconds (more
in a virtual machine, whose idle CPU the host has descheduled), and that
would be added to every delay.  So the timerfd is set LEAD earlier than the
first deadline, and the loop, once woken, spins the rest of the way: the
callback runs within a few microseconds after its deadline, at the price of
at most LEAD of spinning per wake-up.  Only a deadline more than DENSE
after the previous wake-up gets the lead: timers that fire that often find
the process awake (or about to be), and spinning for each would cost a
busy link a good share of its CPU.
"""
from __future__ import annotations

import ctypes
import heapq
import itertools
import math
import os
import time

clock = time.monotonic

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = os.O_CLOEXEC
_TFD_TIMER_ABSTIME = 1
# How much earlier than its deadline the kernel wakes the loop (see above).
LEAD = 50e-6
DENSE = 1e-3


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


_libc = ctypes.CDLL(None, use_errno=True)     # the C library the interpreter runs on
_libc.timerfd_create.argtypes = (ctypes.c_int, ctypes.c_int)
_libc.timerfd_settime.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec),
                                  ctypes.c_void_p)
_libc.timerfd_gettime.argtypes = (ctypes.c_int, ctypes.POINTER(_Itimerspec))


def _timerfd() -> int:
    fd = _libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"timerfd_create: {os.strerror(err)}")
    return fd


class PreciseHandle:
    """A pending precise timer; `cancel()` stops it (as asyncio's TimerHandle)."""

    __slots__ = ("when", "callback", "args", "cancelled")

    def __init__(self, when: float, callback, args):
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
        self.callback = self.args = None


class PreciseTimers:
    """Timers on one timerfd, driven by `loop` (add_reader/remove_reader)."""

    def __init__(self, loop, lead: float = LEAD):
        self.loop = loop
        self.lead = lead
        self.fd = _timerfd()
        self._heap: list = []              # (when, sequence, handle)
        self._seq = itertools.count()
        self._armed = math.inf             # deadline the timerfd is set for
        self._last_expiry = -math.inf
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        loop.add_reader(self.fd, self._on_expiry)

    def __len__(self) -> int:
        return sum(1 for _, _, h in self._heap if not h.cancelled)

    def call_at(self, when: float, callback, *args) -> PreciseHandle:
        """Run callback(*args) at `when` (seconds on time.monotonic), not before."""
        handle = PreciseHandle(when, callback, args)
        heapq.heappush(self._heap, (when, next(self._seq), handle))
        if when < self._armed:
            self._arm(when)
        return handle

    def _arm(self, when: float) -> None:
        self._armed = when
        if when == math.inf:
            sec = nsec = 0                 # zero disarms
        else:
            lead = self.lead if when - self._last_expiry > DENSE else 0.0
            ns = max(int(math.ceil((when - lead) * 1e9)), 1)
            sec, nsec = divmod(ns, 1_000_000_000)
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = sec, nsec
        if _libc.timerfd_settime(self.fd, _TFD_TIMER_ABSTIME, self._spec_ref, None) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_settime: {os.strerror(err)}")

    def kernel_wait(self) -> float:
        """Seconds until the timerfd expires, as the kernel has it (0: disarmed)."""
        spec = _Itimerspec()
        if _libc.timerfd_gettime(self.fd, ctypes.byref(spec)) < 0:
            err = ctypes.get_errno()
            raise OSError(err, f"timerfd_gettime: {os.strerror(err)}")
        return spec.it_value.tv_sec + spec.it_value.tv_nsec * 1e-9

    def _on_expiry(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass                           # re-armed since it fired: the heap decides
        heap = self._heap
        self._armed = math.inf
        try:
            now = self._last_expiry = clock()
            while heap and heap[0][2].cancelled:
                heapq.heappop(heap)
            if heap and now < heap[0][0] <= now + self.lead:
                first = heap[0][0]       # woken LEAD early on purpose: spin the rest
                while now < first:
                    now = clock()
            while heap and (heap[0][2].cancelled or heap[0][0] <= now):
                _, _, handle = heapq.heappop(heap)
                if not handle.cancelled:
                    callback, args = handle.callback, handle.args
                    handle.cancel()        # done: a late cancel() is harmless
                    callback(*args)
        finally:
            while heap and heap[0][2].cancelled:
                heapq.heappop(heap)
            if heap and heap[0][0] < self._armed:
                self._arm(heap[0][0])

    def close(self) -> None:
        if self.fd >= 0:
            try:
                self.loop.remove_reader(self.fd)
            except Exception:
                pass                       # the loop is closed already
            os.close(self.fd)
            self.fd = -1
            self._heap.clear()
