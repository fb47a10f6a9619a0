"""GetIPAddress: copy four packet bytes into an address annotation."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, unquote, unsigned
from vforward.element import AGNOSTIC, Element

from vforward.elements.ip.ipfields import be32, gather, ipheader

# Annotation names accepted by ANNO (Click spells them DST_IP_ANNO ...), and
# the pool column each one means.
_ANNOS = {"dst_ip": "dst_ip", "dst_ip_anno": "dst_ip", "user": "user", "user_anno": "user"}


def _annotation(text: str) -> str:
    name = unquote(text).strip().lower()
    if name not in _ANNOS:
        raise ArgumentError(f"expected an address annotation, dst_ip or user, got {text!r}")
    return _ANNOS[name]


class GetIPAddress(Element):
    """GetIPAddress(OFFSET [, ANNO]) -- set the destination address annotation from packet data

    Ports: 1 input, 1 output; agnostic.

    Copies the 4 bytes OFFSET bytes into each packet (from its first byte,
    not from the IP header) into the destination IP address annotation, in
    host byte order.  OFFSET is usually 16, the IP destination of a packet
    that starts with its IP header.  Packets shorter than OFFSET + 4 bytes
    keep their annotation.  The batch is read with one vectorised gather.

    The destination address annotation tells ARPQuerier and the route
    lookup elements where a packet goes.

    Arguments:
      OFFSET (integer)   where the address starts in the packet
      ANNO (dst_ip or user, default dst_ip)   the annotation to set

    See also: CheckIPHeader, which sets the annotation from the IP header.
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.offset = args.mandatory("OFFSET", unsigned)
        self.anno = args.positional("ANNO", _annotation, default="dst_ip")
        args.finish()
        if self.offset > 0xFFFF:
            raise ArgumentError(f"{args.where}: argument OFFSET: {self.offset} is past any "
                                "packet; give an offset below 65536")

    def process(self, batch):
        idx = batch.idx
        if not len(idx):
            return batch
        pool = batch.pool
        if self.offset == 16 and self.anno == "dst_ip" and _at_ip_header(pool, idx):
            # The usual GetIPAddress(16) right after Strip: the compiled copy of the
            # IP destination at the nh annotation does the same in one call.
            ipheader.ip_dst_to_anno(pool, idx)
            return batch
        start = pool.off[idx].astype(np.int64) + self.offset
        fits = (start + 4 <= pool.off[idx].astype(np.int64) + pool.length[idx]) & \
               (start + 4 <= pool.slot_size)
        if not fits.all():
            idx, start = idx[fits], start[fits]
        getattr(pool, self.anno)[idx] = be32(gather(pool, idx, start, 4))
        return batch


def _at_ip_header(pool, idx) -> bool:
    """Whether every packet starts at its IP header (nh == off).  The kernel then
    reads the same 4 bytes, and like the general path skips packets of fewer
    than 20 bytes, leaving their annotation as it was."""
    return bool((pool.nh[idx] == pool.off[idx]).all())
