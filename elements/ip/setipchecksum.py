"""SetIPChecksum: recompute the IP header checksum."""
from __future__ import annotations

from vforward.element import AGNOSTIC, Element, read_handler

from vforward.elements.ip.ipfields import ip_header_mask, ipheader


class SetIPChecksum(Element):
    """SetIPChecksum -- set IP packets' checksums

    Ports: 1 input, 1 output; agnostic.

    Expects IP packets with the network header annotation set.  Computes
    each IP header's checksum from scratch and stores it, for the whole
    batch in one call of the compiled kernel set_ip_checksum
    (cext/ipheader.pyx).  A packet without a whole IP header at its
    annotation (fewer than 20 bytes, or fewer than its header length says)
    is dropped, as in Click.

    You will not normally need SetIPChecksum: elements that change a header,
    like DecIPTTL, update the checksum themselves.

    Handlers:
      drops (read)   packets dropped for lack of a whole IP header
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        args.finish()
        self.drops = 0

    def process(self, batch):
        if not len(batch.idx):
            return batch
        whole = ip_header_mask(batch.pool, batch.idx)
        if not whole.all():
            batch, bad = batch.split(whole)
            self.drops += len(bad)
            bad.kill()
        ipheader.set_ip_checksum(batch.pool, batch.idx)
        return batch

    @read_handler("drops")
    def read_drops(self):
        return self.drops
