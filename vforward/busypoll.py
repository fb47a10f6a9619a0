"""BusyPoll: after device work, keep the loop awake a little while before it sleeps.

A router that sleeps in epoll between packets pays the kernel's wake-up for
each one that finds it asleep: tens to hundreds of microseconds on an idle
CPU (more in a virtual machine, where the idle vCPU is descheduled), which
is most of an idle hop's latency.  Packets seldom come alone: a forwarded
echo request brings its reply back a few tens of microseconds later, a TCP
segment its ACK.  So, as Linux's busy-poll (net.core.busy_poll) and VPP's
adaptive rx-mode do, once a packet device has been read the loop spins for
up to WINDOW, turning without sleeping (epoll with no timeout, the device
readers called on readiness as always, timers and tasks served), and
sleeps only when nothing came for that long.  Each packet that comes
during the spin starts the window again.

A CPU budget bounds the spinning: `share` of wall-clock time at most (a
token bucket that earns `share` seconds of spinning per second and holds a
second's worth), so a router under a steady trickle of packets does not
turn into a polling one.  Budget 0 (the default) never spins.

`parse_budget` reads the user's form: a time ("50us": spin up to 50 µs
after each burst, no share limit below 100%), a percentage ("5%": spin up
to WINDOW after each burst, at most 5% of a CPU), or both ("50us,5%").
"""
from __future__ import annotations

import time

from vforward.args import ArgumentError, seconds

DEFAULT_WINDOW = 100e-6    # spin window when only a share is given


def parse_budget(text: str) -> tuple[float, float]:
    """(window seconds, CPU share 0..1) from "50us", "5%" or "50us,5%"; (0, 0) for "0"."""
    window, share = None, None
    for part in (p.strip() for p in text.split(",")):
        if part.endswith("%"):
            try:
                share = float(part[:-1]) / 100.0
            except ValueError:
                share = -1.0
            if not 0.0 <= share <= 1.0:
                raise ArgumentError(f"poll budget {text!r}: the CPU share must be a percentage "
                                    "from 0% to 100%, e.g. 5%")
        else:
            try:
                window = seconds(part)
            except ArgumentError:
                raise ArgumentError(f"poll budget {text!r}: expected a time such as 50us, a "
                                    "CPU share such as 5%, or both: 50us,5%") from None
            if window > 0.01:
                raise ArgumentError(f"poll budget {text!r}: a spin window above 10ms is "
                                    "polling; use --poll")
    if window is None:
        window = DEFAULT_WINDOW if share else 0.0
    if share is None:
        share = 1.0 if window else 0.0
    if window == 0.0 or share == 0.0:
        return 0.0, 0.0
    return window, share


class BusyPoll:
    """The spin of one loop after device work (see the module's docstring)."""

    __slots__ = ("loop", "window", "share", "spins", "episodes", "spin_seconds", "_until",
                 "_spinning", "_tokens", "_last", "_started", "_clock")

    def __init__(self, loop, window: float, share: float):
        self.loop = loop
        self.window = window
        self.share = share
        self.spins = 0              # loop turns spent spinning
        self.episodes = 0           # spins started (each ends in a sleep)
        self.spin_seconds = 0.0     # time spent spinning
        self._clock = time.perf_counter
        self._until = 0.0
        self._spinning = False
        self._tokens = share        # a second's worth at most; start with one
        self._last = self._clock()
        self._started = 0.0

    def wrap(self, callback):
        """A device reader that starts (or extends) the spin after it runs."""
        def on_readable():
            callback()
            self.activity()
        return on_readable

    def activity(self) -> None:
        now = self._clock()
        if not self._spinning:
            self._earn(now)
            window = min(self.window, self._tokens)
            if window <= 0.0:
                return
            self._spinning = True
            self.episodes += 1
            self._started = now
            self._until = now + window
            self.loop.call_soon(self._turn)
        else:
            self._until = min(now + self.window, self._started + self._tokens)

    def _earn(self, now: float) -> None:
        self._tokens = min(self.share, self._tokens + (now - self._last) * self.share)
        self._last = now

    def _turn(self) -> None:
        now = self._clock()
        if now < self._until:
            self.spins += 1
            self.loop.call_soon(self._turn)    # the loop polls fds without sleeping first
            return
        spent = now - self._started
        self.spin_seconds += spent
        self._earn(now)
        self._tokens -= spent
        self._spinning = False
