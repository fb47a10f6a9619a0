"""StripIPHeader and UnstripIPHeader: move a packet's start past its IP header, and back."""
from __future__ import annotations

import numpy as np

from vforward.element import AGNOSTIC, Element

from vforward.elements.ip.ipfields import ip_header_mask, packet_bounds


class StripIPHeader(Element):
    """StripIPHeader() -- strip the IP header from the front of packets

    Ports: 1 input, 1 output; agnostic.

    Removes everything up to the end of each packet's IP header, which the
    network header annotation (nh) locates and whose IHL gives its length
    (options included): after it, a packet starts at its transport header.
    Anything before the header (an Ethernet header) goes too.  No byte
    moves, and the annotation still points at the IP header, in the
    headroom, so UnstripIPHeader can put it back.  Packets without a whole
    IP header at nh pass unchanged.

    See also: UnstripIPHeader, Strip, CheckIPHeader (which sets nh).
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        args.finish()

    def process(self, batch):
        pool = batch.pool
        idx = batch.idx[ip_header_mask(pool, batch.idx)] if len(batch.idx) else batch.idx
        if len(idx):
            start, end, nh = packet_bounds(pool, idx)
            new = nh + (pool.data[idx, nh].astype(np.int64) & 0x0F) * 4
            pool.off[idx] = new
            pool.length[idx] = end - new
        return batch


class UnstripIPHeader(Element):
    """UnstripIPHeader() -- put the IP header back on the front of packets

    Ports: 1 input, 1 output; agnostic.

    Moves each packet's start back to its IP header, as the network header
    annotation (nh) locates it, when the packet starts after it (as
    StripIPHeader leaves it).  Packets starting at or before their header
    pass unchanged.

    See also: StripIPHeader.
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        args.finish()

    def process(self, batch):
        pool = batch.pool
        if not len(batch.idx):
            return batch
        start, end, nh = packet_bounds(pool, batch.idx)
        back = nh < start
        if back.any():
            idx = batch.idx[back]
            pool.off[idx] = nh[back]
            pool.length[idx] = (end - nh)[back]
        return batch
