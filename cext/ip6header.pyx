# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled IPv6 header kernels over a batch: CheckIP6Header, DecIP6HLim, and
the one-next-hop test of IP6NDSolicitor.

ip6header_reference.py is the plain-Python twin (same names, same results);
the tests run both on copies of the same random pool.  IPv6 has no header
checksum, so these are short: check_ip6_header validates and fills the
annotations, dec_ip6_hlim decrements the hop limit in place.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy

cdef enum:
    _OK = 0
    _TOO_SHORT = 1
    _BAD_VERSION = 2
    _BAD_LENGTH = 3
    _BAD_SADDR = 4
    _IP6_HLEN = 40

OK = _OK
TOO_SHORT = _TOO_SHORT
BAD_VERSION = _BAD_VERSION
BAD_LENGTH = _BAD_LENGTH
BAD_SADDR = _BAD_SADDR
REASONS = ("ok", "tiny packet", "bad IP version", "bad IP length", "bad source address")

include "byteorder.pxi"


def check_ip6_header(pool, const uint32_t[:] idx, Py_ssize_t offset, uint8_t[:] out_reason):
    """Validate the IPv6 header OFFSET bytes into each packet (Click's CheckIP6Header).

    out_reason[i] gets OK or the reason: TOO_SHORT (under 40 bytes, or a
    length running past the slot), BAD_VERSION (not 6), BAD_LENGTH (payload
    length past the packet's end), BAD_SADDR (a multicast source, ff00::/8).
    A good packet gets nh set to its header, dst_ip6 to its destination, and
    its length cut to 40 + payload length (link-layer padding goes); a
    jumbogram's payload length 0 is taken as "the rest of the packet".
    Returns the number of good packets.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef uint8_t[:, ::1] dst6 = pool.dst_ip6
    cdef Py_ssize_t i, n = idx.shape[0], row_size = data.shape[1], good = 0
    cdef Py_ssize_t o, h, end, plen
    cdef uint32_t slot
    cdef uint8_t *ip
    if offset < 0:
        raise ValueError(f"IPv6 header offset must be 0 or more, not {offset}")
    _check_batch(idx, min(data.shape[0], off.shape[0], length.shape[0], nh.shape[0],
                          dst6.shape[0]), out_reason.shape[0])
    with nogil:
        for i in range(n):
            slot = idx[i]
            o = off[slot]
            end = o + length[slot]
            h = o + offset
            if end > row_size or h + _IP6_HLEN > end:
                out_reason[i] = _TOO_SHORT
                continue
            ip = &data[slot, h]
            if (ip[0] >> 4) != 6:
                out_reason[i] = _BAD_VERSION
                continue
            plen = _load16(ip + 4)
            if plen == 0:
                plen = end - h - _IP6_HLEN
            if h + _IP6_HLEN + plen > end:
                out_reason[i] = _BAD_LENGTH
                continue
            if ip[8] == 0xFF:
                out_reason[i] = _BAD_SADDR
                continue
            out_reason[i] = _OK
            good += 1
            nh[slot] = <uint16_t>h
            memcpy(&dst6[slot, 0], ip + 24, 16)
            length[slot] = <uint16_t>(h + _IP6_HLEN + plen - o)
    return good


def dec_ip6_hlim(pool, const uint32_t[:] idx, uint8_t[:] out_expired):
    """Decrement the hop limit of the IPv6 header at nh (Click's DecIP6HLim).

    A packet with hop limit 0 or 1 is left untouched and gets out_expired[i] = 1;
    a packet without 40 header bytes at nh is left alone.  Returns the number
    of expired packets.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef Py_ssize_t i, n = idx.shape[0], row_size = data.shape[1], expired = 0
    cdef Py_ssize_t o, h
    cdef uint32_t slot
    cdef uint8_t *ip
    _check_batch(idx, min(data.shape[0], off.shape[0], length.shape[0], nh.shape[0]),
                 out_expired.shape[0])
    with nogil:
        for i in range(n):
            slot = idx[i]
            out_expired[i] = 0
            o = off[slot]
            h = nh[slot]
            if h < o or h + _IP6_HLEN > o + length[slot] or h + _IP6_HLEN > row_size:
                continue
            ip = &data[slot, h]
            if ip[7] <= 1:
                out_expired[i] = 1
                expired += 1
                continue
            ip[7] -= 1
    return expired


def same_dst_ip6(pool, const uint32_t[:] idx):
    """Whether every packet of the batch has the first one's dst_ip6 annotation
    (its next hop after a route lookup): one neighbour entry then frames the
    whole batch.  False for an empty batch."""
    cdef uint8_t[:, ::1] dst = pool.dst_ip6
    cdef Py_ssize_t i, n = idx.shape[0]
    cdef const uint8_t* first
    cdef bint same = True
    if n == 0:
        return False
    _check_batch(idx, dst.shape[0], n)
    first = &dst[idx[0], 0]
    with nogil:
        for i in range(1, n):
            if memcmp(&dst[idx[i], 0], first, 16) != 0:
                same = False
                break
    return same
