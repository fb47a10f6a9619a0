"""VLANEncap: insert an 802.1Q tag into Ethernet frames."""
from __future__ import annotations

import numpy as np

from vforward.element import AGNOSTIC, Element, read_handler
from vforward.packet import Batch

from .ethernet import ethertype_value
from .vlantag import TPID_8021Q, insert_tag, tci_arguments


class VLANEncap(Element):
    """VLANEncap(VLAN_TCI [, VLAN_PCP, KEYWORDS]) -- add an 802.1Q tag to Ethernet frames

    Ports: 1 input, 1 output; agnostic.

    Inserts a 4-byte 802.1Q tag (ETHERTYPE, then the tag control
    information) after the destination and source addresses of each
    Ethernet frame.  VLAN_TCI is the 16-bit TCI, or the word ANNO to use
    each packet's VLAN annotation (set by VLANDecap or SetVLANAnno).
    VLAN_PCP (0-7) goes into the top 3 bits.  A frame whose VLAN ID equals
    NATIVE_VLAN is left untagged.  A frame with no room for the tag in its
    slot is dropped and counted.

    Arguments:
      VLAN_TCI (integer or ANNO)      the tag control information
      VLAN_PCP (integer, default 0)   priority code point

    Keyword arguments:
      VLAN_ID (integer, default 0)       the VLAN ID, instead of VLAN_TCI
      NATIVE_VLAN (integer, default 0)   frames of this VLAN ID stay untagged; -1 for none
      ETHERTYPE (integer, default 0x8100)   the tag protocol identifier (0x88a8 for 802.1ad)

    Handlers:
      vlan_tci (read)   the TCI, or ANNO
      drops (read)      frames dropped for lack of room
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.tci, self.native = tci_arguments(args, tci_optional=True)
        self.tpid = args.keyword("ETHERTYPE", ethertype_value, default=TPID_8021Q)
        args.finish()
        self.drops = 0

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        tci = pool.vlan_tci[idx].astype(np.uint16) if self.tci is None else \
            np.full(len(idx), self.tci, dtype=np.uint16)
        tag = (tci & 0xFFF) != self.native
        if not tag.any():
            return batch
        keep = np.ones(len(idx), dtype=bool)
        keep[tag] = insert_tag(pool, idx[tag], self.tpid, tci[tag])
        if not keep.all():
            self.drops += int((~keep).sum())
            Batch(pool, idx[~keep]).kill()
            return Batch(pool, idx[keep])
        return batch

    @read_handler("vlan_tci")
    def read_vlan_tci(self):
        return "ANNO" if self.tci is None else self.tci

    @read_handler("drops")
    def read_drops(self):
        return self.drops
