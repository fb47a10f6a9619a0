"""Plain-Python reference for cext/ipinput.pyx: the same InputPass, same
constructor, same results, byte for byte (the tests run both on copies of
one pool).

One packet at a time and in two passes, as the kernel: first every packet
is checked and nothing is touched unless all take the common case; then
each gets what HostEtherFilter (packet type), Paint, Strip, CheckIPHeader
(nh, dst_ip, padding cut) and GetIPAddress would have given it.  Each step
is the reference of the element's own kernel (ether_reference.packet_type,
ipfilter_reference.first_rule, ipheader_reference.ip_header_reason).
"""
from __future__ import annotations

import struct

import numpy as np

from vforward.cext.ether_reference import packet_type
from vforward.cext.ipfilter_reference import NO, YES, first_rule
from vforward.cext.ipheader_reference import IP_MIN_HLEN, OK, address_set, ip_header_reason
from vforward.packet import OTHERHOST

ETHER_HLEN = 14


def _program(prog, entry, accept, what):
    if prog.ndim != 2 or prog.shape[1] != 12:
        raise ValueError(f"{what}_program must have 12 columns")
    rows = prog.shape[0]
    for j in [entry] + [int(prog[r, c]) for r in range(rows) for c in (YES, NO)]:
        if j >= rows or (j < 0 and -1 - j >= len(accept)):
            raise ValueError(f"{what}_program jumps to {j}, outside its {rows} rows and "
                             f"{len(accept)} rules")
    return prog, entry, accept


class InputPass:
    """The input chain of one router bound to one pool (see cext/ipinput.pyx)."""

    def __init__(self, pool, *, host_mac=None, host_offset=0, drop_own=False, drop_other=True,
                 ether_program=None, ether_entry=0, ether_accept=None, paint=None, color=0,
                 strip=0, check_offset=0, checksum=True, bad_src=None, good_dst=None,
                 dst_offset=-1, ip_program=None, ip_entry=0, ip_accept=None):
        if min(strip, check_offset, host_offset) < 0 or strip > 0xFFFF \
                or check_offset > 0xFFFF or dst_offset > 0xFFFF:
            raise ValueError("strip, check_offset, host_offset and dst_offset must be "
                             "offsets from 0 to 65535 (dst_offset -1: no GetIPAddress)")
        if host_mac is not None and len(bytes(host_mac)) != 6:
            raise ValueError("host_mac must be 6 bytes")
        if not 0 <= color <= 255:
            raise ValueError(f"color must be 0 to 255, not {color}")
        self.pool = pool
        self.host_mac = bytes(host_mac) if host_mac is not None else None
        self.host_offset, self.drop_own, self.drop_other = host_offset, drop_own, drop_other
        self.ether = None if ether_program is None else \
            _program(ether_program, ether_entry, ether_accept, "ether")
        self.paint = None if paint is None else getattr(pool, paint)
        self.color = color
        self.strip = strip
        self.check_offset, self.checksum = check_offset, checksum
        self.bad_src = address_set(bad_src, "bad_src")
        self.good_dst = address_set(good_dst, "good_dst") if self.bad_src else set()
        self.dst_offset = dst_offset
        self.ip = None if ip_program is None else _program(ip_program, ip_entry, ip_accept, "ip")

    def run(self, idx) -> bool:
        """The chain's changes to every packet and True, or False and no change."""
        if not (isinstance(idx, np.ndarray) and idx.dtype == np.uint32
                and idx.flags.c_contiguous) or len(idx) == 0:
            return False
        pool = self.pool
        for slot in idx:
            if slot >= pool.data.shape[0]:
                raise IndexError(f"slot {slot} outside the pool of {pool.data.shape[0]}")
        changes = []
        for slot in idx:
            change = self._one(int(slot))
            if change is None:
                return False
            changes.append(change)
        for slot, (ptype, o, n, h, dst) in zip(idx, changes):
            if ptype is not None:
                pool.ptype[slot] = ptype
            if self.paint is not None:
                self.paint[slot] = self.color
            pool.off[slot], pool.length[slot], pool.nh[slot], pool.dst_ip[slot] = o, n, h, dst
        return True

    def _one(self, slot: int):
        """(ptype or None, off, length, nh, dst_ip) the chain leaves packet slot
        with, or None when it leaves the common case somewhere."""
        pool = self.pool
        row = pool.data[slot]
        row_size = len(row)
        o, n = int(pool.off[slot]), int(pool.length[slot])
        if o + n > row_size:
            return None
        ptype = None
        if self.host_mac is not None:                           # HostEtherFilter
            if n < self.host_offset + ETHER_HLEN:
                return None
            at = o + self.host_offset
            ptype, from_mac = packet_type(row[at:at + ETHER_HLEN].tobytes(), self.host_mac)
            if (self.drop_own and from_mac) or (self.drop_other and ptype == OTHERHOST):
                return None
        if self.ether is not None:                              # Classifier
            prog, entry, accept = self.ether
            if not accept[first_rule(row, row_size, o, o + n, int(pool.nh[slot]), prog, entry)]:
                return None
        if n < self.strip:                                      # Strip
            return None
        o, n = o + self.strip, n - self.strip
        h = o + self.check_offset                               # CheckIPHeader
        if n - self.check_offset < IP_MIN_HLEN:
            return None
        ip = row[h:o + n].tobytes()
        if ip_header_reason(ip, self.checksum, self.bad_src, self.good_dst) != OK:
            return None
        ip_len, = struct.unpack_from("!H", ip, 2)
        if len(ip) > ip_len:
            n = self.check_offset + ip_len
        dst, = struct.unpack_from("!I", ip, 16)
        if self.dst_offset >= 0:                                # GetIPAddress
            at = o + self.dst_offset
            if self.dst_offset + 4 <= n and at + 4 <= row_size:
                dst, = struct.unpack("!I", row[at:at + 4].tobytes())
        if self.ip is not None:                                 # IPClassifier
            prog, entry, accept = self.ip
            if not accept[first_rule(row, row_size, o, o + n, h, prog, entry)]:
                return None
        return ptype, o, n, h, dst
