"""Shaper and BandwidthShaper: let pulls through at most at a rate."""
from __future__ import annotations


from vforward.args import ArgumentError, bandwidth, real
from vforward.element import Element, HandlerError, PULL_ONLY, read_handler, write_handler

from .ratedunqueue import TokenBucket


class Shaper(Element):
    """Shaper(RATE) -- pull packets through at most RATE per second

    Ports: 1 input, 1 or 2 outputs; pull.

    A pull on output 0 is passed upstream only for as many packets as a
    token bucket (RATE per second, at most a second's worth saved) allows;
    otherwise it returns nothing and, when tokens will be there, wakes the
    pullers waiting on the Queues upstream, so an Unqueue behind a Shaper
    sends at RATE.  A pull on the optional output 1 takes a packet upstream
    only when output 0 would refuse one (and nothing when it would not): unshaped, for sampling in pull
    context (Click's '=> ( [0] -> Print -> [0]; [1] -> [1] ) =>').

    Arguments:
      RATE (real)   packets per second

    Handlers:
      rate (read/write)   RATE
      reset (write)       start the bucket again, as at start-up
    """
    PORTS = "1/1-2"
    PROCESSING = PULL_ONLY
    BYTES = False

    def configure(self, args):
        self.rate = args.mandatory("RATE", self._kind)
        args.finish()
        self._bucket = None
        self._wake = None

    @classmethod
    def _kind(cls, text):
        if cls.BYTES:
            return bandwidth(text)
        r = real(text)
        if r < 0:
            raise ArgumentError(f"expected a non-negative rate, got {text!r}")
        return r

    def _waiters(self):
        queues = self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener"))
        return [t for q in queues for t in getattr(q, "_listeners", [])]

    def _schedule_wake(self, delay):
        if self._wake is None:
            def wake():
                self._wake = None
                for t in self._waiters():
                    t.schedule()
            self._wake = self.router.call_later(max(delay, 0.0005), wake)

    def pull(self, port, max_n):
        now = self.router.now()
        if self._bucket is None:
            self._bucket = TokenBucket(self.rate, max(self.rate, 1.0), now, tokens=1.0)
        tokens = self._bucket.refill(now)
        if self.BYTES:
            # one packet per pull while the bucket is not in debt: its size is
            # known only once pulled, and charging it may borrow from the future
            want = 1 if tokens > 0 else 0
        else:
            want = min(max_n, int(tokens))
        if port == 1:      # Click: output 1 gets only what output 0 would refuse
            return self.pull_input(0, 1) if want <= 0 else None
        if want <= 0:
            self._schedule_wake(self._bucket.delay_until(1e-9 if self.BYTES else 1.0))
            return None
        batch = self.pull_input(0, want)
        if batch is None:
            return None
        spent = float(batch.pool.length[batch.idx].sum()) if self.BYTES else len(batch.idx)
        self._bucket.tokens -= spent      # bytes may go into debt, paid back later
        return batch

    @read_handler("rate")
    def read_rate(self):
        return self.rate

    @write_handler("reset")
    def write_reset(self, value):
        self._bucket = None

    @write_handler("rate")
    def write_rate(self, value):
        try:
            self.rate = self._kind(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        self._bucket = None


class BandwidthShaper(Shaper):
    """BandwidthShaper(RATE) -- pull bytes through at most at a bandwidth

    Ports: 1 input, 1 output; pull.

    As Shaper, with RATE a bandwidth (10Mbps, 500kBps; a bare number is
    bytes per second): while the byte bucket is not in debt a pull takes
    one packet upstream, and its bytes are charged to the bucket.

    Arguments:
      RATE (bandwidth)   the rate

    Handlers:
      rate (read/write)   RATE, in bytes per second
    """
    BYTES = True
