"""Seeded streams of hostile frames: valid ones, then lies about them.

`FrameMaker(seed, macs, ips)` builds well-formed frames for the addresses a
graph cares about (its MACs and IPv4 addresses, plus strangers): Ethernet
with IPv4 ICMP echo, UDP and TCP, ARP queries and replies, VXLAN and
virtual-link payloads.  `mutate` then applies one or more of the lies a
hostile or broken sender tells (see MUTATIONS); `annotations` makes the
offload annotations a device could set, up to absurd super-frame sizes.
The same seed gives the same stream, so a failure is replayed by its seed.
"""
from __future__ import annotations

import random
import struct

from dpkt.dpkt import in_cksum

ETHER_HLEN = 14
VXLAN_PORT = 4789
LINK_HEADER_LEN = 12
MAX_FRAME = 1900      # fits a 2 KB slot behind its headroom

STRANGER_IPS = ("0.0.0.0", "255.255.255.255", "127.0.0.1", "224.0.0.5", "192.0.2.77",
                "203.0.113.9", "198.51.100.200")
STRANGER_MACS = ("ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:05", "02:aa:bb:cc:dd:ee",
                 "00:00:00:00:00:00")


def _mac(text: str) -> bytes:
    return bytes(int(b, 16) for b in text.split(":"))


def _ip(text: str) -> bytes:
    return bytes(int(b) for b in text.split("."))


def ip_header(src: bytes, dst: bytes, proto: int, payload_len: int, ttl: int = 64,
              ident: int = 0, flags_frag: int = 0x4000, options: bytes = b"") -> bytearray:
    ihl = 5 + len(options) // 4
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, ihl * 4 + payload_len, ident,
                              flags_frag, ttl, proto, 0, src, dst)) + options
    struct.pack_into("!H", h, 10, in_cksum(bytes(h)))
    return h


def fix_ip_checksum(frame: bytearray, nh: int = ETHER_HLEN) -> None:
    """Recompute the IPv4 header checksum over the IHL the header claims (if it fits)."""
    if len(frame) < nh + 20:
        return
    ihl = (frame[nh] & 0x0F) * 4
    if ihl < 20 or nh + ihl > len(frame):
        return
    frame[nh + 10:nh + 12] = b"\0\0"
    struct.pack_into("!H", frame, nh + 10, in_cksum(bytes(frame[nh:nh + ihl])))


class FrameMaker:
    """Frames for a graph whose own addresses are `macs` and `ips` (text)."""

    def __init__(self, seed: int, macs=(), ips=(), link_key: int = 42, vni: int = 7):
        self.rng = random.Random(seed)
        self.macs = [_mac(m) for m in macs] + [_mac(m) for m in STRANGER_MACS]
        self.ips = [_ip(a) for a in ips] + [_ip(a) for a in STRANGER_IPS]
        self.own_macs = [_mac(m) for m in macs] or self.macs
        self.link_key = link_key
        self.vni = vni
        self._made: list[bytes] = []

    # -- well-formed frames ----------------------------------------------------
    def _addr(self) -> bytes:
        r = self.rng
        if r.random() < 0.8:
            return r.choice(self.ips)
        return r.randbytes(4)

    def _ether(self, ethertype: int) -> bytearray:
        r = self.rng
        dst = r.choice(self.own_macs) if r.random() < 0.8 else r.choice(self.macs)
        return bytearray(dst + r.choice(self.macs) + struct.pack("!H", ethertype))

    def ipv4(self) -> bytearray:
        """Ethernet + IPv4 + ICMP echo, UDP or TCP, with right checksums."""
        r = self.rng
        kind = r.choice(("icmp", "udp", "tcp"))
        body = r.randbytes(r.choice((0, 8, 56, 200, 1400)))
        if kind == "icmp":
            icmp = bytearray(struct.pack("!BBHHH", r.choice((8, 0, 3, 11, 5)), 0, 0,
                                         r.getrandbits(16), r.getrandbits(16)) + body)
            struct.pack_into("!H", icmp, 2, in_cksum(bytes(icmp)))
            l4, proto = icmp, 1
        elif kind == "udp":
            l4 = bytearray(struct.pack("!HHHH", r.getrandbits(16), r.choice((53, 4789, 7, 9999)),
                                       8 + len(body), 0) + body)
            proto = 17
        else:
            flags = r.choice((0x02, 0x10, 0x18, 0x11, 0x04, 0x12))
            l4 = bytearray(struct.pack("!HHIIBBHHH", r.getrandbits(16), r.choice((80, 22, 443)),
                                       r.getrandbits(32), r.getrandbits(32), 5 << 4, flags,
                                       65535, 0, 0) + body)
            proto = 6
        ip = ip_header(self._addr(), self._addr(), proto, len(l4), ttl=r.choice((64, 64, 2, 1, 0)),
                       ident=r.getrandbits(16), flags_frag=r.choice((0x4000, 0, 0x2000)))
        return self._ether(0x0800) + ip + l4

    def arp(self) -> bytearray:
        r = self.rng
        op = r.choice((1, 2))
        body = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, r.choice(self.macs),
                           self._addr(), r.choice(self.macs) if op == 2 else b"\0" * 6,
                           self._addr())
        return self._ether(0x0806) + body

    def vxlan_payload(self) -> bytearray:
        """A UDP payload as VXLANDecap takes it: VXLAN header + an inner frame."""
        r = self.rng
        vni = self.vni if r.random() < 0.7 else r.getrandbits(24)
        return bytearray(struct.pack("!B3xI", 0x08, vni << 8)) + self.ipv4()

    def link_payload(self) -> bytearray:
        """A UDP payload as EtherLinkDecap takes it: link header + an inner frame."""
        r = self.rng
        key = self.link_key if r.random() < 0.7 else r.getrandbits(64)
        version = 1 if r.random() < 0.85 else r.getrandbits(8)
        kind = 0 if r.random() < 0.9 else r.getrandbits(8)
        return bytearray(struct.pack("!BBHQ", version, kind, 0, key)) + self.ipv4()

    def frame(self) -> bytearray:
        """A well-formed frame: new ones at first, then mostly copies of those
        (mutations make them differ; building frames costs more than lying)."""
        if len(self._made) >= 512 and self.rng.random() < 0.9:
            return bytearray(self.rng.choice(self._made))
        f = self._new_frame()
        if len(self._made) < 512:
            self._made.append(bytes(f))
        return f

    def hostile(self) -> bytearray:
        """A frame, lied about three times in four."""
        f = self.frame()
        return self.mutate(f) if self.rng.random() < 0.75 else f

    def _new_frame(self) -> bytearray:
        r = self.rng.random()
        if r < 0.7:
            return self.ipv4()
        if r < 0.9:
            return self.arp()
        return self._ether(0x0800) + ip_header(self._addr(), self._addr(), 17, 8 + 100) + \
            bytearray(struct.pack("!HHHH", 40000, VXLAN_PORT, 108, 0)) + \
            self.vxlan_payload()[:100]

    # -- lies --------------------------------------------------------------------
    def mutate(self, frame: bytearray, nh: int = ETHER_HLEN) -> bytearray:
        """One to three lies told about `frame`, whose IP header (if any) starts at nh."""
        r = self.rng
        f = bytearray(frame)
        for _ in range(r.choice((1, 1, 1, 2, 3))):
            name = r.choice(MUTATIONS)
            f = getattr(self, "_m_" + name)(f, nh)
            if r.random() < 0.5:
                fix_ip_checksum(f, nh)      # a lie with a valid checksum goes deeper
        return f[:MAX_FRAME]

    def _m_valid(self, f, nh):
        return f

    def _m_truncate(self, f, nh):
        return f[:self.rng.randrange(len(f) + 1)]

    def _m_version(self, f, nh):
        if len(f) > nh:
            f[nh] = (self.rng.choice((0, 4, 6, 15)) << 4) | (f[nh] & 0x0F)
        return f

    def _m_ihl(self, f, nh):
        if len(f) > nh:
            f[nh] = (f[nh] & 0xF0) | self.rng.randrange(16)
        return f

    def _m_total_length(self, f, nh):
        if len(f) >= nh + 4:
            real = len(f) - nh
            lie = self.rng.choice((0, 1, 19, 20, real - 1, real + 1, real + 1000, 65535,
                                   self.rng.getrandbits(16)))
            struct.pack_into("!H", f, nh + 2, max(0, min(lie, 65535)))
        return f

    def _m_checksum(self, f, nh):
        if len(f) >= nh + 12:
            f[nh + 10] ^= 1 + self.rng.randrange(255)
        return f

    def _m_options(self, f, nh):
        """Insert IP options (good ones and malformed ones), with IHL and length to match."""
        if len(f) < nh + 20 or f[nh] >> 4 != 4:
            return f
        opts = self.rng.choice((b"\x01\x01\x01\x00", b"\x07\x07\x04\0\0\0\0\x00",
                                b"\x44\x0c\x05\x00" + b"\0" * 8, b"\x83\x00\x00\x00",
                                b"\x07\xff\x04\x00", b"\x94\x04\x00\x00",
                                self.rng.randbytes(40)))
        ihl = (f[nh] & 0x0F) * 4
        opts = opts[:max(0, 60 - ihl)]
        opts += b"\0" * (-len(opts) % 4)
        out = f[:nh + ihl] + opts + f[nh + ihl:]
        out[nh] = 0x40 | ((ihl + len(opts)) // 4)
        struct.pack_into("!H", out, nh + 2, min(65535, struct.unpack_from("!H", f, nh + 2)[0]
                                                + len(opts)))
        return out

    def _m_fragment(self, f, nh):
        if len(f) >= nh + 8:
            mf = self.rng.choice((0, 0x2000))
            df = self.rng.choice((0, 0x4000))
            off = self.rng.choice((0, 1, 8, 185, 0x1FFF, self.rng.randrange(0x2000)))
            struct.pack_into("!H", f, nh + 6, mf | df | off | self.rng.choice((0, 0x8000)))
        return f

    def _m_ttl(self, f, nh):
        if len(f) > nh + 8:
            f[nh + 8] = self.rng.choice((0, 1, 2, 255))
        return f

    def _m_flip(self, f, nh):
        for _ in range(self.rng.randrange(1, 9)):
            if f:
                i = self.rng.randrange(min(len(f), 80))
                f[i] ^= 1 << self.rng.randrange(8)
        return f

    def _m_garbage(self, f, nh):
        n = self.rng.choice((0, 1, 13, 14, 15, 33, 34, 60, self.rng.randrange(MAX_FRAME)))
        return bytearray(self.rng.randbytes(n))

    def _m_ethertype(self, f, nh):
        if len(f) >= 14:
            f[12:14] = self.rng.choice((b"\x08\x00", b"\x08\x06", b"\x86\xdd", b"\x81\x00",
                                        b"\x00\x00", b"\xff\xff"))
        return f

    def _m_l4_length(self, f, nh):
        """UDP length and TCP data offset lies."""
        if len(f) < nh + 20:
            return f
        l4 = nh + (f[nh] & 0x0F) * 4
        if f[nh + 9] == 17 and len(f) >= l4 + 8:
            struct.pack_into("!H", f, l4 + 4, self.rng.choice((0, 7, 8, 65535,
                                                              self.rng.getrandbits(16))))
        elif f[nh + 9] == 6 and len(f) >= l4 + 13:
            f[l4 + 12] = self.rng.randrange(16) << 4
        return f

    def _m_oversize(self, f, nh):
        return f + bytearray(self.rng.randrange(MAX_FRAME - len(f) + 1)) if len(f) < MAX_FRAME \
            else f

    def _m_tunnel_header(self, f, nh):
        """Bogus VXLAN flags/VNI or virtual-link version/type/key at the frame's start."""
        if len(f) >= 12:
            i = self.rng.randrange(12)
            f[i] = self.rng.getrandbits(8)
        return f

    # -- offload annotations --------------------------------------------------------
    def annotations(self, length: int, headroom: int) -> dict | None:
        """Offload annotations a device might set, mostly absent, sometimes absurd."""
        r = self.rng
        if r.random() < 0.85:
            return None
        return {"gso_type": r.choice((0, 1, 3, 4, 5, 0x81, r.getrandbits(8))),
                "gso_size": r.choice((0, 1, 8, 536, 1448, 9000, 65535)),
                "csum_start": r.choice((0, headroom + 14 + 20, headroom + r.randrange(length + 1),
                                        65535, r.getrandbits(16))),
                "csum_offset": r.choice((6, 16, 255, r.getrandbits(8)))}


MUTATIONS = ("valid", "truncate", "version", "ihl", "total_length", "checksum", "options",
             "fragment", "ttl", "flip", "garbage", "ethertype", "l4_length", "oversize",
             "tunnel_header")
