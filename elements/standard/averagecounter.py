"""AverageCounter: counts packets and bytes, and their strict average rate."""
import time

from vforward.args import seconds
from vforward.element import AGNOSTIC, Element, read_handler, write_handler


class AverageCounter(Element):
    """AverageCounter([IGNORE]) -- measure historical packet count and rate

    Ports: 1 input, 1 output; agnostic.

    Passes packets through unchanged, counting them and their bytes.  The
    rates are strict averages: packets counted divided by the time between
    the first counted packet and the most recent one (unlike Counter's
    moving average).

    Packets that arrive during the first IGNORE seconds after the first
    packet are not counted, so that a start-up transient does not skew the
    average.  All packets of one batch share one arrival time.

    Arguments:
      IGNORE (time, default 0)   seconds after the first packet during which
                                 packets are not counted

    Handlers:
      count (read)        packets counted
      byte_count (read)   bytes counted
      rate (read)         average arrival rate in packets per second
      byte_rate (read)    average arrival rate in bytes per second
      reset (write)       set counts and rates to zero and start measuring again
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    clock = staticmethod(time.monotonic)   # tests replace it to control time

    def configure(self, args):
        self.ignore = args.positional("IGNORE", seconds, default=0.0)
        args.finish()
        self._reset()

    def _reset(self):
        self.count = 0
        self.byte_count = 0
        self._first = None   # arrival time of the first packet since the reset
        self._last = None

    def process(self, batch):
        now = self.clock()
        if self._first is None:
            self._first = now
        if now - self._first >= self.ignore:
            self.count += len(batch.idx)
            self.byte_count += int(batch.pool.length[batch.idx].sum(dtype="u8"))
        self._last = now
        return batch

    def _elapsed(self) -> float:
        """Time the counted packets span: last arrival minus the end of IGNORE."""
        if self._first is None:
            return 0.0
        return self._last - self._first - self.ignore

    def _per_second(self, amount: int) -> float:
        d = self._elapsed()
        return amount / d if d > 0 else 0.0

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("byte_count")
    def read_byte_count(self):
        return self.byte_count

    @read_handler("rate")
    def read_rate(self):
        return self._per_second(self.count)

    @read_handler("byte_rate")
    def read_byte_rate(self):
        return self._per_second(self.byte_count)

    @write_handler("reset")
    def write_reset(self, value):
        self._reset()
