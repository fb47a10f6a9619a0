"""EtherVLANEncap and StripEtherVLANHeader: an Ethernet header with an 802.1Q tag."""
from __future__ import annotations

import numpy as np

from vforward.args import mac_address
from vforward.element import AGNOSTIC, Element, read_handler
from vforward.packet import Batch

from .ethernet import ETHER_HEADER_LEN, ether_header, ethertype_value, make_headroom, push_headers
from .vlantag import TPID_8021Q, insert_tag, remove_tag, tagged


class EtherVLANEncap(Element):
    """EtherVLANEncap(ETHERTYPE, SRC, DST, VLAN_TCI [, VLAN_PCP, KEYWORDS]) -- add an Ethernet header with an 802.1Q tag

    Ports: 1 input, 1 output; agnostic.

    Prepends an 18-byte Ethernet header: DST, SRC, the 802.1Q tag (0x8100
    and the tag control information) and ETHERTYPE.  VLAN_TCI is the TCI,
    or ANNO for each packet's VLAN annotation; VLAN_PCP goes in its top 3
    bits.  A packet whose VLAN ID is NATIVE_VLAN gets a plain 14-byte header.

    Arguments:
      ETHERTYPE (integer)             Ethernet type of the payload, such as 0x0800
      SRC, DST (Ethernet address)     the addresses
      VLAN_TCI (integer or ANNO)      the tag control information
      VLAN_PCP (integer, default 0)   priority code point

    Keyword arguments:
      VLAN_ID (integer)                  the VLAN ID, instead of VLAN_TCI
      NATIVE_VLAN (integer, default 0)   packets of this VLAN ID are not tagged; -1 for none

    Handlers:
      drops (read)   packets dropped for lack of room
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        from .vlantag import tci_arguments
        self.ethertype = args.mandatory("ETHERTYPE", ethertype_value)
        self.src = args.mandatory("SRC", mac_address)
        self.dst = args.mandatory("DST", mac_address)
        self.tci, self.native = tci_arguments(args, tci_optional=True)
        args.finish()
        self._header = ether_header(self.ethertype, self.src, self.dst)
        self.drops = 0

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        keep = make_headroom(pool, idx, ETHER_HEADER_LEN)
        tci = pool.vlan_tci[idx].astype(np.uint16) if self.tci is None else \
            np.full(len(idx), self.tci, dtype=np.uint16)
        if keep.any():
            push_headers(pool, idx[keep], self._header)
            tag = keep & ((tci & 0xFFF) != self.native)
            if tag.any():
                keep[tag] = insert_tag(pool, idx[tag], TPID_8021Q, tci[tag])
        if not keep.all():
            self.drops += int((~keep).sum())
            Batch(pool, idx[~keep]).kill()
            return Batch(pool, idx[keep])
        return batch

    @read_handler("drops")
    def read_drops(self):
        return self.drops


class StripEtherVLANHeader(Element):
    """StripEtherVLANHeader([NATIVE_VLAN]) -- strip an Ethernet header, tagged or not

    Ports: 1 input, 1 output; agnostic.

    Removes the Ethernet header of each frame: 18 bytes when it carries an
    802.1Q tag, whose tag control information goes into the VLAN
    annotation; 14 bytes otherwise, with annotation NATIVE_VLAN.

    Arguments:
      NATIVE_VLAN (integer, default 0)   the annotation of untagged frames
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        from vforward.args import unsigned
        self.native = args.positional("NATIVE_VLAN", unsigned, default=0)
        args.finish()

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        has = tagged(pool, idx, TPID_8021Q)
        for slot, t in zip(idx.tolist(), has.tolist()):
            pool.vlan_tci[slot] = remove_tag(pool, slot) if t else self.native
        pool._slots.strip(idx, ETHER_HEADER_LEN)
        return batch
