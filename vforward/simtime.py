"""Simulated time (Click's --simtime): a virtual clock that jumps to the next timer.

An asyncio event loop whose `time()` is a virtual clock.  While callbacks
are ready the clock stands still; when the loop would sleep until its next
timer, the clock jumps there instead, so a config whose timed elements
(RatedSource, TimedSource, Script's `wait`, DriverManager, Shaper ...)
describe minutes of traffic runs as fast as the CPU allows, and runs the
same every time.

What it covers: everything scheduled through the loop (`router.call_later`,
`router.now()`, element timers) and the packet timestamps of sources that
read `router.now()`.  What it does not: elements that read the wall clock
themselves (`time.monotonic()`, `time.time()`), and file descriptors --
readiness is still polled for real, without waiting, so devices and sockets
work but see no simulated delay.
"""
from __future__ import annotations

import asyncio
import selectors


class _VirtualSelector(selectors.DefaultSelector):
    """Polls the real selector without blocking; an empty poll with a timeout
    moves the virtual clock forward by that timeout instead of sleeping."""

    def __init__(self, clock: "VirtualClock"):
        super().__init__()
        self._clock = clock

    def select(self, timeout=None):
        events = super().select(0)
        if events:
            return events
        if timeout is None:
            # No timer left: only a file descriptor (a control socket, a
            # device) can make anything happen, so wait for it for real.
            return super().select(None)
        if timeout > 0:
            self._clock.advance(timeout)
        return events


class VirtualClock:
    def __init__(self, start: float = 0.0):
        self.now = start
        self.loop = None

    def advance(self, dt: float) -> None:
        self.now += dt


class SimulatedTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on a virtual clock starting at `start` seconds."""

    def __init__(self, start: float = 0.0):
        self.clock = VirtualClock(start)
        super().__init__(_VirtualSelector(self.clock))
        self.clock.loop = self
        # The loop fires timers due before time() + resolution.  Near 1e9 seconds a
        # float is exact to about 1e-7 s, so the real clock's nanosecond resolution
        # would leave a timer the clock has just jumped to forever "not yet due".
        self._clock_resolution = 1e-6

    def time(self) -> float:
        return self.clock.now
