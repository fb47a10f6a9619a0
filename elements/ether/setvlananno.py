"""SetVLANAnno: set packets' VLAN annotation."""
from __future__ import annotations

from vforward.element import AGNOSTIC, Element, read_handler

from .vlantag import tci_arguments


class SetVLANAnno(Element):
    """SetVLANAnno(VLAN_TCI [, VLAN_PCP, KEYWORDS]) -- set the VLAN annotation

    Ports: 1 input, 1 output; agnostic.

    Sets each packet's VLAN annotation (what VLANEncap(ANNO) and
    EtherVLANEncap(..., ANNO) tag frames with) to VLAN_TCI, with VLAN_PCP
    in its top 3 bits.

    Arguments:
      VLAN_TCI (integer)              the tag control information
      VLAN_PCP (integer, default 0)   priority code point (0-7)

    Keyword arguments:
      VLAN_ID (integer, default 0)    the VLAN ID, instead of VLAN_TCI

    Handlers:
      vlan_tci (read)   the TCI set
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.tci, _ = tci_arguments(args, tci_optional=True)
        args.finish()
        if self.tci is None:
            self.tci = 0

    def process(self, batch):
        batch.pool.vlan_tci[batch.idx] = self.tci
        return batch

    @read_handler("vlan_tci")
    def read_vlan_tci(self):
        return self.tci
