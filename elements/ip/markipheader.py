"""MarkIPHeader: set the IP header annotation without checking anything."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, unsigned
from vforward.element import AGNOSTIC, Element


class MarkIPHeader(Element):
    """MarkIPHeader([OFFSET]) -- set the IP header annotation

    Ports: 1 input, 1 output; agnostic.

    Marks packets as IP packets: sets the network header annotation (nh) to
    OFFSET bytes into the packet, for the whole batch at once.  Checks
    nothing, does not cut packets to the IP length and does not set the
    destination address annotation; CheckIPHeader does all three.

    Arguments:
      OFFSET (integer, default 0)   where the IP header starts in the packet
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.offset = args.positional("OFFSET", unsigned, default=0)
        args.finish()
        if self.offset > 0xFFFF:
            raise ArgumentError(f"{args.where}: argument OFFSET: {self.offset} is past any "
                                "packet; give an offset below 65536")

    def process(self, batch):
        idx = batch.idx
        pool = batch.pool
        if len(idx) == 1:       # one packet: scalar access, not four array calls
            slot = idx.item(0)
            pool.nh[slot] = min(pool.off.item(slot) + self.offset, 0xFFFF)
        else:
            pool.nh[idx] = np.minimum(pool.off[idx].astype(np.int64) + self.offset, 0xFFFF)
        return batch
