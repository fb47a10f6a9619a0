"""Block: split packets on the rate IPRateMonitor measured for them."""
from __future__ import annotations

from vforward.args import ArgumentError, integer
from vforward.element import PUSH_ONLY, Element, HandlerError, read_handler, write_handler


class Block(Element):
    """Block(THRESH) -- send packets of high-rate addresses aside

    Ports: 1 input, 1 or 2 outputs; push.

    Sends each packet whose fwd_rate annotation (set by IPRateMonitor) is
    at most THRESH to output 0, and the others to output 1 (dropped when
    output 1 is not connected).  With THRESH 0 every packet goes to output 0.

    Arguments:
      THRESH (integer)   the highest rate let through

    Handlers:
      thresh (read/write)   THRESH
      count (read)          packets sent to output 0
      drops (read)          packets sent to output 1 or dropped

    See also: IPRateMonitor.
    """
    PORTS = "1/1-2"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.thresh = args.mandatory("THRESH", integer)
        args.finish()
        self.count = 0
        self.drops = 0

    def push(self, port, batch):
        if self.thresh == 0:
            passed, high = batch, batch.select(batch.idx[:0] != 0)
        else:
            passed, high = batch.split(batch.pool.fwd_rate[batch.idx] <= self.thresh)
        self.count += len(passed.idx)
        self.drops += len(high.idx)
        self.emit(0, passed)
        if len(high.idx):
            self.emit_or_drop(1, high)

    @read_handler("thresh")
    def read_thresh(self):
        return self.thresh

    @write_handler("thresh")
    def write_thresh(self, value):
        try:
            self.thresh = integer(value.strip())
        except ArgumentError as e:
            raise HandlerError(f"thresh: {e}") from None

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops
