# cython: language_level=3, boundscheck=False, wraparound=False
"""IPv6 forwarding's common case in one compiled pass: what a router's
IPv6 route table, DecIP6HLim, CheckLength and IP6NDSolicitor do to a batch
whose every packet leaves by one output, fits the link's length and has a
resolved neighbour as its next hop.

`forward6_to_port` first checks every packet of the batch and touches
nothing unless all pass; then it does, per packet, what the elements would
have done: the gateway into the dst_ip6 annotation, the output port into
the port annotation, the hop limit decremented (IPv6 has no header
checksum), the Ethernet header pushed (EtherType 0x86DD).  A batch it
refuses goes through the elements themselves, so whatever it does not
handle (an expiring hop limit, no route, a packet too big, a neighbour to
solicit, a multicast next hop, a batch for two outputs) behaves exactly as
without it.  Its plain-Python twin is `ip6forward_reference.py`; the tests
demand identical bytes and columns.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcmp, memcpy
cimport numpy as cnp

cnp.import_array()

include "poolcolumns.pxi"

DEF _IP6_HLEN = 40
DEF _ETHER_HLEN = 14


cdef inline Py_ssize_t _find(const uint8_t* keys, Py_ssize_t n_keys, const uint8_t* hop) noexcept nogil:
    """The index of the 16-byte key equal to hop in the sorted keys, or -1."""
    cdef Py_ssize_t lo = 0, hi = n_keys, mid
    while lo < hi:                      # the first key >= hop
        mid = (lo + hi) >> 1
        if memcmp(keys + mid * 16, hop, 16) < 0:
            lo = mid + 1
        else:
            hi = mid
    if lo == n_keys or memcmp(keys + lo * 16, hop, 16) != 0:
        return -1
    return lo


def forward6_to_port(pool, idx, nhs, nh_port, nh_via, nh_gw, Py_ssize_t port, bint dec_hlim,
                     Py_ssize_t max_length, bint segments, sorted_ips, sorted_rows, known, live,
                     mac, src_mac, double fresh_after):
    """Forward the whole batch out of `port`, or touch nothing and return False.

    nhs[i] is packet i's next-hop index (the route table's lookup of its
    dst_ip6 annotation); nh_port, nh_via and nh_gw the table's per-index
    output, has-a-gateway flag and gateway (16 network-order bytes as two
    uint64 words).  A packet passes when its next hop leads to `port`, it
    has a 40-byte IPv6 header at nh, its hop limit is above 1 (when
    dec_hlim), its whole length is at most `max_length` (CheckLength's rule;
    with `segments`, a super-frame is refused), it has 14 bytes of headroom,
    and its next hop (the gateway, else its dst_ip6) is in the neighbour
    table (sorted_ips, 16-byte keys in byte order -> sorted_rows; known,
    live, mac per row) with a mapping live at or after fresh_after
    (NeighborTable's rule)."""
    cdef Py_ssize_t n_rows = _n_rows(pool)
    data = pool.data
    cdef Py_ssize_t row_size = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
    cdef uint8_t* base = <uint8_t*>_column(data, cnp.NPY_UINT8, True, "pool.data")
    cdef uint16_t* off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, True, "pool.off")
    cdef uint16_t* length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, True, "pool.length")
    cdef const uint16_t* nh = <uint16_t*>_column(pool.nh, cnp.NPY_UINT16, False, "pool.nh")
    cdef uint8_t* dst_ip6 = <uint8_t*>_column(pool.dst_ip6, cnp.NPY_UINT8, True, "pool.dst_ip6")
    cdef uint16_t* port_anno = <uint16_t*>_column(pool.port, cnp.NPY_UINT16, True, "pool.port")
    cdef const uint16_t* gso_size = <uint16_t*>_column(pool.gso_size, cnp.NPY_UINT16, False,
                                                       "pool.gso_size")
    cdef const uint32_t* ix = <uint32_t*>_column(idx, cnp.NPY_UINT32, False, "idx")
    cdef const uint16_t* nhv = <uint16_t*>_column(nhs, cnp.NPY_UINT16, False, "nhs")
    cdef const uint16_t* nh_port_v = <uint16_t*>_column(nh_port, cnp.NPY_UINT16, False, "nh_port")
    cdef const uint8_t* nh_via_v = <uint8_t*>_column(nh_via, cnp.NPY_BOOL, False, "nh_via")
    cdef const uint8_t* nh_gw_v = <uint8_t*>_column(nh_gw, cnp.NPY_UINT64, False, "nh_gw")
    cdef const uint8_t* keys = <uint8_t*>_column(sorted_ips, cnp.NPY_VOID, False, "sorted_ips")
    cdef const cnp.intp_t* rows = <cnp.intp_t*>_column(sorted_rows, cnp.NPY_INTP, False,
                                                        "sorted_rows")
    cdef const uint8_t* known_v = <uint8_t*>_column(known, cnp.NPY_BOOL, False, "known")
    cdef const double* live_v = <double*>_column(live, cnp.NPY_DOUBLE, False, "live")
    cdef const uint8_t* mac_v = <uint8_t*>_column(mac, cnp.NPY_UINT8, False, "mac")
    cdef const uint8_t* src = <uint8_t*>_column(src_mac, cnp.NPY_UINT8, False, "src_mac")
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>idx)
    cdef Py_ssize_t n_keys = cnp.PyArray_SIZE(<cnp.ndarray>sorted_ips)
    cdef Py_ssize_t n_mac = cnp.PyArray_SIZE(<cnp.ndarray>known)
    cdef Py_ssize_t n_nh = cnp.PyArray_SIZE(<cnp.ndarray>nh_port)
    if cnp.PyArray_ITEMSIZE(<cnp.ndarray>sorted_ips) != 16 \
            or cnp.PyArray_SIZE(<cnp.ndarray>pool.dst_ip6) != n_rows * 16:
        raise ValueError("forward6_to_port: sorted_ips must hold 16-byte keys and pool.dst_ip6 "
                         "16 bytes per slot")
    if cnp.PyArray_SIZE(<cnp.ndarray>nhs) < n or cnp.PyArray_SIZE(<cnp.ndarray>nh_via) < n_nh \
            or cnp.PyArray_SIZE(<cnp.ndarray>nh_gw) < n_nh * 2 \
            or cnp.PyArray_SIZE(<cnp.ndarray>sorted_rows) < n_keys \
            or cnp.PyArray_SIZE(<cnp.ndarray>live) < n_mac \
            or cnp.PyArray_SIZE(<cnp.ndarray>mac) < n_mac * 6 \
            or cnp.PyArray_SIZE(<cnp.ndarray>src_mac) != 6:
        raise ValueError("forward6_to_port: nhs shorter than the batch, or a table's columns "
                         "of different lengths, or src_mac not 6 bytes")
    cdef Py_ssize_t i, o, h, end, at
    cdef uint32_t s
    cdef uint16_t k
    cdef cnp.intp_t row
    cdef const uint8_t* hop
    cdef uint8_t* p
    cdef bint ok = True
    for i in range(n):
        if ix[i] >= n_rows:
            raise IndexError(f"slot {ix[i]} outside the pool of {n_rows}")
        if nhv[i] >= n_nh:
            raise IndexError(f"next hop {nhv[i]} outside the table of {n_nh}")
    if n == 0:
        return False
    with nogil:
        # Check every packet; a single refusal leaves the whole batch to the elements.
        for i in range(n):
            s = ix[i]
            k = nhv[i]
            if nh_port_v[k] != port:
                ok = False
                break
            o = off[s]
            h = nh[s]
            end = o + length[s]
            if o < _ETHER_HLEN or length[s] + _ETHER_HLEN > 0xFFFF or end > row_size \
                    or h < o or h + _IP6_HLEN > end:
                ok = False
                break
            if length[s] > max_length or (segments and gso_size[s]):
                ok = False
                break
            if dec_hlim and base[<size_t>s * row_size + h + 7] <= 1:
                ok = False
                break
            hop = nh_gw_v + <size_t>k * 16 if nh_via_v[k] else dst_ip6 + <size_t>s * 16
            at = _find(keys, n_keys, hop)
            if at < 0:
                ok = False
                break
            row = rows[at]
            if row < 0 or row >= n_mac or not known_v[row] or live_v[row] < fresh_after:
                ok = False
                break
        if not ok:
            n = 0
        # Every packet passes: do what the elements would have done.
        for i in range(n):
            s = ix[i]
            k = nhv[i]
            if nh_via_v[k]:
                memcpy(dst_ip6 + <size_t>s * 16, nh_gw_v + <size_t>k * 16, 16)
            port_anno[s] = <uint16_t>port
            if dec_hlim:
                base[<size_t>s * row_size + nh[s] + 7] -= 1
            row = rows[_find(keys, n_keys, dst_ip6 + <size_t>s * 16)]
            off[s] -= _ETHER_HLEN
            length[s] += _ETHER_HLEN
            p = base + <size_t>s * row_size + off[s]
            memcpy(p, mac_v + row * 6, 6)
            memcpy(p + 6, src, 6)
            p[12] = 0x86
            p[13] = 0xDD
    return ok
