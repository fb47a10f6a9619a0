"""Counter: counts packets and bytes passing through."""
import time

from vforward.args import ArgumentError, anything
from vforward.element import AGNOSTIC, Element, read_handler, write_handler


class Counter(Element):
    """Counter([KEYWORDS]) -- count packets and bytes

    Ports: 1 input, 1 output; agnostic.

    Passes packets through unchanged, counting them and their bytes.  The
    rate is an exponentially weighted average over about one second, as
    Click's Counter reports it.

    Keyword arguments:
      COUNT_CALL "N HANDLER [VALUE]"   after N packets, write VALUE to HANDLER once

    Handlers:
      count (read)        packets counted
      byte_count (read)   bytes counted
      rate (read)         arrival rate in packets per second
      bit_rate (read)     arrival rate in bits per second
      reset (write)       set the counts to zero

    When a hot-swapped configuration changes a Counter's arguments, the new
    one carries on from the old one's counts.
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.count_call = args.keyword("COUNT_CALL", anything, default=None)
        args.finish()
        self._call = None          # (count, element, handler, value), parsed once
        if self.count_call:
            n, _, rest = self.count_call.strip().strip('"').partition(" ")
            target, _, value = rest.strip().partition(" ")
            ename, _, hname = target.rpartition(".")
            try:
                self._call = (int(n), ename, hname, value)
            except ValueError:
                raise ArgumentError(f"COUNT_CALL {self.count_call!r}: expected "
                                    "'N ELEMENT.HANDLER [VALUE]'") from None
        self._reset()

    def _reset(self):
        self.count = 0
        self.byte_count = 0
        self._rate = 0.0
        self._bit_rate = 0.0
        self._rate_t = time.monotonic()
        self._rate_pk = 0
        self._rate_bytes = 0
        self._call_fired = False

    # On push paths the graph sends packets past a Counter without COUNT_CALL
    # and calls tally: one call per batch instead of push and process.
    TALLY_WHEN_SKIPPED = True

    def passthrough(self, port):
        return 0 if self._call is None else None

    TALLY_FIELDS = (("count", "packets"), ("byte_count", "bytes"))

    def tally(self, batch):
        self.count += len(batch.idx)
        self.byte_count += batch.byte_count()

    def process(self, batch):
        n = len(batch.idx)
        self.count += n
        self.byte_count += batch.byte_count()
        if self._call is not None and not self._call_fired:
            self._maybe_call()
        return batch

    def _maybe_call(self):
        n, ename, hname, value = self._call
        if self.count >= n:
            self._call_fired = True
            elem = self.router.element(ename) if self.router else None
            if elem is not None:
                elem.write(hname, value)

    def _update_rate(self):
        now = time.monotonic()
        dt = now - self._rate_t
        if dt >= 0.05:
            alpha = min(1.0, dt)   # about one second of memory
            self._rate += alpha * ((self.count - self._rate_pk) / dt - self._rate)
            self._bit_rate += alpha * (8 * (self.byte_count - self._rate_bytes) / dt - self._bit_rate)
            self._rate_t, self._rate_pk, self._rate_bytes = now, self.count, self.byte_count

    def take_state(self, old) -> None:
        """A hot-swapped configuration changed this Counter's arguments: keep counting on."""
        self.count, self.byte_count = old.count, old.byte_count

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("byte_count")
    def read_byte_count(self):
        return self.byte_count

    @read_handler("rate")
    def read_rate(self):
        self._update_rate()
        return round(self._rate, 1)

    @read_handler("bit_rate")
    def read_bit_rate(self):
        self._update_rate()
        return round(self._bit_rate, 1)

    @write_handler("reset")
    def write_reset(self, value):
        self._reset()
