"""GetIPAddress: copy four packet bytes into an address annotation."""
from __future__ import annotations

from vforward.args import ArgumentError, unquote, unsigned
from vforward.element import AGNOSTIC, Element

from vforward.elements.ip.ipfields import ipheader

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
    keep their annotation.  The batch is read with one call of the compiled
    kernel get_ip_address (cext/ipheader.pyx).

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
        if len(idx):
            pool = batch.pool
            ipheader.get_ip_address(pool, idx, self.offset, getattr(pool, self.anno))
        return batch
