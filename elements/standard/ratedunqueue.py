"""RatedUnqueue and BandwidthRatedUnqueue: pull packets at a set rate.

Both run a token bucket on time.monotonic.  Their task pulls as many
packets as the bucket allows in one batch, then sleeps on the router's
precise timer (microseconds, not the loop's whole milliseconds) until
enough tokens have accrued, or until the Queue upstream stops being empty.
Wakes are at least PRECISE_MIN_TIMER apart: at high rates one wake moves a
burst, so the average rate holds without a callback per packet, and below
20,000 packets per second each packet leaves at its own time.
"""
from __future__ import annotations

import math
import time

from vforward.args import ArgumentError, bandwidth, boolean, real, seconds, unsigned
from vforward.element import PULL_TO_PUSH, Element, HandlerError, read_handler, write_handler

# The shortest timer we ask the loop for: below it a wake moves a burst.
MIN_TIMER = 0.001
MAX_PULL = 256
# The shortest wait on the precise timer (Router.call_precise).
PRECISE_MIN_TIMER = 50e-6


class TokenBucket:
    """Tokens accrue at `rate` per second up to `capacity`; spending may go
    into debt (negative), which later accrual pays back."""

    __slots__ = ("rate", "capacity", "tokens", "_t")

    def __init__(self, rate: float, capacity: float, now: float, tokens: float = 0.0):
        self.rate = rate
        self.capacity = capacity
        self.tokens = min(tokens, capacity)
        self._t = now

    def refill(self, now: float) -> float:
        if now > self._t:
            self.tokens = min(self.capacity, self.tokens + self.rate * (now - self._t))
        self._t = now
        return self.tokens

    def delay_until(self, amount: float) -> float:
        """Seconds until `amount` tokens are there (inf at rate 0)."""
        missing = amount - self.tokens
        if missing <= 0:
            return 0.0
        return math.inf if self.rate <= 0 else missing / self.rate

    def min_timer(self) -> float:
        """A timer floor that still lets the bucket reach its rate."""
        if self.rate <= 0:
            return MIN_TIMER
        return min(MIN_TIMER, self.capacity / (2 * self.rate))


def _rate(text: str) -> float:
    r = real(text)
    if r < 0:
        raise ArgumentError(f"expected a non-negative rate in packets per second, got {text!r}")
    return r


class RatedUnqueue(Element):
    """RatedUnqueue(RATE [, KEYWORDS]) -- pull packets at a given rate

    Ports: 1 pull input, 1 push output.

    Pulls packets from its input at RATE packets per second and pushes them
    out.  The rate is kept by a token bucket holding BURST_SIZE tokens at
    most (by default 20 ms worth of RATE, at least 1): after a pause the
    element may send up to that many packets at once, and at high rates
    each timer wake moves a burst, so that the average rate holds.  It
    sleeps while the Queue upstream is empty.

    Arguments:
      RATE (real)   packets per second

    Keyword arguments:
      BURST_DURATION (time, default 20ms)   bucket size as time at RATE
      BURST_SIZE (integer)   bucket size in packets (overrides BURST_DURATION)
      BURST (integer)        same as BURST_SIZE
      ACTIVE (boolean, default true)   if false, pull nothing until set true

    Handlers:
      rate (read/write)     RATE
      count (read)          packets moved
      active (read/write)   whether it pulls
      reset (write)         set the count to zero
    """
    PORTS = "1/1"
    PROCESSING = PULL_TO_PUSH
    UNIT = "packets"

    def configure(self, args):
        self.rate = args.positional("RATE", self._rate_kind())
        self.burst_duration = args.keyword("BURST_DURATION", seconds, default=0.02)
        size = args.keyword(self._size_keyword(), unsigned, default=None)
        if size is None and self._size_keyword() == "BURST_SIZE":
            size = args.keyword("BURST", unsigned, default=None)
        self.burst_size = size
        self.active = args.keyword("ACTIVE", boolean, default=True)
        args.finish()
        self.count = 0
        self._bucket = None
        self._timer = None
        self._task = None

    # -- what a subclass changes ---------------------------------------------
    @staticmethod
    def _rate_kind():
        return _rate

    @staticmethod
    def _size_keyword():
        return "BURST_SIZE"

    def _capacity(self) -> float:
        if self.burst_size is not None:
            return max(1.0, float(self.burst_size))
        return max(1.0, self.rate * self.burst_duration)

    def _how_many(self) -> int:
        """Packets to pull now, or 0 to wait for tokens."""
        return min(MAX_PULL, int(self._bucket.tokens))

    def _cost(self, batch) -> float:
        return float(len(batch.idx))

    def _needed(self) -> float:
        """Tokens to wait for before the next pull."""
        return 1.0

    # -- running ----------------------------------------------------------------
    def initialize(self):
        now = self.router.precise_now()
        # The bucket starts full, as Click's: a burst may leave at once.
        self._bucket = TokenBucket(self.rate, self._capacity(), now,
                                   tokens=max(self._needed(), self._capacity()))
        self._task = self.router.new_task(self._run, self)
        for q in self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener")):
            q.add_listener(self._task)
        if self.active:
            self._task.schedule()

    def _run(self):
        if not self.active or self._timer is not None:
            return False
        bucket = self._bucket
        bucket.refill(self.router.precise_now())
        n = self._how_many()
        if n <= 0:
            self._wait_for_tokens()
            return False
        batch = self.pull_input(0, n)
        if batch is None or not len(batch.idx):
            return False     # the Queue wakes us when packets arrive
        bucket.tokens -= self._cost(batch)
        self.count += len(batch.idx)
        self.emit(0, batch)
        return True

    def _wait_for_tokens(self):
        delay = self._bucket.delay_until(self._needed())
        if math.isinf(delay):
            return           # rate 0: sleep until the rate handler wakes us
        delay = max(delay, min(PRECISE_MIN_TIMER, self._bucket.min_timer()))
        self._timer = self.router.call_precise(self.router.precise_now() + delay, self._on_timer)

    def _on_timer(self):
        self._timer = None
        self._task.schedule()

    def _restart(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.router is not None and self._task is not None and self.active:
            self._task.schedule()

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- handlers -----------------------------------------------------------------
    @read_handler("rate")
    def read_rate(self):
        return self.rate

    @write_handler("rate")
    def write_rate(self, value):
        try:
            self.rate = self._rate_kind()(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        if self._bucket is not None:
            self._bucket.refill(self.router.precise_now())
            self._bucket.rate = self.rate
            self._bucket.capacity = self._capacity()
            self._bucket.tokens = min(self._bucket.tokens, self._bucket.capacity)
        self._restart()

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        try:
            self.active = boolean(value)
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        self._restart()

    @write_handler("reset")
    def write_reset(self, value):
        self.count = 0
        self._restart()


class BandwidthRatedUnqueue(RatedUnqueue):
    """BandwidthRatedUnqueue(RATE [, KEYWORDS]) -- pull packets at a given bandwidth

    Ports: 1 pull input, 1 push output.

    Like RatedUnqueue, but RATE is a bandwidth (10Mbps, 1Gbps, 500kBps; a
    bare number is bytes per second) and the token bucket counts bytes.
    Since a packet's length is known only once it is pulled, the bucket may
    run into debt by part of a batch, which the following pause pays back:
    the average byte rate holds.  As in Click, a pull may go while the
    balance is not negative (zero included).

    Arguments:
      RATE (bandwidth)   bytes (or bits) per second

    Keyword arguments:
      BURST_DURATION (time, default 20ms)   bucket size as time at RATE
      BURST_BYTES (integer)   bucket size in bytes (overrides BURST_DURATION)
      ACTIVE (boolean, default true)   if false, pull nothing until set true

    Handlers:
      rate (read/write)     RATE, in bytes per second
      count (read)          packets moved
      byte_count (read)     bytes moved
      active (read/write)   whether it pulls
      reset (write)         set the counts to zero
    """

    def configure(self, args):
        super().configure(args)
        self.byte_count = 0
        self._avg_len = 64.0   # running mean packet length: how many to pull per burst

    @staticmethod
    def _rate_kind():
        return bandwidth

    @staticmethod
    def _size_keyword():
        return "BURST_BYTES"

    def _needed(self) -> float:
        return 0.0   # as Click: a balance not below zero lets a pull go

    def _how_many(self) -> int:
        tokens = self._bucket.tokens
        if tokens < -1e-3:      # (the virtual clock near 1e9 s is exact to ~1e-7 s)
            return 0
        return max(1, min(MAX_PULL, int(tokens / self._avg_len)))

    def _cost(self, batch) -> float:
        nbytes = batch.byte_count()
        n = len(batch.idx)
        self._avg_len += 0.25 * (nbytes / n - self._avg_len)
        self._avg_len = max(self._avg_len, 1.0)
        self.byte_count += nbytes
        return float(nbytes)

    @read_handler("byte_count")
    def read_byte_count(self):
        return self.byte_count

    @write_handler("reset")
    def write_reset(self, value):
        self.byte_count = 0
        super().write_reset(value)
