"""IPv6 neighbour discovery messages (RFC 4861): building and reading NS and NA
frames, Ethernet header included.  Shared by IP6NDSolicitor and IP6NDAdvertiser."""
from __future__ import annotations

import struct

from .icmp6error import PROTO_ICMP6, pseudo_header_checksum

ETHERTYPE_IP6 = 0x86DD
ND_SOLICIT, ND_ADVERT = 135, 136
OPT_SOURCE_LL, OPT_TARGET_LL = 1, 2
ADV_ROUTER, ADV_SOLICITED, ADV_OVERRIDE = 0x80, 0x40, 0x20
ALL_NODES = bytes.fromhex("ff020000000000000000000000000001")
UNSPECIFIED = bytes(16)
ND_FRAME_LEN = 14 + 40 + 32          # Ethernet + IPv6 + NS/NA with one link-layer option


def solicited_node(target: bytes) -> bytes:
    """ff02::1:ffXX:XXXX, the group a solicitation for target goes to."""
    return bytes.fromhex("ff0200000000000000000001ff") + target[13:16]


def multicast_mac(group: bytes) -> bytes:
    """RFC 2464: 33:33 and the group's last four bytes."""
    return b"\x33\x33" + group[12:16]


def _frame(eth_dst: bytes, eth_src: bytes, ip_src: bytes, ip_dst: bytes, icmp: bytes) -> bytes:
    cksum = pseudo_header_checksum(ip_src, ip_dst, icmp)
    icmp = icmp[:2] + struct.pack("!H", cksum) + icmp[4:]
    ip = struct.pack("!IHBB", 6 << 28, len(icmp), PROTO_ICMP6, 255) + ip_src + ip_dst
    return eth_dst + eth_src + struct.pack("!H", ETHERTYPE_IP6) + ip + icmp


def solicitation(eth: bytes, src: bytes, target: bytes) -> bytes:
    """A neighbour solicitation for target from src (MAC eth), to the solicited-node group."""
    group = solicited_node(target)
    icmp = struct.pack("!BBHI", ND_SOLICIT, 0, 0, 0) + target + \
        struct.pack("!BB", OPT_SOURCE_LL, 1) + eth
    return _frame(multicast_mac(group), eth, src, group, icmp)


def advertisement(eth: bytes, target: bytes, to_ip: bytes, to_eth: bytes, flags: int) -> bytes:
    """A neighbour advertisement: target is at eth."""
    icmp = struct.pack("!BBHB3x", ND_ADVERT, 0, 0, flags)
    icmp += target + struct.pack("!BB", OPT_TARGET_LL, 1) + eth
    return _frame(to_eth, eth, target, to_ip, icmp)


class NDMessage:
    """A parsed NS or NA frame: type, IPv6 source and destination, target, the
    link-layer address option (or None), the Ethernet source, flags (NA)."""
    __slots__ = ("type", "src", "dst", "target", "lladdr", "eth_src", "flags")

    @classmethod
    def parse(cls, frame: bytes) -> "NDMessage | None":
        """None unless frame is a valid NS or NA (RFC 4861 7.1: hop limit 255,
        code 0, at least 24 bytes, checksum right, options well formed)."""
        if len(frame) < 14 + 40 + 24 or frame[12:14] != b"\x86\xdd":
            return None
        ip = frame[14:]
        if ip[0] >> 4 != 6 or ip[6] != PROTO_ICMP6 or ip[7] != 255:
            return None
        plen = struct.unpack_from("!H", ip, 4)[0]
        icmp = ip[40:40 + plen]
        if len(icmp) != plen or plen < 24 or icmp[0] not in (ND_SOLICIT, ND_ADVERT) or icmp[1]:
            return None
        if pseudo_header_checksum(ip[8:24], ip[24:40], icmp) != 0:
            return None
        m = cls()
        m.type, m.flags = icmp[0], icmp[4]
        m.src, m.dst, m.target = ip[8:24], ip[24:40], icmp[8:24]
        m.eth_src = frame[6:12]
        m.lladdr = None
        pos = 24
        want = OPT_SOURCE_LL if m.type == ND_SOLICIT else OPT_TARGET_LL
        while pos + 2 <= len(icmp):
            kind, n = icmp[pos], icmp[pos + 1] * 8
            if n == 0 or pos + n > len(icmp):
                return None
            if kind == want and n >= 8:
                m.lladdr = icmp[pos + 2:pos + 8]
            pos += n
        if m.target[0] == 0xFF:
            return None                 # a multicast target is invalid
        return m
