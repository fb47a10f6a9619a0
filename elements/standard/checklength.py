"""CheckLength: send packets longer than a length aside."""
from __future__ import annotations

from vforward.args import unsigned
from vforward.element import Element, read_handler


class CheckLength(Element):
    """CheckLength(LENGTH) -- drop packets longer than LENGTH

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Packets of at most LENGTH bytes leave by output 0; longer ones leave by
    output 1 when it is connected and are dropped otherwise.  Before an IPv6
    output, CheckLength(MTU) -> ... with output 1 to ICMP6Error(ADDR, toobig,
    PMTU MTU) is how a router takes part in path-MTU discovery (IPv6 routers
    never fragment).  The length is the packet's whole length: a GSO
    super-frame counts as one long packet.

    Handlers:
      drops (read)   packets longer than LENGTH
    """
    PORTS = "1/1-2"
    PROCESSING = "a/ah"

    def configure(self, args):
        self.max_length = args.mandatory("LENGTH", unsigned)
        args.finish()
        self.drops = 0

    def process(self, batch):
        if not len(batch.idx):
            return batch
        long = batch.pool.length[batch.idx] > self.max_length
        if not long.any():
            return batch
        self.drops += int(long.sum())
        too_long, ok = batch.split(long)
        self.emit_or_drop(1, too_long)
        return ok

    @read_handler("drops")
    def read_drops(self):
        return self.drops
