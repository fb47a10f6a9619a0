# cython: language_level=3
"""Compiled Ethernet kernels: receive-side classification (HostEtherFilter)
and ARPQuerier's framing of packets whose next hop is known.

`classify_host(pool, idx, offset, mac, drop_own, drop_other, out)` looks at
each frame's destination (and source) address once, sets the packet type
annotation as an Ethernet card's receive side would, and writes out[i] = 1
for frames to filter: too short for a header at `offset`, sent by `mac`
itself (with drop_own), or for another host (with drop_other).
`frame_known` is below.  Their plain-Python twins, with the same
signatures, are in ether_reference.py.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport uint8_t, uint16_t, uint32_t

cnp.import_array()

include "poolcolumns.pxi"

from packettype cimport PT_OTHERHOST, packet_type


def classify_host(pool, const uint32_t[:] idx, Py_ssize_t offset, const uint8_t[::1] mac,
                  bint drop_own, bint drop_other, uint8_t[::1] out):
    """Set ptype for every frame long enough; out[i] = 1 for frames to filter.
    Returns how many are filtered."""
    data = pool.data
    cdef uint8_t* base = <uint8_t*>_column(data, cnp.NPY_UINT8, False, "pool.data")
    cdef uint16_t* off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, False, "pool.off")
    cdef uint16_t* length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, False, "pool.length")
    cdef uint8_t* ptype = <uint8_t*>_column(pool.ptype, cnp.NPY_UINT8, True, "pool.ptype")
    cdef Py_ssize_t i, n = idx.shape[0], filtered = 0
    cdef Py_ssize_t slot_size = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
    cdef uint32_t s
    cdef const uint8_t* p
    cdef bint own
    cdef uint8_t t
    if out.shape[0] < n or mac.shape[0] != 6:
        raise ValueError("out must hold one entry per packet and mac must have 6 bytes")
    with nogil:
        for i in range(n):
            s = idx[i]
            if length[s] < offset + 14 or off[s] + offset + 14 > slot_size:
                out[i] = 1
                filtered += 1
                continue
            p = base + <size_t>s * slot_size + off[s] + offset
            t = packet_type(p, &mac[0], &own)
            if drop_own and own:
                out[i] = 1          # as in Click, a frame filtered for its source keeps its type
                filtered += 1
                continue
            ptype[s] = t
            if drop_other and t == PT_OTHERHOST:
                out[i] = 1
                filtered += 1
            else:
                out[i] = 0
    return filtered


def frame_known(pool, const uint32_t[:] idx, const uint32_t[::1] sorted_ips,
                const cnp.intp_t[::1] sorted_rows, const uint8_t[::1] known,
                const double[::1] live, const uint8_t[:, ::1] mac, const uint8_t[::1] src_mac,
                double fresh_after, double poll_after, uint8_t[::1] out):
    """ARPQuerier's common case in one pass: every packet whose next hop (dst_ip)
    has a known mapping, live since at least fresh_after (and, so that it needs
    no refresh query, since after poll_after), and that has 14 bytes of
    headroom gets its Ethernet header (dst MAC, src_mac, IPv4) pushed;
    out[i] = 1 marks it.  The rest stay untouched for the general path.
    Returns how many were framed."""
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint32_t[::1] dst_ip = pool.dst_ip
    cdef Py_ssize_t n = idx.shape[0], m = sorted_ips.shape[0], i, lo, hi, mid, framed = 0
    cdef Py_ssize_t n_rows = mac.shape[0], n_slots = data.shape[0]
    cdef cnp.intp_t row
    cdef uint32_t s, ip
    cdef uint8_t* p
    if out.shape[0] < n or src_mac.shape[0] != 6 or mac.shape[1] != 6:
        raise ValueError("frame_known: out shorter than the batch, or MACs not 6 bytes")
    if known.shape[0] < n_rows or live.shape[0] < n_rows:
        raise ValueError("frame_known: known/live shorter than the MAC table")
    for i in range(n):
        if idx[i] >= n_slots:
            raise IndexError(f"slot {idx[i]} outside the pool of {n_slots}")
    with nogil:
        for i in range(n):
            out[i] = 0
            s = idx[i]
            if off[s] < 14 or <Py_ssize_t>length[s] + 14 > 0xFFFF:
                continue
            ip = dst_ip[s]
            lo = 0
            hi = m
            while lo < hi:              # the first key >= ip
                mid = (lo + hi) >> 1
                if sorted_ips[mid] < ip:
                    lo = mid + 1
                else:
                    hi = mid
            if lo == m or sorted_ips[lo] != ip:
                continue
            row = sorted_rows[lo]
            if row < 0 or row >= n_rows or not known[row] or live[row] < fresh_after \
                    or live[row] <= poll_after:
                continue
            off[s] -= 14
            length[s] += 14
            p = &data[s, off[s]]
            p[0] = mac[row, 0]; p[1] = mac[row, 1]; p[2] = mac[row, 2]
            p[3] = mac[row, 3]; p[4] = mac[row, 4]; p[5] = mac[row, 5]
            p[6] = src_mac[0]; p[7] = src_mac[1]; p[8] = src_mac[2]
            p[9] = src_mac[3]; p[10] = src_mac[4]; p[11] = src_mac[5]
            p[12] = 0x08
            p[13] = 0x00
            out[i] = 1
            framed += 1
    return framed
