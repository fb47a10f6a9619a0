"""EtherEncap: prepends one fixed Ethernet header to every packet of a batch."""
from __future__ import annotations

from vforward.args import mac_address
from vforward.element import AGNOSTIC, Element, read_handler, write_handler

from .ethernet import (ETHER_HEADER_LEN, ether_header, ethertype_value, handler_value,
                       make_headroom, push_headers, unparse_mac)


class EtherEncap(Element):
    """EtherEncap(ETHERTYPE, SRC, DST) -- encapsulate packets in an Ethernet header

    Ports: 1 input, 1 output; agnostic.

    Prepends the Ethernet header DST, SRC, ETHERTYPE to every packet.  The
    header goes into the packet's headroom for the whole batch at once: the
    packets' start moves back 14 bytes and the header bytes are written
    there, so no packet byte moves.  ETHERTYPE is in host order, as in
    Click: 0x0800 for IP, 0x0806 for ARP.

    For IP packets towards a next hop you probably want ARPQuerier, which
    finds DST by itself.

    A packet without 14 bytes of headroom (rare: earlier encapsulations
    used it up) is moved in its slot first; one whose slot has no room
    even so is dropped and counted.

    Arguments:
      ETHERTYPE (integer)   Ethernet type, such as 0x0800
      SRC (Ethernet address)   source address
      DST (Ethernet address)   destination address

    Example:
      EtherEncap(0x0800, 1:1:1:1:1:1, 2:2:2:2:2:2)

    Handlers:
      src (read/write)         SRC, as 00-01-02-03-04-05
      dst (read/write)         DST
      ethertype (read/write)   ETHERTYPE, read in decimal as Click prints it
      drops (read)             packets dropped for lack of room in their slot
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        ethertype = args.mandatory("ETHERTYPE", ethertype_value)
        src = args.mandatory("SRC", mac_address)
        dst = args.mandatory("DST", mac_address)
        args.finish()
        self._set(ethertype, src, dst)
        self.drops = 0

    def _set(self, ethertype: int, src: bytes, dst: bytes) -> None:
        self.ethertype, self.src, self.dst = ethertype, src, dst
        self._header = ether_header(ethertype, src, dst)

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        keep = make_headroom(pool, idx, ETHER_HEADER_LEN)
        if not keep.all():
            dropped = batch.select(~keep)
            self.drops += len(dropped)
            dropped.kill()
            batch = batch.select(keep)
            idx = batch.idx
        push_headers(pool, idx, self._header)
        return batch

    @read_handler("src")
    def read_src(self):
        return unparse_mac(self.src)

    @write_handler("src")
    def write_src(self, value):
        self._set(self.ethertype, handler_value(mac_address, value, "SRC"), self.dst)

    @read_handler("dst")
    def read_dst(self):
        return unparse_mac(self.dst)

    @write_handler("dst")
    def write_dst(self, value):
        self._set(self.ethertype, self.src, handler_value(mac_address, value, "DST"))

    @read_handler("ethertype")
    def read_ethertype(self):
        return self.ethertype

    @write_handler("ethertype")
    def write_ethertype(self, value):
        self._set(handler_value(ethertype_value, value, "ETHERTYPE"), self.src, self.dst)

    @read_handler("drops")
    def read_drops(self):
        return self.drops

