"""CheckLength: send packets longer than a length aside."""
from __future__ import annotations

import numpy as np

from vforward.args import boolean, unsigned
from vforward.element import Element, read_handler
from vforward.offload import segment_ip_lengths


class CheckLength(Element):
    """CheckLength(LENGTH) -- drop packets longer than LENGTH

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Packets of at most LENGTH bytes leave by output 0; longer ones leave by
    output 1 when it is connected and are dropped otherwise.  Before an IPv6
    output, CheckLength(MTU) -> ... with output 1 to ICMP6Error(ADDR, toobig,
    PMTU MTU) is how a router takes part in path-MTU discovery (IPv6 routers
    never fragment).  The length is the packet's whole length: a GSO
    super-frame counts as one long packet, unless SEGMENTS is true.

    Keyword arguments:
      SEGMENTS (boolean, default false)  judge a GSO super-frame (TCP from an
                                         offloading TAP) by the network-layer
                                         length of the segments it leaves as,
                                         as Linux checks an MTU; the packet
                                         must then start at its IP header

    Handlers:
      drops (read)   packets longer than LENGTH
    """
    PORTS = "1/1-2"
    PROCESSING = "a/ah"

    def configure(self, args):
        self.max_length = args.mandatory("LENGTH", unsigned)
        self.segments = args.keyword("SEGMENTS", boolean, default=False)
        args.finish()
        self.drops = 0

    def process(self, batch):
        if not len(batch.idx):
            return batch
        pool, idx = batch.pool, batch.idx
        if pool._slots.max_length(idx) <= self.max_length:
            return batch        # one compiled pass: nothing is long (nor any segment)
        length = pool.length[idx]
        if self.segments and (pool.gso_size[idx] > 0).any():
            length = np.where(pool.gso_size[idx] > 0, segment_ip_lengths(pool, idx), length)
        long = length > self.max_length
        if not long.any():
            return batch
        self.drops += int(long.sum())
        too_long, ok = batch.split(long)
        self.emit_or_drop(1, too_long)
        return ok

    @read_handler("drops")
    def read_drops(self):
        return self.drops
