"""IPsecEncap: the outer IPv4 header of an ESP tunnel packet, to the gateway the lookup chose."""
from __future__ import annotations

from vforward.elements.tunnel.ipencap import IPEncap, ip_protocol


class IPsecEncap(IPEncap):
    """IPsecEncap(PROTO [, KEYWORDS]) -- encapsulate ESP packets in an IP header to their gateway

    Ports: 1 input, 1 output; agnostic.

    Prepends to each packet a 20-byte IPv4 header with protocol PROTO (50,
    or esp, for ESP) whose destination is the packet's destination
    annotation: the tunnel's far gateway, which RadixIPsecLookup put there.
    The source is left 0.0.0.0 and the packet asks FixIPSrc (its Fix IP
    Source annotation) for the address of the interface it leaves by, as in
    Click: send the packet back to the route table, then through FixIPSrc.
    The header's length, an ID counting up and its checksum are filled in,
    the IP header annotation (nh) points at it and the destination
    annotation stays the gateway.

    Click documents SRC and DST arguments that its IPsecEncap ignores; this
    one takes PROTO and the keywords only.

    Arguments:
      PROTO (protocol)          a number or a name: esp (50), ipip, udp ...

    Keyword arguments:
      TTL (byte, 250)           the time-to-live
      TOS (byte, 0)             the type-of-service byte (not with DSCP, ECT or CE)
      DSCP (0..63, 0)           the DSCP bits
      ECT (boolean or 2)        set the ECN bits to ECT(1) (true) or ECT(0) (2)
      CE (boolean, false)       set the ECN bits to CE
      DF (boolean, false)       set the Don't Fragment bit

    Handlers:
      src (read/write)          the source address (0.0.0.0: FixIPSrc fills it in)
      dst (read/write)          DST_ANNO, or a fixed destination written here
      count (read)              packets encapsulated
      drops (read)              packets dropped for want of room
    """

    def configure(self, args):
        self.proto = args.positional("PROTO", ip_protocol)
        self.src, self.dst = 0, None
        self.header_keywords(args)

    def process(self, batch):
        batch = super().process(batch)
        if self.src == 0 and len(batch.idx):
            batch.pool.fix_ip_src[batch.idx] = 1
        return batch
