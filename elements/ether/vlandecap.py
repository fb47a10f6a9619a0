"""VLANDecap: remove an 802.1Q tag from Ethernet frames."""
from __future__ import annotations

from vforward.args import boolean
from vforward.element import AGNOSTIC, Element

from .ethernet import ethertype_value
from .vlantag import TPID_8021Q, remove_tag, tagged


class VLANDecap(Element):
    """VLANDecap([ANNO, KEYWORDS]) -- remove 802.1Q tags from Ethernet frames

    Ports: 1 input, 1 output; agnostic.

    Removes the 4-byte tag after the addresses of each Ethernet frame whose
    tag protocol identifier is ETHERTYPE, and (with ANNO true) stores its
    tag control information in the packet's VLAN annotation, for
    VLANEncap(ANNO) to put back.  An untagged frame passes unchanged, with
    annotation 0.

    Arguments:
      ANNO (boolean, default true)   set the VLAN annotation

    Keyword arguments:
      ETHERTYPE (integer, default 0x8100)   the tag protocol identifier to remove
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.anno = args.positional("ANNO", boolean, default=True)
        self.tpid = args.keyword("ETHERTYPE", ethertype_value, default=TPID_8021Q)
        args.finish()

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        has = tagged(pool, idx, self.tpid)
        for slot, t in zip(idx.tolist(), has.tolist()):
            tci = remove_tag(pool, slot) if t else 0
            if self.anno:
                pool.vlan_tci[slot] = tci
        return batch
