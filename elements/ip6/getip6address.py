"""GetIP6Address: copy sixteen packet bytes into the IPv6 destination annotation."""
from __future__ import annotations

import numpy as np

from vforward.args import unsigned
from vforward.element import AGNOSTIC, Element

from vforward.elements.ether.ethernet import gather


class GetIP6Address(Element):
    """GetIP6Address(OFFSET) -- set the IPv6 destination annotation from packet data

    Ports: 1 input, 1 output; agnostic.

    Copies the 16 bytes OFFSET bytes into each packet (from its first byte)
    into the IPv6 destination address annotation (dst_ip6), which
    LookupIP6Route and IP6NDSolicitor read.  OFFSET is usually 24, the
    destination of a packet that starts with its IPv6 header.  Packets
    shorter than OFFSET + 16 bytes keep their annotation.

    Arguments:
      OFFSET (integer)   where the address starts in the packet

    See also: CheckIP6Header, which sets the annotation from the IPv6 header.
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.offset = args.mandatory("OFFSET", unsigned)
        args.finish()

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        long_enough = idx[pool.length[idx] >= self.offset + 16]
        if len(long_enough):
            pool.dst_ip6[long_enough] = gather(pool, long_enough, self.offset, 16).astype(np.uint8)
        return batch
