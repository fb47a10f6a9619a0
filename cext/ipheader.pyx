# cython: language_level=3
"""Compiled per-batch IPv4 header kernels: CheckIPHeader, DecIPTTL, GetIPAddress,
ICMPPingResponder, checksums.

Every kernel takes the pool and a batch's slot indices and handles the whole
batch in one call, in a loop without Python objects or the GIL.  Each has a
plain-Python twin of the same name in `ipheader_reference.py`; the module
docstring there states the conventions both follow (packet bounds, what "a
header at nh" means), and the tests demand identical bytes and columns from
both on random packets.

Checksums are summed over native 32-bit loads and turned into network byte
order once at the end: a ones' complement sum does not care about the order
in which words are added, and byte-swapping the folded sum is the same as
summing byte-swapped words (RFC 1071, section 2(B)).
"""
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
cimport numpy as cnp

cnp.import_array()

from ipcheck cimport (IP_OK, IP_TOO_SHORT, IP_BAD_VERSION, IP_BAD_HLEN, IP_BAD_LENGTH,
                     IP_BAD_CHECKSUM, IP_BAD_SADDR, ip_header_reason)

cdef enum:
    _OK = IP_OK
    _TOO_SHORT = IP_TOO_SHORT
    _BAD_VERSION = IP_BAD_VERSION
    _BAD_HLEN = IP_BAD_HLEN
    _BAD_LENGTH = IP_BAD_LENGTH
    _BAD_CHECKSUM = IP_BAD_CHECKSUM
    _BAD_SADDR = IP_BAD_SADDR

    _CKSUM_BAD = 0
    _CKSUM_OK = 1
    _CKSUM_NOT_CHECKED = 2

    _IP_MIN_HLEN = 20
    _PROTO_TCP = 6
    _PROTO_UDP = 17

# check_ip_header reasons; REASONS[code] is Click's drop-reason text.
OK = _OK
TOO_SHORT = _TOO_SHORT
BAD_VERSION = _BAD_VERSION
BAD_HLEN = _BAD_HLEN
BAD_LENGTH = _BAD_LENGTH
BAD_CHECKSUM = _BAD_CHECKSUM
BAD_SADDR = _BAD_SADDR
REASONS = ("ok", "tiny packet", "bad IP version", "bad IP header length",
           "bad IP length", "bad IP checksum", "bad source address")

# udp_tcp_checksum_ok results.
CKSUM_BAD = _CKSUM_BAD
CKSUM_OK = _CKSUM_OK
CKSUM_NOT_CHECKED = _CKSUM_NOT_CHECKED


# -- byte access and ones' complement arithmetic --------------------------------
include "byteorder.pxi"
include "checksum.pxi"
include "poolcolumns.pxi"


cdef inline uint16_t _cksum_update16(uint16_t hc, uint16_t m, uint16_t m_new) noexcept nogil:
    """RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m')."""
    cdef uint64_t s = (<uint64_t>hc ^ 0xFFFF) + (<uint64_t>m ^ 0xFFFF) + m_new
    return <uint16_t>(_fold(s) ^ 0xFFFF)


cdef inline uint16_t _cksum_update32(uint16_t hc, uint32_t m, uint32_t m_new) noexcept nogil:
    hc = _cksum_update16(hc, <uint16_t>(m >> 16), <uint16_t>(m_new >> 16))
    return _cksum_update16(hc, <uint16_t>m, <uint16_t>m_new)


def incremental_checksum_update(uint16_t old_cksum, uint16_t old_word, uint16_t new_word):
    """RFC 1624 eqn. 3: the checksum after one 16-bit word changes from old_word to new_word.

    HC' = ~(~HC + ~m + m').  Unlike eqn. 2 this gives what a full
    recomputation gives, 0x0000 included.
    """
    return _cksum_update16(old_cksum, old_word, new_word)


def incremental_checksum_update32(uint16_t old_cksum, uint32_t old_value, uint32_t new_value):
    """incremental_checksum_update for a 32-bit field (an IPv4 address): both halves."""
    return _cksum_update32(old_cksum, old_value, new_value)


# -- header bounds -------------------------------------------------------------
cdef inline bint _has_ip_header(Py_ssize_t o, Py_ssize_t end, Py_ssize_t h,
                                Py_ssize_t row_size) noexcept nogil:
    """The 20 fixed IP header bytes at h lie inside the packet, and the packet inside its row."""
    return end <= row_size and h >= o and h + _IP_MIN_HLEN <= end


# -- CheckIPHeader ----------------------------------------------------------------
cdef inline uint8_t _check_one(uint8_t* row, Py_ssize_t row_size, uint16_t* off,
                               uint16_t* length, uint16_t* nh, uint32_t* dst_ip,
                               Py_ssize_t offset, bint verify_checksum,
                               const uint32_t* bad_src, Py_ssize_t n_bad,
                               const uint32_t* good_dst, Py_ssize_t n_good) noexcept nogil:
    cdef Py_ssize_t o = off[0]
    cdef Py_ssize_t end = o + length[0]
    cdef Py_ssize_t plen, ip_len
    cdef const uint8_t* ip
    cdef uint8_t reason
    if end > row_size:
        return _TOO_SHORT
    plen = end - o - offset
    if plen < _IP_MIN_HLEN:
        return _TOO_SHORT
    ip = row + o + offset
    reason = ip_header_reason(ip, plen, verify_checksum, bad_src, n_bad, good_dst, n_good)
    if reason != _OK:
        return reason
    nh[0] = <uint16_t>(o + offset)
    dst_ip[0] = _load32(ip + 16)
    ip_len = _load16(ip + 2)
    if plen > ip_len:
        length[0] = <uint16_t>(offset + ip_len)
    return _OK


cdef int _check_sorted(const uint32_t[::1] a, str what) except -1:
    cdef Py_ssize_t i
    for i in range(1, a.shape[0]):
        if a[i - 1] > a[i]:
            raise ValueError(f"{what} must be sorted in ascending order")
    return 0


def check_ip_header(pool, const uint32_t[:] idx, Py_ssize_t offset, bint verify_checksum,
                    uint8_t[:] out_reason, const uint32_t[::1] bad_src=None,
                    const uint32_t[::1] good_dst=None):
    """Validate the IP header OFFSET bytes into each packet (Click's CheckIPHeader).

    out_reason[i] gets OK or the reason code.  A good packet gets nh set to its
    IP header, dst_ip to the IP destination, and its length cut to the IP
    total length (link-layer padding goes).  Returns the number of good packets.

    bad_src and good_dst, sorted uint32 arrays of host-order addresses, are
    CheckIPHeader's address lists: a packet whose header is otherwise good but
    whose source is in bad_src is BAD_SADDR, unless its destination is in
    good_dst.  Like every bad packet it is left untouched.
    """
    # The pool's columns through their data pointers (poolcolumns.pxi): an idle
    # packet pays no buffer-protocol work for them.
    data = pool.data
    cdef uint8_t* base = <uint8_t*>_column(data, cnp.NPY_UINT8, True, "pool.data")
    cdef uint16_t* off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, False, "pool.off")
    cdef uint16_t* length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, True, "pool.length")
    cdef uint16_t* nh = <uint16_t*>_column(pool.nh, cnp.NPY_UINT16, True, "pool.nh")
    cdef uint32_t* dst_ip = <uint32_t*>_column(pool.dst_ip, cnp.NPY_UINT32, True, "pool.dst_ip")
    cdef Py_ssize_t i, n = idx.shape[0], good = 0
    cdef Py_ssize_t row_size = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
    cdef Py_ssize_t n_bad = 0, n_good = 0
    cdef const uint32_t* bad_p = NULL
    cdef const uint32_t* good_p = NULL
    cdef uint32_t slot
    cdef uint8_t reason
    if offset < 0:
        raise ValueError(f"IP header offset must be 0 or more, not {offset}")
    _check_batch(idx, _n_rows(pool), out_reason.shape[0])
    if bad_src is not None and bad_src.shape[0]:
        _check_sorted(bad_src, "bad_src")
        n_bad = bad_src.shape[0]
        bad_p = &bad_src[0]
        if good_dst is not None and good_dst.shape[0]:
            _check_sorted(good_dst, "good_dst")
            n_good = good_dst.shape[0]
            good_p = &good_dst[0]
    with nogil:
        for i in range(n):
            slot = idx[i]
            reason = _check_one(base + <size_t>slot * row_size, row_size, off + slot,
                                length + slot, nh + slot, dst_ip + slot, offset, verify_checksum,
                                bad_p, n_bad, good_p, n_good)
            out_reason[i] = reason
            if reason == _OK:
                good += 1
    return good


# -- DecIPTTL -------------------------------------------------------------------
def dec_ip_ttl(pool, const uint32_t[:] idx, uint8_t[:] out_expired):
    """Decrement the TTL at nh and patch the checksum (RFC 1624), as Click's DecIPTTL.

    A packet with TTL 0 or 1 is left untouched and gets out_expired[i] = 1.
    Returns the number of expired packets.
    """
    data = pool.data
    cdef uint8_t* base = <uint8_t*>_column(data, cnp.NPY_UINT8, True, "pool.data")
    cdef uint16_t* off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, False, "pool.off")
    cdef uint16_t* length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, False, "pool.length")
    cdef uint16_t* nh = <uint16_t*>_column(pool.nh, cnp.NPY_UINT16, False, "pool.nh")
    cdef Py_ssize_t i, n = idx.shape[0], expired = 0
    cdef Py_ssize_t row_size = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
    cdef Py_ssize_t o, h
    cdef uint32_t slot
    cdef uint8_t* ip
    cdef uint16_t old_word
    _check_batch(idx, _n_rows(pool), out_expired.shape[0])
    with nogil:
        for i in range(n):
            slot = idx[i]
            out_expired[i] = 0
            o = off[slot]
            h = nh[slot]
            if not _has_ip_header(o, o + length[slot], h, row_size):
                continue
            ip = base + <size_t>slot * row_size + h
            if ip[8] <= 1:
                out_expired[i] = 1
                expired += 1
                continue
            old_word = _load16(ip + 8)
            ip[8] -= 1
            _store16(ip + 10, _cksum_update16(_load16(ip + 10), old_word, old_word - 0x0100))
    return expired


# -- SetIPChecksum ----------------------------------------------------------------
def set_ip_checksum(pool, const uint32_t[:] idx):
    """Recompute the IP header checksum at nh.  Returns the number of packets set.

    Packets whose header (IHL words) is not whole inside the packet, or whose
    IHL is below 5, are left untouched, as Click's SetIPChecksum drops them.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef Py_ssize_t i, n = idx.shape[0], row_size = data.shape[1], n_set = 0
    cdef Py_ssize_t o, end, h, hlen
    cdef uint32_t slot
    cdef uint8_t* ip
    _check_batch(idx, min(data.shape[0], off.shape[0], length.shape[0], nh.shape[0]), n)
    with nogil:
        for i in range(n):
            slot = idx[i]
            o = off[slot]
            end = o + length[slot]
            h = nh[slot]
            if not _has_ip_header(o, end, h, row_size):
                continue
            ip = &data[slot, h]
            hlen = (ip[0] & 0x0F) << 2
            if hlen < _IP_MIN_HLEN or h + hlen > end:
                continue
            ip[10] = 0
            ip[11] = 0
            _store16(ip + 10, _sum16(ip, hlen) ^ 0xFFFF)
            n_set += 1
    return n_set


# -- GetIPAddress(16) -------------------------------------------------------------
def ip_dst_to_anno(pool, const uint32_t[:] idx):
    """Copy the IP destination at nh into the dst_ip annotation.  Returns packets annotated."""
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef uint32_t[::1] dst_ip = pool.dst_ip
    cdef Py_ssize_t i, n = idx.shape[0], row_size = data.shape[1], n_set = 0
    cdef Py_ssize_t o, h
    cdef uint32_t slot
    _check_batch(idx, min(data.shape[0], off.shape[0], length.shape[0], nh.shape[0],
                          dst_ip.shape[0]), n)
    with nogil:
        for i in range(n):
            slot = idx[i]
            o = off[slot]
            h = nh[slot]
            if not _has_ip_header(o, o + length[slot], h, row_size):
                continue
            dst_ip[slot] = _load32(&data[slot, h + 16])
            n_set += 1
    return n_set


def get_ip_address(pool, const uint32_t[:] idx, Py_ssize_t offset, uint32_t[::1] anno):
    """GetIPAddress(OFFSET): copy the 4 bytes OFFSET bytes into each packet (from its
    start, big-endian) into anno[slot], a uint32 annotation column (dst_ip, user).
    Packets without those 4 bytes (shorter than OFFSET + 4, or with the bytes
    past their slot's end) keep their annotation.  Returns the number of packets annotated."""
    data = pool.data
    cdef uint8_t* base = <uint8_t*>_column(data, cnp.NPY_UINT8, False, "pool.data")
    cdef uint16_t* off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, False, "pool.off")
    cdef uint16_t* length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, False, "pool.length")
    cdef Py_ssize_t i, n = idx.shape[0], n_set = 0
    cdef Py_ssize_t row_size = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
    cdef Py_ssize_t at
    cdef uint32_t slot
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, not {offset}")
    _check_batch(idx, min(_n_rows(pool), anno.shape[0]), n)
    with nogil:
        for i in range(n):
            slot = idx[i]
            at = off[slot] + offset
            if offset + 4 > length[slot] or at + 4 > row_size:
                continue
            anno[slot] = _load32(base + <size_t>slot * row_size + at)
            n_set += 1
    return n_set


# -- ICMPPingResponder ----------------------------------------------------------------
cdef enum:
    _PROTO_ICMP = 1
    _ICMP_ECHO = 8
    _ICMP_ECHOREPLY = 0


def icmp_echo_reply(pool, const uint32_t[:] idx, uint8_t[:] out_other):
    """Turn ICMP echo requests at nh into echo replies in place (Click's ICMPPingResponder).

    A packet qualifies when a whole IP header (IHL words, at least 20 bytes)
    lies at nh inside the packet, it is ICMP, not a fragment (MF and offset
    zero), and holds an 8-byte ICMP header of type echo.  It gets source and
    destination swapped, the fragment field cleared, TTL 255 and a fresh
    header checksum; the ICMP type becomes echo reply with the ICMP checksum
    updated incrementally (RFC 1624; 0xFFFF instead of 0x0000 when every
    other byte of the message is zero, as a recomputation gives); dst_ip
    becomes the reply's destination.  Any other packet is left untouched
    and gets out_other[i] = 1.  Returns the number of those.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef uint32_t[::1] dst_ip = pool.dst_ip
    cdef Py_ssize_t i, k, n = idx.shape[0], row_size = data.shape[1], other = 0
    cdef Py_ssize_t o, end, h, hlen, at
    cdef uint32_t slot, src, dst
    cdef uint16_t code, c
    cdef uint8_t* ip
    cdef uint8_t* icmp
    cdef bint zero
    _check_batch(idx, min(data.shape[0], off.shape[0], length.shape[0], nh.shape[0],
                          dst_ip.shape[0]), out_other.shape[0])
    with nogil:
        for i in range(n):
            slot = idx[i]
            o = off[slot]
            end = o + length[slot]
            h = nh[slot]
            out_other[i] = 1
            if not _has_ip_header(o, end, h, row_size):
                other += 1
                continue
            ip = &data[slot, h]
            hlen = (ip[0] & 0x0F) << 2
            at = h + hlen
            if (hlen < _IP_MIN_HLEN or at + 8 > end or ip[9] != _PROTO_ICMP
                    or _load16(ip + 6) & 0x3FFF or ip[hlen] != _ICMP_ECHO):
                other += 1
                continue
            out_other[i] = 0
            src = _load32(ip + 12)
            dst = _load32(ip + 16)
            _store32(ip + 12, dst)
            _store32(ip + 16, src)
            ip[6] = 0
            ip[7] = 0
            ip[8] = 255
            dst_ip[slot] = src
            ip[10] = 0
            ip[11] = 0
            _store16(ip + 10, _sum16(ip, hlen) ^ 0xFFFF)
            icmp = ip + hlen
            code = icmp[1]
            c = _cksum_update16(_load16(icmp + 2), (_ICMP_ECHO << 8) | code,
                                (_ICMP_ECHOREPLY << 8) | code)
            icmp[0] = _ICMP_ECHOREPLY
            if c == 0:
                zero = icmp[1] == 0
                k = at + 4
                while zero and k < end:
                    zero = data[slot, k] == 0
                    k += 1
                if zero:
                    c = 0xFFFF
            _store16(icmp + 2, c)
    return other


# -- TCP/UDP checksums --------------------------------------------------------------
cdef enum:
    _SEG_NOT_CHECKED = -1
    _SEG_SHORT = 0
    _SEG_FOUND = 1


cdef inline int _transport(const uint8_t* row, Py_ssize_t o, Py_ssize_t end, Py_ssize_t h,
                           Py_ssize_t row_size, Py_ssize_t* seg_start, Py_ssize_t* seg_len,
                           uint8_t* proto) noexcept nogil:
    """Find the TCP/UDP segment after the IP header at h (offsets relative to h).

    _SEG_NOT_CHECKED: no whole IP header at nh, not TCP/UDP, or a fragment;
    _SEG_SHORT: too short for its TCP/UDP header; _SEG_FOUND: found.
    """
    cdef const uint8_t* ip
    cdef Py_ssize_t hlen, ip_len, udp_len
    if not _has_ip_header(o, end, h, row_size):
        return _SEG_NOT_CHECKED
    ip = row + h
    hlen = (ip[0] & 0x0F) << 2
    ip_len = _load16(ip + 2)
    if hlen < _IP_MIN_HLEN or ip_len < hlen or h + ip_len > end:
        return _SEG_NOT_CHECKED
    if _load16(ip + 6) & 0x3FFF:        # MF or a fragment offset: not the whole datagram
        return _SEG_NOT_CHECKED
    proto[0] = ip[9]
    seg_start[0] = hlen
    seg_len[0] = ip_len - hlen
    if proto[0] == _PROTO_TCP:
        if seg_len[0] < 20:
            return _SEG_SHORT
    elif proto[0] == _PROTO_UDP:
        if seg_len[0] < 8:
            return _SEG_SHORT
        udp_len = _load16(ip + hlen + 4)
        if udp_len < 8 or udp_len > seg_len[0]:
            return _SEG_SHORT
        seg_len[0] = udp_len            # bytes past the UDP length are not the datagram's
    else:
        return _SEG_NOT_CHECKED
    return _SEG_FOUND


cdef inline uint64_t _pseudo_header_sum(const uint8_t* ip, uint8_t proto,
                                        Py_ssize_t seg_len) noexcept nogil:
    return (<uint64_t>_load16(ip + 12) + _load16(ip + 14) + _load16(ip + 16)
            + _load16(ip + 18) + proto + <uint64_t>seg_len)


def udp_tcp_checksum_ok(pool, const uint32_t[:] idx, uint8_t[:] out_ok):
    """Verify TCP and UDP checksums (with the pseudo-header) of the packets at nh.

    out_ok[i] is CKSUM_OK, CKSUM_BAD or CKSUM_NOT_CHECKED; a UDP checksum of 0
    means "none" and is OK.  Returns the number of CKSUM_BAD packets.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef Py_ssize_t i, n = idx.shape[0], row_size = data.shape[1], bad = 0
    cdef Py_ssize_t o, h, seg_start = 0, seg_len = 0
    cdef uint32_t slot
    cdef uint8_t proto = 0
    cdef int found
    cdef const uint8_t* ip
    cdef const uint8_t* seg
    _check_batch(idx, min(data.shape[0], off.shape[0], length.shape[0], nh.shape[0]),
                 out_ok.shape[0])
    with nogil:
        for i in range(n):
            slot = idx[i]
            o = off[slot]
            h = nh[slot]
            found = _transport(&data[slot, 0], o, o + length[slot], h, row_size,
                               &seg_start, &seg_len, &proto)
            if found == _SEG_NOT_CHECKED:
                out_ok[i] = _CKSUM_NOT_CHECKED
                continue
            if found == _SEG_SHORT:
                out_ok[i] = _CKSUM_BAD
                bad += 1
                continue
            ip = &data[slot, h]
            seg = ip + seg_start
            if proto == _PROTO_UDP and seg[6] == 0 and seg[7] == 0:
                out_ok[i] = _CKSUM_OK
                continue
            if _fold(_sum16(seg, seg_len) + _pseudo_header_sum(ip, proto, seg_len)) == 0xFFFF:
                out_ok[i] = _CKSUM_OK
            else:
                out_ok[i] = _CKSUM_BAD
                bad += 1
    return bad


def set_transport_checksum(pool, const uint32_t[:] idx):
    """Recompute TCP and UDP checksums of the packets at nh (UDP's 0 is sent as 0xFFFF).

    Packets udp_tcp_checksum_ok would not check, or finds too short, are left
    untouched.  Returns the number of packets set.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef Py_ssize_t i, n = idx.shape[0], row_size = data.shape[1], n_set = 0
    cdef Py_ssize_t o, h, seg_start = 0, seg_len = 0
    cdef uint32_t slot, c
    cdef uint8_t proto = 0
    cdef uint8_t* ip
    cdef uint8_t* field
    _check_batch(idx, min(data.shape[0], off.shape[0], length.shape[0], nh.shape[0]), n)
    with nogil:
        for i in range(n):
            slot = idx[i]
            o = off[slot]
            h = nh[slot]
            if _transport(&data[slot, 0], o, o + length[slot], h, row_size,
                          &seg_start, &seg_len, &proto) != _SEG_FOUND:
                continue
            ip = &data[slot, h]
            field = ip + seg_start + (16 if proto == _PROTO_TCP else 6)
            field[0] = 0
            field[1] = 0
            c = _fold(_sum16(ip + seg_start, seg_len)
                      + _pseudo_header_sum(ip, proto, seg_len)) ^ 0xFFFF
            if proto == _PROTO_UDP and c == 0:
                c = 0xFFFF
            _store16(field, c)
            n_set += 1
    return n_set
