"""UDPIPEncap: wraps packets in UDP and IPv4 headers."""
from __future__ import annotations

from vforward.args import ArgumentError, boolean, ip_address
from vforward.element import HandlerError, read_handler, write_handler
from vforward.elements.io.socket import udp_port
from vforward.elements.tunnel.ipencap import (IPv4Encapsulator, byte_value, destination,
                                              header_kernels)


class UDPIPEncap(IPv4Encapsulator):
    """UDPIPEncap(SRC, SPORT, DST, DPORT [, CHECKSUM] [, KEYWORDS]) -- encapsulate packets in UDP/IP headers

    Ports: 1 input, 1 output; agnostic.

    Prepends to each packet an 8-byte UDP header (source port SPORT,
    destination port DPORT) and a 20-byte IPv4 header (source SRC,
    destination DST, protocol 17), as Click's UDPIPEncap.  DST may be
    DST_ANNO, for the packet's destination annotation.  The IP header's
    length, ID (counting up) and checksum are filled in, TTL is 250 and the
    fragment field 0, as in Click; with CHECKSUM (the default) the UDP
    checksum covers the pseudo-header and the whole datagram, without it is
    0.  The IP header annotation (nh) points at the new IP header and the
    destination annotation is set to the destination.

    The headers go into the headroom in front of each packet, for the whole
    batch in one compiled call (cext/udpio.pyx): no packet byte moves.

    Arguments:
      SRC (IP address)        the source address
      SPORT (port)            the UDP source port
      DST (IP address)        the destination address, or DST_ANNO
      DPORT (port)            the UDP destination port
      CHECKSUM (boolean, true) compute the UDP checksum

    Keyword arguments:
      TTL (byte, 250)         the IP time-to-live
      TOS (byte, 0)           the IP type-of-service byte
      DF (boolean, false)     set the Don't Fragment bit

    Handlers:
      src, sport, dst, dport (read/write)   the header fields (dst takes DST_ANNO)
      count (read)            packets encapsulated
      drops (read)            packets dropped for want of room
    """
    HEADER_LEN = 28

    def configure(self, args):
        self.src = args.positional("SRC", ip_address)
        self.sport = args.positional("SPORT", udp_port)
        self.dst = args.positional("DST", destination)
        self.dport = args.positional("DPORT", udp_port)
        self.checksum = args.positional("CHECKSUM", boolean, default=True)
        self.ttl = args.keyword("TTL", byte_value, default=250)
        self.tos = args.keyword("TOS", byte_value, default=0)
        self.df = args.keyword("DF", boolean, default=False)
        args.finish()
        self.ip_id = 0
        self.count = self.drops = 0

    def _push(self, pool, idx, short):
        self.ip_id = header_kernels.push_udp_ip(
            pool, idx, self.src, self.dst or 0, self.sport, self.dport, self.tos, self.ttl,
            self.df, self.ip_id, self.checksum, self.dst is None, None, short)

    @read_handler("sport")
    def read_sport(self):
        return self.sport

    @write_handler("sport")
    def write_sport(self, value):
        self.sport = _port_value(value, "sport")

    @read_handler("dport")
    def read_dport(self):
        return self.dport

    @write_handler("dport")
    def write_dport(self, value):
        self.dport = _port_value(value, "dport")


def _port_value(text: str, name: str) -> int:
    try:
        return udp_port(text.strip())
    except ArgumentError as e:
        raise HandlerError(f"{name}: {e}") from None
