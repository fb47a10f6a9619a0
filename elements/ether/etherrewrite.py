"""EtherRewrite: sets the addresses of every Ethernet header of a batch in place."""
from __future__ import annotations

import numpy as np

from vforward.args import mac_address
from vforward.element import AGNOSTIC, Element, read_handler, write_handler

from .ethernet import ETHER_HEADER_LEN, handler_value, scatter, unparse_mac


class EtherRewrite(Element):
    """EtherRewrite(SRC, DST) -- rewrite source and destination Ethernet address

    Ports: 1 input, 1 output; agnostic.

    Overwrites the destination and source addresses of each packet's
    Ethernet header with DST and SRC, in place and for the whole batch at
    once; the Ethernet type stays as it was.  Useful when a link has one
    possible next hop, so that both addresses are the same for every packet
    that leaves by it.

    A packet shorter than an Ethernet header has no addresses to rewrite; it
    is dropped and counted.

    Arguments:
      SRC (Ethernet address)   new source address
      DST (Ethernet address)   new destination address

    Example:
      EtherRewrite(1:1:1:1:1:1, 2:2:2:2:2:2)

    Handlers:
      src (read/write)   SRC, as 00-01-02-03-04-05
      dst (read/write)   DST
      drops (read)       packets dropped for being shorter than 14 bytes
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        src = args.mandatory("SRC", mac_address)
        dst = args.mandatory("DST", mac_address)
        args.finish()
        self._set(src, dst)
        self.drops = 0

    def _set(self, src: bytes, dst: bytes) -> None:
        self.src, self.dst = src, dst
        self._addresses = np.frombuffer(dst + src, dtype=np.uint8).copy()

    def process(self, batch):
        pool = batch.pool
        short = pool.length[batch.idx] < ETHER_HEADER_LEN
        if short.any():
            dropped = batch.select(short)
            self.drops += len(dropped)
            dropped.kill()
            batch = batch.select(~short)
        scatter(pool, batch.idx, 0, self._addresses)
        return batch

    @read_handler("src")
    def read_src(self):
        return unparse_mac(self.src)

    @write_handler("src")
    def write_src(self, value):
        self._set(handler_value(mac_address, value, "SRC"), self.dst)

    @read_handler("dst")
    def read_dst(self):
        return unparse_mac(self.dst)

    @write_handler("dst")
    def write_dst(self, value):
        self._set(self.src, handler_value(mac_address, value, "DST"))

    @read_handler("drops")
    def read_drops(self):
        return self.drops
