"""SetIPDSCP: set the Differentiated Services code point of IP packets."""
from __future__ import annotations

from vforward.args import ArgumentError, unsigned
from vforward.element import AGNOSTIC, Element, HandlerError, read_handler, write_handler

from vforward.elements.ip.ipfields import ip_header_mask, ipheader


def dscp(text: str) -> int:
    v = unsigned(text.strip())
    if v > 63:
        raise ArgumentError(f"expected a DSCP from 0 to 63, got {text!r}")
    return v


class SetIPDSCP(Element):
    """SetIPDSCP(DSCP) -- set IP packets' DSCP field

    Ports: 1 input, 1 output; agnostic.

    Expects IP packets with the network header annotation set.  Sets the
    upper six bits of each header's TOS byte (the DSCP) to DSCP, keeping
    the two ECN bits, and recomputes the header checksum (compiled kernel
    set_ip_checksum).  Packets without a whole IP header pass unchanged.

    Arguments:
      DSCP (integer 0-63)   the code point

    Handlers:
      dscp (read/write)   DSCP
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.dscp = args.mandatory("DSCP", dscp)
        args.finish()

    def process(self, batch):
        idx = batch.idx
        if not len(idx):
            return batch
        pool = batch.pool
        ok = idx[ip_header_mask(pool, idx)]
        if len(ok):
            pos = pool.nh[ok].astype("int64") + 1
            pool.data[ok, pos] = (pool.data[ok, pos] & 0x03) | (self.dscp << 2)
            ipheader.set_ip_checksum(pool, ok)
        return batch

    @read_handler("dscp")
    def read_dscp(self):
        return self.dscp

    @write_handler("dscp")
    def write_dscp(self, value):
        try:
            self.dscp = dscp(value)
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
