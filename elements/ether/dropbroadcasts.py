"""DropBroadcasts: drop packets that arrived as link-level broadcasts or multicasts."""
from __future__ import annotations

import numpy as np

from vforward.element import AGNOSTIC, Element, read_handler
from vforward.packet import BROADCAST, MULTICAST


class DropBroadcasts(Element):
    """DropBroadcasts -- drop link-level broadcast and multicast packets

    Ports: 1 input, 1 output; agnostic.

    Drops packets whose packet-type annotation says they arrived as a
    link-level broadcast or multicast (FromDevice and the TAP sources set
    it from the Ethernet destination), as a router must not forward an IP
    packet that came in a link broadcast (RFC 1812 4.2.2.11); passes the
    rest.

    Handlers:
      drops (read)   packets dropped
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        args.finish()
        self.drops = 0

    def process(self, batch):
        if not len(batch.idx):
            return batch
        ptype = batch.pool.ptype[batch.idx]
        bad = (ptype == BROADCAST) | (ptype == MULTICAST)
        if bad.any():
            gone, batch = batch.split(bad)
            self.drops += len(gone.idx)
            gone.kill()
        return batch

    @read_handler("drops")
    def read_drops(self):
        return self.drops
