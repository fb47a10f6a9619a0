"""VXLANEncap and VXLANDecap: Virtual eXtensible LANs (RFC 7348).

A VXLAN packet is an Ethernet frame behind an 8-byte header, carried in a
UDP datagram to port 4789:

     0        1        2        3
    +--------+--------+--------+--------+
    |R|R|R|R|I|R|R|R|     reserved      |   I (0x08): the VNI is valid
    +--------+--------+--------+--------+
    |  VXLAN network identifier (VNI)   |reserved|
    +--------+--------+--------+--------+

vforward speaks it with the kernel's VXLAN devices in both directions
(`ip link add vx0 type vxlan id VNI remote A local B dstport 4789`).  The
simplest node sends and receives the UDP payload through a Socket bound to
port 4789 of its underlay address B, sending to the far end A's port 4789:

    vx :: Socket(UDP, $A, 4789, $B, 4789, NETNS b);
    tap :: KernelTap(10.0.0.2/24, NETNS b);
    vx -> VXLANDecap(42) -> tap;
    tap -> VXLANEncap(42) -> vx;

Such datagrams leave from the socket's port.  VXLANEncap can also build the
whole IPv4/UDP/VXLAN or IPv6/UDP/VXLAN packet, with the outer source port taken from a hash of
the inner flow as RFC 7348 section 5 asks (for ECMP in the underlay), for
an IP output (a KernelTun, or EtherEncap and a ToDevice).
"""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, boolean, unsigned
from vforward.element import HandlerError, read_handler, write_handler
from vforward.elements.io.socket import udp_port
from vforward.elements.io.underlayaddress import address_text, underlay_address
from vforward.elements.tunnel.decapsulator import Decapsulator
from vforward.elements.tunnel.ipencap import (Encapsulator, byte_value,
                                              encapsulate, handler_value, header_kernels)
from vforward.offload import software_offload
from vforward.packet import Batch

VXLAN_PORT = 4789
VXLAN_HLEN = 8
FLAG_I = 0x08
ETHER_HLEN = 14
# Linux's default source port range for VXLAN: the local (ephemeral) port range.
DEFAULT_SPORTS = (32768, 60999)


def vni_value(text: str) -> int:
    v = unsigned(text)
    if v >= 1 << 24:
        raise ArgumentError(f"expected a VNI between 0 and 16777215, got {text!r}")
    return v


def port_range(text: str) -> tuple[int, int]:
    """A port (1234) or an inclusive range (32768-60999)."""
    lo, sep, hi = text.strip().partition("-")
    a = udp_port(lo)
    b = udp_port(hi) if sep else a
    if b < a:
        raise ArgumentError(f"expected a port range low-high, got {text!r}")
    return a, b


def vxlan_header(vni: int) -> np.ndarray:
    return np.frombuffer(bytes([FLAG_I, 0, 0, 0]) + vni.to_bytes(3, "big") + b"\0",
                         dtype=np.uint8).copy()


class VXLANEncap(Encapsulator):
    """VXLANEncap(VNI [, KEYWORDS]) -- encapsulate Ethernet frames in VXLAN (RFC 7348)

    Ports: 1 input, 1 output; agnostic.

    Prepends the 8-byte VXLAN header (I flag, network identifier VNI) to each
    Ethernet frame.  Without DST the result is the payload of a UDP datagram,
    for a Socket to send to the far end's port 4789.  With DST (or
    DST_ANNO) VXLANEncap also prepends UDP and IPv4 headers (IPv6 ones when
    SRC is an IPv6 address) and emits whole VXLAN packets with the IP header
    annotation set, for an IP output: the
    UDP source port comes from a hash of the inner frame's flow (Ethernet
    addresses and type, IPv4 addresses, protocol and TCP/UDP ports), scaled
    into SPORT's range as Linux does, so that one flow keeps one port and
    the underlay's ECMP spreads flows; the destination port is DPORT.

    Over IPv6 the UDP checksum is always computed: Linux's VXLAN devices
    over IPv6 drop datagrams with a zero checksum unless configured with
    udp6zerocsumrx (RFC 6935/6936 allow zero only where the receiver opts
    in).  The flow label is 0, Linux's default; DF does not apply.

    All headers go into the headroom, for the whole batch in one compiled
    call each: no frame byte moves.

    Arguments:
      VNI (0..16777215)        the VXLAN network identifier

    Keyword arguments (full packets):
      SRC (IP or IPv6 address) the outer source address (required with DST)
      DST (IP or IPv6 address) the outer destination address (of SRC's
                               family), or DST_ANNO (dst_ip, or dst_ip6 when
                               SRC is IPv6)
      SPORT (port or range)    the UDP source port, or the range the flow hash
                               picks from (default 32768-60999, Linux's)
      DPORT (port, 4789)       the UDP destination port
      TTL (byte, 64)           the outer TTL (IPv6: hop limit)
      TOS (byte, 0)            the outer TOS (IPv6: traffic class)
      DF (boolean, false)      set Don't Fragment on the outer IPv4 header
      CHECKSUM (boolean, false) compute the outer UDP checksum over IPv4
                               (Linux's default there is none; IPv6 always)

    Handlers:
      vni (read/write)         the network identifier
      dst (read/write)         the outer destination (full packets)
      count (read)             frames encapsulated
      drops (read)             frames dropped for want of headroom
    """
    HEADER_LEN = VXLAN_HLEN

    def configure(self, args):
        self.vni = args.positional("VNI", vni_value)
        src = args.keyword("SRC", underlay_address, default=None)
        dst = args.keyword("DST", _outer_destination, default=0)
        self.sports = args.keyword("SPORT", port_range, default=DEFAULT_SPORTS)
        self.dport = args.keyword("DPORT", udp_port, default=VXLAN_PORT)
        self.ttl = args.keyword("TTL", byte_value, default=64)
        self.tos = args.keyword("TOS", byte_value, default=0)
        self.df = args.keyword("DF", boolean, default=False)
        self.checksum = args.keyword("CHECKSUM", boolean, default=False)
        args.finish()
        self.full = dst != 0
        if self.full and src is None:
            raise ArgumentError(f"{args.where}: DST needs SRC, the outer source address")
        self.family = src[0] if src is not None else 4
        self.src = src[1] if src is not None else None
        if dst not in (0, None) and dst[0] != self.family:
            raise ArgumentError(
                f"{args.where}: SRC {address_text(*src)} is IPv{self.family} and DST "
                f"{address_text(*dst)} IPv{dst[0]}; give both of one family")
        self.dst = dst[1] if dst not in (0, None) else dst
        if self.family == 6 and self.df:
            raise ArgumentError(f"{args.where}: DF is an IPv4 header bit and SRC is IPv6; "
                                "remove DF (IPv6 routers never fragment)")
        self._header = vxlan_header(self.vni)
        self.ip_id = 0
        self.count = self.drops = 0

    def _push(self, pool, idx, short):
        header_kernels.push_header(pool, idx, self._header, short)

    def _push_udp_ip(self, pool, idx, short):
        lo, hi = self.sports
        ports = None
        if lo != hi:        # the hash reads the inner frame, behind the VXLAN header
            ports = np.empty(len(idx), dtype=np.uint16)
            header_kernels.flow_ports(pool, idx, lo, hi, ports, VXLAN_HLEN)
        if self.family == 6:
            header_kernels.push_udp_ip6(
                pool, idx, self.src.to_bytes(16, "big"), (self.dst or 0).to_bytes(16, "big"),
                lo, self.dport, self.tos, self.ttl, 0, self.dst is None, ports, short)
            return
        self.ip_id = header_kernels.push_udp_ip(
            pool, idx, self.src, self.dst or 0, lo, self.dport, self.tos, self.ttl, self.df,
            self.ip_id, self.checksum, self.dst is None, ports, short)

    def process(self, batch):
        batch, offload_dropped = software_offload(batch)
        self.drops += offload_dropped
        batch, dropped = encapsulate(batch, VXLAN_HLEN, self._push)
        if self.full and len(batch.idx):
            outer = 48 if self.family == 6 else 28
            batch, more = encapsulate(batch, outer, self._push_udp_ip)
            dropped += more
        return self._count(batch, dropped)

    @read_handler("vni")
    def read_vni(self):
        return self.vni

    @write_handler("vni")
    def write_vni(self, value):
        self.vni = handler_value(vni_value, value, "vni")
        self._header = vxlan_header(self.vni)

    @read_handler("dst")
    def read_dst(self):
        if not self.full:
            return ""
        return "DST_ANNO" if self.dst is None else address_text(self.family, self.dst)

    @write_handler("dst")
    def write_dst(self, value):
        if not self.full:
            raise HandlerError("dst: this VXLANEncap makes UDP payloads; configure DST to "
                               "make whole packets")
        dst = handler_value(_outer_destination, value, "dst")
        if dst is not None and dst[0] != self.family:
            raise HandlerError(f"dst: {address_text(*dst)} is IPv{dst[0]} and SRC "
                               f"IPv{self.family}; give an IPv{self.family} address")
        self.dst = None if dst is None else dst[1]


def _outer_destination(text: str) -> tuple[int, int] | None:
    """An IPv4 or IPv6 address as (family, value), or DST_ANNO (None)."""
    if text.strip().upper() == "DST_ANNO":
        return None
    return underlay_address(text)


class VXLANDecap(Decapsulator):
    """VXLANDecap([VNI]) -- take Ethernet frames out of VXLAN (RFC 7348)

    Ports: 1 input, 1 or 2 outputs; agnostic.

    Takes VXLAN payloads (packets that start at the 8-byte VXLAN header,
    as a Socket on port 4789 receives them), checks the header and removes
    it.  Frames with the I flag set, the network identifier VNI (any VNI
    when none is given) and at least an Ethernet header leave on output 0,
    with the VNI in the `user` annotation.  Everything else goes to output
    1 if connected and is dropped otherwise, counted by reason:

      truncated    shorter than the VXLAN header and an Ethernet header
      bad_flags    the I flag is not set (reserved bits are ignored, as the
                   RFC asks)
      wrong_vni    another network's identifier

    For whole IPv4/UDP/VXLAN packets, strip the outer headers first
    (CheckIPHeader, StripIPHeader, Strip(8)).

    Arguments:
      VNI (0..16777215)     the network identifier to accept (default: any)

    Handlers:
      vni (read/write)      the accepted identifier ("any" or a number)
      count (read)          frames let through
      drops (read)          packets refused, all reasons
      truncated, bad_flags, wrong_vni (read)   refused, by reason
      reset (write)         set the counters to zero
    """
    HEADER_LEN = VXLAN_HLEN

    def configure(self, args):
        self.vni = args.positional("VNI", vni_value, default=None)
        args.finish()
        self._set_pattern()
        self._reset()

    def _set_pattern(self):
        self._pattern = vxlan_header(self.vni or 0)
        self._mask = np.zeros(VXLAN_HLEN, dtype=np.uint8)
        self._mask[0] = FLAG_I
        self._pattern[0] = FLAG_I
        if self.vni is not None:
            self._mask[4:7] = 0xFF

    def _reset(self):
        self.count = self.truncated = self.bad_flags = self.wrong_vni = 0

    def _check(self, batch):
        pool, idx = batch.pool, batch.idx
        out = np.empty(len(idx), dtype=np.uint8)
        n_ok = header_kernels.match_header(pool, idx, self._pattern, self._mask, True, out)
        ok = out == header_kernels.MATCH_OK
        short = ok & (pool.length[idx] < ETHER_HLEN)
        if self.vni is not None:
            pool.user[idx[ok]] = self.vni
        else:
            _vni_to_user(pool, idx[ok])
        if n_ok == len(idx) and not short.any():
            self.count += n_ok
            return batch, Batch(pool, idx[:0])
        self.truncated += int((short | (out == header_kernels.MATCH_SHORT)).sum())
        self.bad_flags += int((out == 0).sum())
        self.wrong_vni += int(((out >= 4) & (out <= 6)).sum())
        keep = ok & ~short
        return self._split(batch, ok, keep)

    @read_handler("vni")
    def read_vni(self):
        return "any" if self.vni is None else self.vni

    @write_handler("vni")
    def write_vni(self, value):
        v = value.strip()
        self.vni = None if v.lower() in ("", "any") else handler_value(vni_value, v, "vni")
        self._set_pattern()

    @read_handler("drops")
    def read_drops(self):
        return self.truncated + self.bad_flags + self.wrong_vni

    @read_handler("truncated")
    def read_truncated(self):
        return self.truncated

    @read_handler("bad_flags")
    def read_bad_flags(self):
        return self.bad_flags

    @read_handler("wrong_vni")
    def read_wrong_vni(self):
        return self.wrong_vni


def _vni_to_user(pool, idx: np.ndarray) -> None:
    """The VNI of each popped packet (bytes 4..6 of the header just behind it) into `user`."""
    if not len(idx):
        return
    base = idx.astype(np.intp) * pool.slot_size + pool.off[idx] - VXLAN_HLEN + 4
    flat = pool.data.reshape(-1)
    vni = (flat[base].astype(np.uint32) << 16) | (flat[base + 1].astype(np.uint32) << 8) | \
        flat[base + 2]
    pool.user[idx] = vni
