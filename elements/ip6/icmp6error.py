"""ICMP6Error: answer an offending IPv6 packet with an ICMPv6 error message."""
from __future__ import annotations

import struct

import numpy as np

from vforward.args import ArgumentError, anything, unsigned
from vforward.element import AGNOSTIC, Element, read_handler
from vforward.packet import BROADCAST, MULTICAST

from vforward.elements.ip.icmperror import (ERROR_KEYWORDS_DOC, _checksum, _number,
                                             answer_offending, configure_error_source,
                                             error_source, resolve_error_source)

from .ip6family import IPV6, ip6_address_arg

PROTO_ICMP6 = 58
# RFC 4443 error types and their codes, by Click-style names.
ICMP6_TYPES = {"unreachable": 1, "toobig": 2, "packettoobig": 2, "timeexceeded": 3,
               "parameterproblem": 4}
ICMP6_CODES = {
    1: {"noroute": 0, "net": 0, "admin": 1, "prohibited": 1, "beyondscope": 2,
        "addr": 3, "host": 3, "port": 4},
    2: {},
    3: {"hlim": 0, "transit": 0, "reassembly": 1},
    4: {"header": 0, "nextheader": 1, "option": 2},
}
UNREACH, TOOBIG, TIMEEXCEEDED, PARAMPROB = 1, 2, 3, 4
MIN_MTU = 1280                     # RFC 8200: every IPv6 link carries 1280-byte packets
HOP_LIMIT = 255


def pseudo_header_checksum(src: bytes, dst: bytes, payload: bytes, proto: int = PROTO_ICMP6) -> int:
    """The ICMPv6/TCP/UDP checksum over RFC 8200's pseudo-header and payload."""
    return _checksum(src + dst + struct.pack("!IxxxB", len(payload), proto) + payload)


class ICMP6Error(Element):
    __doc__ = """ICMP6Error(SRC, TYPE [, CODE, KEYWORDS]) -- generate ICMPv6 error packets

    Ports: 1 input, 1 output; agnostic.

    Answers each incoming IPv6 packet (network header annotation set) with a
    new ICMPv6 error packet of type TYPE and code CODE (RFC 4443), built in a
    fresh pool slot: an IPv6 header from SRC to the offending packet's
    source, hop limit 255, and an ICMPv6 message quoting as much of the
    offending packet as fits in MTU bytes (1280 by default, the IPv6 minimum),
    checksum right.  The new packet's dst_ip6 annotation is its destination,
    so it can go straight to a route lookup.  The offending packet is freed.

    TYPE and CODE are numbers 0..255 or names.  TYPEs: unreachable (1),
    toobig (2), timeexceeded (3), parameterproblem (4).  CODEs: for
    unreachable noroute (0), admin (1), beyondscope (2), addr (3), port
    (4); for timeexceeded hlim (0), reassembly (1); for parameterproblem
    header (0), nextheader (1), option (2).  CODE defaults to 0.

    A toobig error reports the next-hop MTU given by PMTU (its fourth byte
    word); it is what makes path-MTU discovery work through this router.
    An unreachable noroute error is what Linux sends for a packet without a
    route: put this element on a route table's default (::/0) or NOROUTE
    output.  LIMIT shares one rate limit among a router's error elements;
    toobig errors pass it untouched, as in Linux (path-MTU discovery must
    not stall).

    As RFC 4443 2.4 asks, no error is sent about an ICMPv6 error message,
    a packet from the unspecified or a multicast source, or (except toobig)
    a packet to a multicast destination or sent as a link-level broadcast
    or multicast.  Such packets are dropped and counted.  This element works
    per packet in Python: errors are rare.

    Arguments:
      SRC (IPv6 address)   source address of the error packets
      TYPE (ICMPv6 type)   an error type, by number or name
      CODE (ICMPv6 code, default 0)   by number or name

    Keyword arguments:
      MTU (integer, default 1280)   largest error packet; the quote is cut to fit
      PMTU (integer, default 1280)  next-hop MTU reported in toobig errors
""" + ERROR_KEYWORDS_DOC + """

    Handlers:
      count (read)   error packets generated
      drops (read)   offending packets that got no answer (and pool exhaustion)
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.src = args.mandatory("SRC", ip6_address_arg)
        self.type = args.mandatory("TYPE", lambda t: _number(t, ICMP6_TYPES, "an ICMPv6 error type"))
        code_text = args.positional("CODE", anything, default="0")
        self.mtu = args.keyword("MTU", unsigned, default=MIN_MTU)
        self.pmtu = args.keyword("PMTU", unsigned, default=MIN_MTU)
        configure_error_source(self, args, ip6_address_arg)
        args.finish()
        if self.type not in ICMP6_CODES:
            raise ArgumentError(f"{args.where}: argument TYPE: ICMPv6 type {self.type} is not an "
                                "error type; use unreachable, toobig, timeexceeded or "
                                "parameterproblem")
        try:
            self.code = _number(code_text, ICMP6_CODES[self.type],
                                f"a code of ICMPv6 type {self.type}")
        except ArgumentError as e:
            raise ArgumentError(f"{args.where}: argument CODE: {e}") from None
        if self.mtu < MIN_MTU:
            raise ArgumentError(f"{args.where}: keyword MTU: {self.mtu} is below the IPv6 "
                                f"minimum of {MIN_MTU}")
        self.src_bytes = self.src.to_bytes(16, "big")
        self.count = 0
        self.drops = 0

    def initialize(self):
        resolve_error_source(self, IPV6)
        if self.type == TOOBIG:
            self.limit = None

    def process(self, batch):
        return answer_offending(self, batch)

    def _offending(self, pool, slot: int) -> bytes | None:
        """The bytes to quote, or None when no error may be sent."""
        start = int(pool.off[slot])
        end = start + int(pool.length[slot])
        h = int(pool.nh[slot])
        if end > pool.slot_size or h < start or h + 40 > end:
            return None
        ip = pool.data[slot, h:end].tobytes()
        if ip[0] >> 4 != 6:
            return None
        src, dst = ip[8:24], ip[24:40]
        if ip[6] == PROTO_ICMP6 and (len(ip) < 41 or ip[40] < 128):
            return None                     # never an error about an error
        if src == bytes(16) or src[0] == 0xFF:
            return None
        if self.type != TOOBIG and (dst[0] == 0xFF or pool.ptype[slot] in (BROADCAST, MULTICAST)):
            return None
        return ip[:self.mtu - 48]

    def _build(self, pool, new: int, slot: int, quote: bytes) -> None:
        dst = quote[8:24]
        src = self.src_bytes if self.routes is None else \
            error_source(self, int.from_bytes(dst, "big"), self.src).to_bytes(16, "big")
        rest = self.pmtu if self.type == TOOBIG else 0
        icmp = struct.pack("!BBHI", self.type, self.code, 0, rest) + quote
        cksum = pseudo_header_checksum(src, dst, icmp)
        icmp = icmp[:2] + struct.pack("!H", cksum) + icmp[4:]
        ip = struct.pack("!IHBB", 6 << 28, len(icmp), PROTO_ICMP6, HOP_LIMIT) + src + dst
        o = int(pool.off[new])
        n = len(ip) + len(icmp)
        pool.data[new, o:o + n] = np.frombuffer(ip + icmp, dtype=np.uint8)
        pool.length[new] = n
        pool.nh[new] = o
        pool.dst_ip6[new] = np.frombuffer(dst, dtype=np.uint8)
        pool.ts_ns[new] = pool.ts_ns[slot]

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops
