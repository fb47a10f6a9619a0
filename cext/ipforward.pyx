# cython: language_level=3, boundscheck=False, wraparound=False
"""IPv4 forwarding's common case in one compiled pass: what a router's
DecIPTTL, route table, IPFragmenter and ARPQuerier do to a batch whose every
packet leaves by one output, fits the MTU and has a known next hop.

`forward_to_port` first checks every packet of the batch and touches
nothing unless all pass; then it does, per packet, what the elements would
have done: the gateway into the destination annotation, the output port
into the port annotation, the TTL decremented with the checksum patched
(RFC 1624), the Ethernet header pushed.  A batch it refuses goes through
the elements themselves, so whatever it does not handle (an expired TTL,
no route, a packet to fragment, a next hop to ask ARP for, a batch for two
outputs) behaves exactly as without it.  Its plain-Python twin is
`ipforward_reference.py`; the tests demand identical bytes and columns.
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
cimport numpy as cnp

cnp.import_array()

include "byteorder.pxi"
include "poolcolumns.pxi"

DEF _IP_MIN_HLEN = 20
DEF _ETHER_HLEN = 14
DEF _GSO_UDP_L4 = 5


cdef inline uint16_t _cksum_update16(uint16_t hc, uint16_t m, uint16_t m_new) noexcept nogil:
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')."""
    cdef uint64_t s = (<uint64_t>hc ^ 0xFFFF) + (<uint64_t>m ^ 0xFFFF) + m_new
    return <uint16_t>(_fold(s) ^ 0xFFFF)


def forward_to_port(pool, idx, nhs, nh_port, nh_gw, Py_ssize_t port, bint dec_ttl,
                    Py_ssize_t mtu, sorted_ips, sorted_rows, known, live, mac, src_mac,
                    double fresh_after, double poll_after):
    """Forward the whole batch out of `port`, or touch nothing and return False.

    nhs[i] is packet i's next-hop index (the route table's lookup of its
    dst_ip annotation); nh_port and nh_gw the table's per-index output and
    gateway (0: none).  A packet passes when its next hop leads to `port`,
    it has an IP header at nh, its TTL is above 1 (when dec_ttl), its IP
    datagram from nh to its end (a super-frame: each segment's, as
    IPFragmenter judges them) is at most `mtu`, it has 14 bytes of headroom, and its next hop (the
    gateway, else its destination) is in the ARP table (sorted_ips ->
    sorted_rows; known, live, mac per row) with a mapping live after
    fresh_after and after poll_after (ARPQuerier's frame_known rule)."""
    cdef Py_ssize_t n_rows = _n_rows(pool)
    data = pool.data
    cdef Py_ssize_t row_size = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
    cdef uint8_t* base = <uint8_t*>_column(data, cnp.NPY_UINT8, True, "pool.data")
    cdef uint16_t* off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, True, "pool.off")
    cdef uint16_t* length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, True, "pool.length")
    cdef uint16_t* nh = <uint16_t*>_column(pool.nh, cnp.NPY_UINT16, False, "pool.nh")
    cdef uint32_t* dst_ip = <uint32_t*>_column(pool.dst_ip, cnp.NPY_UINT32, True, "pool.dst_ip")
    cdef uint16_t* port_anno = <uint16_t*>_column(pool.port, cnp.NPY_UINT16, True, "pool.port")
    cdef const uint16_t* gso_size = <uint16_t*>_column(pool.gso_size, cnp.NPY_UINT16, False,
                                                       "pool.gso_size")
    cdef const uint8_t* gso_type = <uint8_t*>_column(pool.gso_type, cnp.NPY_UINT8, False,
                                                     "pool.gso_type")
    cdef const uint16_t* csum_start = <uint16_t*>_column(pool.csum_start, cnp.NPY_UINT16, False,
                                                         "pool.csum_start")
    cdef const uint32_t* ix = <uint32_t*>_column(idx, cnp.NPY_UINT32, False, "idx")
    cdef const uint16_t* nhv = <uint16_t*>_column(nhs, cnp.NPY_UINT16, False, "nhs")
    cdef const uint16_t* nh_port_v = <uint16_t*>_column(nh_port, cnp.NPY_UINT16, False, "nh_port")
    cdef const uint32_t* nh_gw_v = <uint32_t*>_column(nh_gw, cnp.NPY_UINT32, False, "nh_gw")
    cdef const uint32_t* keys = <uint32_t*>_column(sorted_ips, cnp.NPY_UINT32, False, "sorted_ips")
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
    if cnp.PyArray_SIZE(<cnp.ndarray>nhs) < n or cnp.PyArray_SIZE(<cnp.ndarray>nh_gw) < n_nh \
            or cnp.PyArray_SIZE(<cnp.ndarray>sorted_rows) < n_keys \
            or cnp.PyArray_SIZE(<cnp.ndarray>live) < n_mac \
            or cnp.PyArray_SIZE(<cnp.ndarray>mac) < n_mac * 6 \
            or cnp.PyArray_SIZE(<cnp.ndarray>src_mac) != 6:
        raise ValueError("forward_to_port: nhs shorter than the batch, or a table's columns "
                         "of different lengths, or src_mac not 6 bytes")
    cdef Py_ssize_t i, lo, hi, mid, o, h, end, ip_len, cs
    cdef uint32_t s, hop, gw
    cdef uint16_t k
    cdef cnp.intp_t row
    cdef uint8_t* ip
    cdef uint8_t* p
    cdef uint16_t old_word
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
                    or h < o or h + _IP_MIN_HLEN > end:
                ok = False
                break
            ip = base + <size_t>s * row_size + h
            # IPFragmenter's rule: the datagram, or a super-frame's segments, fit the MTU.
            if gso_size[s]:
                cs = csum_start[s]
                if (ip[0] & 0x0F) * 4 < _IP_MIN_HLEN or h + (ip[0] & 0x0F) * 4 > end \
                        or cs + 12 >= row_size:
                    ok = False
                    break
                if (gso_type[s] & 0x7F) == _GSO_UDP_L4:
                    ip_len = cs - h + 8 + gso_size[s]
                else:
                    ip_len = cs - h + (base[<size_t>s * row_size + cs + 12] >> 4) * 4 + gso_size[s]
            else:
                ip_len = end - h
            if ip_len > mtu:
                ok = False
                break
            if dec_ttl and ip[8] <= 1:
                ok = False
                break
            gw = nh_gw_v[k]
            hop = gw if gw != 0 else dst_ip[s]
            lo = 0
            hi = n_keys
            while lo < hi:              # the first key >= hop
                mid = (lo + hi) >> 1
                if keys[mid] < hop:
                    lo = mid + 1
                else:
                    hi = mid
            if lo == n_keys or keys[lo] != hop:
                ok = False
                break
            row = rows[lo]
            if row < 0 or row >= n_mac or not known_v[row] or live_v[row] < fresh_after \
                    or live_v[row] <= poll_after:
                ok = False
                break
        if not ok:
            n = 0
        # Every packet passes: do what the elements would have done.
        for i in range(n):
            s = ix[i]
            k = nhv[i]
            gw = nh_gw_v[k]
            if gw != 0:
                dst_ip[s] = gw
            port_anno[s] = <uint16_t>port
            if dec_ttl:
                ip = base + <size_t>s * row_size + nh[s]
                old_word = _load16(ip + 8)
                ip[8] -= 1
                _store16(ip + 10, _cksum_update16(_load16(ip + 10), old_word, old_word - 0x0100))
            hop = dst_ip[s]
            lo = 0
            hi = n_keys
            while lo < hi:
                mid = (lo + hi) >> 1
                if keys[mid] < hop:
                    lo = mid + 1
                else:
                    hi = mid
            row = rows[lo]
            off[s] -= _ETHER_HLEN
            length[s] += _ETHER_HLEN
            p = base + <size_t>s * row_size + off[s]
            p[0] = mac_v[row * 6]; p[1] = mac_v[row * 6 + 1]; p[2] = mac_v[row * 6 + 2]
            p[3] = mac_v[row * 6 + 3]; p[4] = mac_v[row * 6 + 4]; p[5] = mac_v[row * 6 + 5]
            p[6] = src[0]; p[7] = src[1]; p[8] = src[2]
            p[9] = src[3]; p[10] = src[4]; p[11] = src[5]
            p[12] = 0x08
            p[13] = 0x00
    return ok


cdef class LinkStep:
    """A push across link-side elements that, in their present state, only
    count their packets or pass them on (Counter, an idle Capture, an
    unconditioned LinkEmulator, LinkProbe's data frames): the elements'
    counts kept exactly, then the push of what follows, in one compiled call.

    `fields` lists (element, attribute, bytes?) for the counts each skipped
    element keeps (Element.TALLY_FIELDS): the attribute grows by the batch's
    packets, or by its bytes.  `tallies` are the `tally` methods of skipped
    elements that count some other way, called in order.  `ethertypes` are
    the EtherTypes of frames a skipped element acts on (a LinkProbe's probe
    frames): a batch holding one such frame, or a frame too short to tell,
    goes whole to `fallback` (the first skipped element's push) at
    `fallback_port` before anything is counted, so the elements do their
    own work and counting."""
    cdef readonly object push      # what follows the skipped elements (a fused path or a push)
    cdef Py_ssize_t port
    cdef object fallback
    cdef Py_ssize_t fallback_port
    cdef tuple fields
    cdef tuple tallies
    cdef uint16_t types[4]
    cdef int n_types
    cdef public object target      # the element this push reaches (as the graph reports it)

    def __init__(self, push, Py_ssize_t port, fallback, Py_ssize_t fallback_port, fields=(),
                 tallies=(), ethertypes=(), target=None):
        if len(ethertypes) > 4:
            raise ValueError("LinkStep: at most 4 EtherTypes to guard")
        self.push = push
        self.port = port
        self.fallback = fallback
        self.fallback_port = fallback_port
        self.fields = tuple((e, str(a), bool(b)) for e, a, b in fields)
        self.tallies = tuple(tallies)
        self.n_types = len(ethertypes)
        for i, t in enumerate(ethertypes):
            self.types[i] = <uint16_t>t
        self.target = target

    def __call__(self, port, batch):
        idx = batch.idx
        cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>idx)
        if n == 0:
            return
        pool = batch.pool
        cdef Py_ssize_t n_rows = _n_rows(pool)
        cdef const uint32_t* ix = <uint32_t*>_column(idx, cnp.NPY_UINT32, False, "idx")
        cdef const uint16_t* length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, False,
                                                         "pool.length")
        cdef Py_ssize_t i, j, o
        cdef uint64_t total = 0
        cdef uint32_t s
        cdef const uint8_t* base
        cdef const uint16_t* off
        cdef Py_ssize_t row_size
        cdef uint16_t ethertype
        cdef bint guarded = False
        for i in range(n):
            if ix[i] >= n_rows:
                raise IndexError(f"slot {ix[i]} outside the pool of {n_rows}")
        if self.n_types:
            data = pool.data
            row_size = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
            base = <uint8_t*>_column(data, cnp.NPY_UINT8, False, "pool.data")
            off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, False, "pool.off")
            for i in range(n):
                s = ix[i]
                o = off[s]
                if length[s] < 14 or o + 14 > row_size:
                    guarded = True
                    break
                ethertype = _load16(base + <size_t>s * row_size + o + 12)
                for j in range(self.n_types):
                    if ethertype == self.types[j]:
                        guarded = True
                if guarded:
                    break
            if guarded:
                self.fallback(self.fallback_port, batch)
                return
        for i in range(n):
            total += length[ix[i]]
        for e, attr, is_bytes in self.fields:
            if is_bytes:
                setattr(e, attr, getattr(e, attr) + total)
            else:
                setattr(e, attr, getattr(e, attr) + n)
        for tally in self.tallies:
            tally(batch)
        self.push(self.port, batch)
