"""RatedSource: generates copies of one packet at a set rate."""
import math
import time

import numpy as np

from vforward.args import ArgumentError, bandwidth, boolean, integer, real, string, unsigned
from vforward.element import AGNOSTIC, Element, HandlerError, read_handler, write_handler
from vforward.elements.standard.infinitesource import DEFAULT_DATA
from vforward.elements.standard.ratedunqueue import TokenBucket

# Tokens a late timer may catch up on: the average rate holds through loop
# stalls of up to this long.
CATCH_UP = 0.05
MAX_BURST = 256


def _rate(text: str) -> float:
    r = real(text)
    if r < 0:
        raise ArgumentError(f"expected a non-negative rate in packets per second, got {text!r}")
    return r


class RatedSource(Element):
    """RatedSource([DATA, RATE, LIMIT, ACTIVE, KEYWORDS]) -- generate packets at a given rate

    Ports: no inputs, 1 output; agnostic.

    Creates copies of DATA at RATE packets per second, LIMIT packets in all
    (-1: forever), while ACTIVE.  A push output is driven by loop timers:
    each wake sends the packets that the time elapsed allows, so at high
    rates packets leave in bursts whose average is RATE (a late wake
    catches up on up to 50 ms of packets).  A pull output hands out, on
    each pull, as many packets as the rate allows, and wakes its puller
    when more are due.  Packets carry their creation time in the timestamp
    annotation.

    Arguments:
      DATA (string, default 64 bytes of text)   packet contents
      RATE (real, default 10)                   packets per second
      LIMIT (integer, default -1)               packets to send in all; -1 for no limit
      ACTIVE (boolean, default true)            whether to send

    Keyword arguments:
      LENGTH (integer)        packet length; DATA is padded with zeros or cut
      BANDWIDTH (bandwidth)   set RATE from a bandwidth and the packet length
      STOP (boolean, default false)   stop the router when LIMIT is reached

    Handlers:
      count (read)          packets sent
      rate (read/write)     RATE
      limit (read/write)    LIMIT
      active (read/write)   whether it sends
      data (read/write)     the packet contents
      length (read)         the packet length
      reset (write)         set the count to zero and start again
    """
    PORTS = "0/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        data = args.positional("DATA", string, default=None)
        self.rate = args.positional("RATE", _rate, default=10.0)
        self.limit = args.positional("LIMIT", integer, default=-1)
        self.active = args.positional("ACTIVE", boolean, default=True)
        length = args.keyword("LENGTH", unsigned, default=None)
        bw = args.keyword("BANDWIDTH", bandwidth, default=None)
        self.stop = args.keyword("STOP", boolean, default=False)
        args.finish()
        payload = DEFAULT_DATA if data is None else data.encode("latin-1")
        if length is not None:
            payload = payload[:length].ljust(length, b"\0")
        self._data = np.frombuffer(payload, dtype=np.uint8).copy()
        if bw is not None:
            if not len(self._data):
                raise ArgumentError(f"{args.where}: argument BANDWIDTH: needs a non-empty packet")
            self.rate = bw / len(self._data)
        self.count = 0
        self._bucket = None
        self._timer = None
        self._listeners = []

    # -- making packets ------------------------------------------------------
    def _allowed(self, want: int) -> int:
        """Packets that may go now: tokens, limit and free slots permitting."""
        bucket = self._bucket
        bucket.refill(self.router.now())
        n = min(want, int(bucket.tokens), self.router.pool.n_free)
        if self.limit >= 0:
            n = min(n, self.limit - self.count)
        return max(n, 0)

    def _make(self, n: int):
        pool = self.router.pool
        batch = pool.alloc(n, len(self._data))
        h = pool.headroom
        pool.data[batch.idx, h:h + len(self._data)] = self._data
        pool.ts_ns[batch.idx] = time.time_ns()
        self._bucket.tokens -= n
        self.count += n
        return batch

    def _done(self) -> bool:
        return self.limit >= 0 and self.count >= self.limit

    # -- running -----------------------------------------------------------------
    def initialize(self):
        self._bucket = TokenBucket(self.rate, self._capacity(), self.router.now(), tokens=1.0)
        self._push = self.output_processing[0] == "h"
        if self.active:
            self._arm(0.0)

    def _capacity(self) -> float:
        return max(1.0, self.rate * CATCH_UP)

    def add_listener(self, task):
        """A puller's task, woken when packets are due (pull output)."""
        self._listeners.append(task)

    def _arm(self, delay: float):
        if self._timer is None:
            self._timer = self.router.call_later(delay, self._on_timer)

    def _on_timer(self):
        self._timer = None
        if not self.active:
            return
        if self._done():
            if self.stop:
                self.router.stop()
            return
        if self._push:
            n = self._allowed(MAX_BURST)
            while n > 0:
                self.emit(0, self._make(n))
                n = self._allowed(MAX_BURST)
            if self.router.pool.n_free == 0:
                self._arm(self._bucket.min_timer())   # slots in flight: retry soon
                return
        else:
            if self._bucket.refill(self.router.now()) >= 1.0:
                for task in self._listeners:
                    task.schedule()
                return      # the puller's empty pull re-arms the timer
        self._wait()

    def _wait(self):
        if self._done():
            if self.stop:
                self._arm(0.0)   # stop from the loop, not from inside a pull
            return
        delay = self._bucket.delay_until(1.0)
        if not math.isinf(delay):
            self._arm(max(delay, self._bucket.min_timer()))

    def pull(self, port, max_n):
        if not self.active:
            return None
        n = self._allowed(max_n)
        if n <= 0:
            self._wait()
            return None
        return self._make(n)

    def _restart(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._bucket is not None and self.active:
            self._bucket.refill(self.router.now())
            self._arm(0.0)

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- handlers -----------------------------------------------------------------
    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("rate")
    def read_rate(self):
        return self.rate

    @write_handler("rate")
    def write_rate(self, value):
        self.rate = _handler_value(_rate, value)
        if self._bucket is not None:
            self._bucket.refill(self.router.now())
            self._bucket.rate = self.rate
            self._bucket.capacity = self._capacity()
            self._bucket.tokens = min(self._bucket.tokens, self._bucket.capacity)
        self._restart()

    @read_handler("limit")
    def read_limit(self):
        return self.limit

    @write_handler("limit")
    def write_limit(self, value):
        self.limit = _handler_value(integer, value)
        self._restart()

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        self.active = _handler_value(boolean, value)
        self._restart()

    @read_handler("data")
    def read_data(self):
        return self._data.tobytes().decode("latin-1")

    @write_handler("data")
    def write_data(self, value):
        self._data = np.frombuffer(string(value).encode("latin-1"), dtype=np.uint8).copy()

    @read_handler("length")
    def read_length(self):
        return len(self._data)

    @write_handler("reset")
    def write_reset(self, value):
        self.count = 0
        self._restart()


def _handler_value(kind, value):
    try:
        return kind(value.strip())
    except ArgumentError as e:
        raise HandlerError(str(e)) from None
