"""RatedSplitter, BandwidthRatedSplitter and Meter: split a packet stream by its rate."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, bandwidth, real, seconds
from vforward.element import Element, HandlerError, PUSH_ONLY, read_handler, write_handler

from .ratedunqueue import TokenBucket


def _rate(text: str) -> float:
    r = real(text)
    if r < 0:
        raise ArgumentError(f"expected a non-negative rate in packets per second, got {text!r}")
    return r


class RatedSplitter(Element):
    """RatedSplitter(RATE) -- send packets above a rate to a second output

    Ports: 1 input, 1 or 2 outputs; push.

    Packets within RATE packets per second leave on output 0, the excess
    on output 1 (dropped when it is not connected).  A token bucket holding at most BURST_SIZE tokens
    (20 ms worth by default, at least one; full at start, as Click's) decides, in arrival order within
    each batch.

    Arguments:
      RATE (real)             packets per second on output 0
      BURST_SIZE (real)       the most packets let through at once after a pause
      BURST_DURATION (time)   the same, as a time at RATE (BURST_SIZE = RATE * it)

    Handlers:
      rate (read/write)   RATE
    """
    PORTS = "1/1-2"
    PROCESSING = PUSH_ONLY
    BYTES = False

    def configure(self, args):
        self.rate = args.mandatory("RATE", bandwidth if self.BYTES else _rate)
        burst = args.keyword("BURST_BYTES" if self.BYTES else "BURST_SIZE", real, default=None)
        duration = args.keyword("BURST_DURATION", seconds, default=None)
        args.finish()
        if burst is None and duration is not None:
            burst = self.rate * duration
        # packets: Click's default BURST_DURATION of 20 ms (at least one packet);
        # bytes: a second's worth, so that a whole packet always fits
        default = max(self.rate, 1.0) if self.BYTES else max(self.rate * 0.02, 1.0)
        self.burst = burst if burst is not None else default
        self._bucket = None

    def _costs(self, batch) -> np.ndarray:
        if self.BYTES:
            return batch.pool.length[batch.idx].astype(np.float64)
        return np.ones(len(batch.idx))

    def push(self, port, batch):
        now = self.router.now()
        if self._bucket is None:
            # full at start, as Click's (bytes: one token, as before)
            full = self.burst if not self.BYTES or self.burst < 2 else 1.0
            self._bucket = TokenBucket(self.rate, self.burst, now, tokens=full)
        tokens = self._bucket.refill(now)
        spent = np.cumsum(self._costs(batch))
        ok = spent <= tokens + 1e-6   # the virtual clock near 1e9 s is exact to ~1e-7 s
        n_ok = int(ok.sum())
        self._bucket.tokens -= float(spent[n_ok - 1]) if n_ok else 0.0
        if n_ok == len(batch.idx):
            self.emit(0, batch)
            return
        good, excess = batch.split(ok)
        self.emit(0, good)
        self.emit_or_drop(1, excess)

    @read_handler("rate")
    def read_rate(self):
        return self.rate

    @write_handler("rate")
    def write_rate(self, value):
        try:
            self.rate = (bandwidth if self.BYTES else _rate)(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        self._bucket = None


class BandwidthRatedSplitter(RatedSplitter):
    """BandwidthRatedSplitter(RATE) -- send bytes above a rate to a second output

    Ports: 1 input, 1 or 2 outputs; push.

    As RatedSplitter, with RATE a bandwidth (10Mbps, 500kBps; a bare number
    is bytes per second): packets whose bytes fit the rate leave on
    output 0, the rest on output 1.

    Arguments:
      RATE (bandwidth)     the rate of output 0
      BURST_BYTES (real)   the most bytes let through at once after a pause
      BURST_DURATION (time)   the same, as a time at RATE

    Handlers:
      rate (read/write)   RATE, in bytes per second
    """
    BYTES = True


class Meter(Element):
    """Meter(RATE1, ..., RATEn) -- classify packets by the stream's measured rate

    Ports: 1 input, n+1 outputs; push.

    Measures the packet rate arriving (an exponentially weighted average
    over about a second) and sends every packet to output 0 while the rate
    is below RATE1, to output 1 while it is between RATE1 and RATE2, ...,
    and to output n above RATEn.  Rates are packets per second, in
    increasing order.

    Arguments:
      RATEi (real)   the thresholds

    Handlers:
      rate (read)   the measured rate
    """
    PORTS = "1/2-"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.rates = [_rate(r) for r in args.rest()]
        args.finish()
        if not self.rates or sorted(self.rates) != self.rates:
            raise ArgumentError(f"{args.where}: give one or more rates in increasing order")
        self.measured = 0.0
        self._t = None

    def port_spec(self):
        return f"1/{len(self.rates) + 1}"

    def push(self, port, batch):
        now = self.router.now()
        n = len(batch.idx)
        if self._t is None:
            self._t = now
        dt = max(now - self._t, 1e-6)
        alpha = min(1.0, dt)
        self.measured += alpha * (n / dt - self.measured) if dt > 1e-5 else 0.0
        self._t = now
        out = int(np.searchsorted(self.rates, self.measured, side="right"))
        self.emit(out, batch)

    @read_handler("rate")
    def read_rate(self):
        return round(self.measured, 1)
