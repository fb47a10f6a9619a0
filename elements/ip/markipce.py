"""MarkIPCE: mark ECN-capable IP packets Congestion Experienced."""
from __future__ import annotations

from vforward.args import boolean
from vforward.element import AGNOSTIC, Element, read_handler

from vforward.elements.ip.ipfields import ip_header_mask, ipheader


class MarkIPCE(Element):
    """MarkIPCE([FORCE]) -- set IP packets' ECN field to Congestion Experienced

    Ports: 1 input, 1 output; agnostic.

    Expects IP packets with the network header annotation set.  A packet
    whose ECN field says it is ECN-capable (ECT(0), ECT(1)) or already CE
    leaves with the field set to CE (3) and its header checksum updated.
    A packet that is not ECN-capable is dropped, unless FORCE is true, in
    which case it is marked CE too.  Packets without a whole IP header are
    dropped.

    Arguments:
      FORCE (boolean, default false)   mark packets that are not ECN-capable

    Handlers:
      drops (read)   packets dropped
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.force = args.positional("FORCE", boolean, default=False)
        args.finish()
        self.drops = 0

    def process(self, batch):
        idx = batch.idx
        if not len(idx):
            return batch
        pool = batch.pool
        keep = ip_header_mask(pool, idx)
        tos_pos = pool.nh[idx].astype("int64") + 1
        if not self.force:
            keep &= (pool.data[idx, tos_pos] & 0x03) != 0
        if not keep.all():
            batch, gone = batch.split(keep)
            self.drops += len(gone.idx)
            gone.kill()
            idx = batch.idx
            tos_pos = tos_pos[keep]
        if len(idx):
            pool.data[idx, tos_pos] |= 0x03
            ipheader.set_ip_checksum(pool, idx)
        return batch

    @read_handler("drops")
    def read_drops(self):
        return self.drops
