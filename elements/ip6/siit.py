"""Stateless IPv4/IPv6 header translation (SIIT, RFC 7915), packet by packet.

The two directions ProtocolTranslator64 and ProtocolTranslator46 apply: an
IPv6 packet between IPv4-embedded addresses becomes the IPv4 packet between
those IPv4 addresses, and back.  TCP and UDP keep their payload with the
checksum recomputed over the other family's pseudo-header; ICMPv6 and ICMP
messages are mapped type by type (echo, unreachable, too big / need frag,
time exceeded, parameter problem), and an error's quoted packet is
translated too, so the host receiving it can match it to its own flow.

Each function takes the packet from its network header and returns the
translated packet's bytes, or None for a packet SIIT cannot carry (an IPv6
address with no IPv4 inside, extension headers, IPv4 fragments or options
beyond the header are dropped, RFC 7915 4.1 and 5.1 allow this; an ICMP
type with no counterpart, such as neighbour discovery).
"""
from __future__ import annotations

import struct

from vforward.elements.ip.icmperror import _checksum

from .icmp6error import pseudo_header_checksum

TCP, UDP, ICMP, ICMP6 = 6, 17, 1, 58
IP_DF = 0x4000
MAPPED_PREFIX = bytes(10) + b"\xff\xff"     # ::ffff:a.b.c.d, RFC 4291 2.5.5.2
COMPATIBLE_PREFIX = bytes(12)               # ::a.b.c.d, the older IPv4-compatible form
# Extension headers: hop-by-hop, routing, fragment, destination options.
EXTENSION_HEADERS = frozenset((0, 43, 44, 60))

# ICMPv6 unreachable code -> ICMP unreachable code (RFC 7915 5.2).
UNREACH_6TO4 = {0: 1, 1: 10, 2: 1, 3: 1, 4: 3}
# ICMP unreachable code -> ICMPv6 unreachable code (RFC 7915 4.2).
UNREACH_4TO6 = {0: 0, 1: 0, 5: 0, 6: 0, 7: 0, 8: 0, 11: 0, 12: 0, 9: 1, 10: 1, 13: 1, 15: 1,
                3: 4}
# IPv4 header byte -> IPv6 header byte for parameter-problem pointers, and back.
POINTER_4TO6 = {0: 0, 1: 1, 2: 4, 3: 4, 8: 7, 9: 6, 12: 8, 13: 8, 14: 8, 15: 8,
                16: 24, 17: 24, 18: 24, 19: 24}
POINTER_6TO4 = {0: 0, 1: 1, 4: 2, 5: 2, 6: 9, 7: 8, **{i: 12 for i in range(8, 24)},
                **{i: 16 for i in range(24, 40)}}


def embedded_ip4(addr6: bytes) -> bytes | None:
    """The IPv4 address inside an IPv4-mapped or IPv4-compatible IPv6 address."""
    if addr6[:12] == MAPPED_PREFIX:
        return addr6[12:]
    if addr6[:12] == COMPATIBLE_PREFIX and addr6[12:] != bytes(4) and addr6[12:] != b"\0\0\0\1":
        return addr6[12:]            # ::a.b.c.d, but not :: or ::1
    return None


def mapped_ip6(addr4: bytes) -> bytes:
    return MAPPED_PREFIX + addr4


def _ip4_transport_checksum(src: bytes, dst: bytes, proto: int, segment: bytes) -> int:
    return _checksum(src + dst + struct.pack("!xBH", proto, len(segment)) + segment)


def _with_checksum(segment: bytes, at: int, value: int) -> bytes:
    return segment[:at] + struct.pack("!H", value) + segment[at + 2:]


def _zero_checksum(segment: bytes, at: int) -> bytes:
    return _with_checksum(segment, at, 0)


def _checksum_at(proto: int) -> int | None:
    return {TCP: 16, UDP: 6}.get(proto)


# -- IPv6 -> IPv4 ------------------------------------------------------------

def six_to_four(packet: bytes, quoted: bool = False) -> bytes | None:
    """The IPv4 translation of an IPv6 packet; a quoted packet (inside an
    ICMP error) may be cut short and keeps its transport checksum."""
    if len(packet) < 40 or packet[0] >> 4 != 6:
        return None
    plen = struct.unpack_from("!H", packet, 4)[0]
    nxt, hlim = packet[6], packet[7]
    src, dst = embedded_ip4(packet[8:24]), embedded_ip4(packet[24:40])
    if src is None or dst is None or nxt in EXTENSION_HEADERS:
        return None
    payload = packet[40:40 + plen]
    if not quoted and len(payload) < plen:
        return None
    tclass = (struct.unpack_from("!I", packet, 0)[0] >> 20) & 0xFF
    proto = nxt
    if nxt == ICMP6:
        proto = ICMP
        payload = _icmp6_to_icmp(payload, quoted)
        if payload is None:
            return None
    elif not quoted and _checksum_at(nxt) is not None and len(payload) >= _checksum_at(nxt) + 2:
        at = _checksum_at(nxt)
        seg = _zero_checksum(payload, at)
        payload = _with_checksum(seg, at, _ip4_transport_checksum(src, dst, nxt, seg) or
                                 (0xFFFF if nxt == UDP else 0))
    total = 20 + (len(payload) if not quoted else plen)
    header = struct.pack("!BBHHHBBH4s4s", 0x45, tclass, total, 0, IP_DF, hlim, proto, 0, src, dst)
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + payload


def _icmp6_to_icmp(msg: bytes, quoted: bool) -> bytes | None:
    if len(msg) < 8:
        return None
    typ, code = msg[0], msg[1]
    rest = msg[4:8]
    inner = b""
    if typ in (128, 129):                       # echo request / reply
        out_type, out_code, body = (8 if typ == 128 else 0), 0, msg[4:]
    else:
        if quoted:
            return None                         # never an error inside an error
        if typ == 1:
            if code not in UNREACH_6TO4:
                return None
            out_type, out_code = 3, UNREACH_6TO4[code]
        elif typ == 2:                          # packet too big -> fragmentation needed
            mtu = struct.unpack("!I", rest)[0]
            out_type, out_code, rest = 3, 4, struct.pack("!HH", 0, max(68, min(mtu - 20, 0xFFFF)))
        elif typ == 3:
            out_type, out_code = 11, code
        elif typ == 4:
            if code == 1:                       # unrecognised next header -> protocol unreachable
                out_type, out_code, rest = 3, 2, bytes(4)
            elif code == 0:
                ptr = POINTER_6TO4.get(struct.unpack("!I", rest)[0])
                if ptr is None:
                    return None
                out_type, out_code, rest = 12, 0, bytes((ptr, 0, 0, 0))
            else:
                return None
        else:
            return None                         # neighbour discovery, MLD ...: no IPv4 twin
        inner = six_to_four(msg[8:], quoted=True)
        if inner is None:
            return None
        body = rest + inner
    out = struct.pack("!BBH", out_type, out_code, 0) + body
    return _with_checksum(out, 2, _checksum(out))


# -- IPv4 -> IPv6 ------------------------------------------------------------

def four_to_six(packet: bytes, quoted: bool = False) -> bytes | None:
    """The IPv6 translation of an IPv4 packet (addresses become ::ffff:a.b.c.d)."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total, frag = struct.unpack_from("!H", packet, 2)[0], struct.unpack_from("!H", packet, 6)[0]
    if ihl < 20 or len(packet) < ihl or (not quoted and (total > len(packet) or total < ihl)):
        return None
    if frag & 0x3FFF and not quoted:            # MF or an offset: a fragment
        return None
    tos, ttl, proto = packet[1], packet[8], packet[9]
    src, dst = mapped_ip6(packet[12:16]), mapped_ip6(packet[16:20])
    payload = packet[ihl:total] if not quoted else packet[ihl:]
    nxt = proto
    if proto == ICMP:
        nxt = ICMP6
        payload = _icmp_to_icmp6(payload, src, dst, quoted)
        if payload is None:
            return None
    elif not quoted and _checksum_at(proto) is not None and len(payload) >= _checksum_at(proto) + 2:
        at = _checksum_at(proto)
        seg = _zero_checksum(payload, at)
        payload = _with_checksum(seg, at, pseudo_header_checksum(src, dst, seg, proto) or
                                 (0xFFFF if proto == UDP else 0))
    plen = len(payload) if not quoted else max(total - ihl, 0)
    header = struct.pack("!IHBB", (6 << 28) | (tos << 20), plen & 0xFFFF, nxt, ttl) + src + dst
    return header + payload


def _icmp_to_icmp6(msg: bytes, src6: bytes, dst6: bytes, quoted: bool) -> bytes | None:
    if len(msg) < 8:
        return None
    typ, code = msg[0], msg[1]
    rest = msg[4:8]
    if typ in (8, 0):
        out_type, out_code, body = (128 if typ == 8 else 129), 0, msg[4:]
    else:
        if quoted:
            return None
        if typ == 3:
            if code == 4:                       # fragmentation needed -> packet too big
                mtu = struct.unpack("!HH", rest)[1]
                out_type, out_code, rest = 2, 0, struct.pack("!I", max(1280, mtu + 20))
            elif code == 2:                     # protocol unreachable -> next header problem
                out_type, out_code, rest = 4, 1, struct.pack("!I", 6)
            elif code in UNREACH_4TO6:
                out_type, out_code, rest = 1, UNREACH_4TO6[code], bytes(4)
            else:
                return None
        elif typ == 11:
            out_type, out_code, rest = 3, code, bytes(4)
        elif typ == 12 and code in (0, 2):
            ptr = POINTER_4TO6.get(rest[0])
            if ptr is None:
                return None
            out_type, out_code, rest = 4, 0, struct.pack("!I", ptr)
        else:
            return None
        inner = four_to_six(msg[8:], quoted=True)
        if inner is None:
            return None
        body = rest + inner
    out = struct.pack("!BBH", out_type, out_code, 0) + body
    if quoted:
        return out
    return _with_checksum(out, 2, pseudo_header_checksum(src6, dst6, out))
