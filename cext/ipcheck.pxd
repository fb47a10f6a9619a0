# CheckIPHeader's checks of one IPv4 header, shared (cimported) by the kernels
# that make them: cext/ipheader.pyx (the element's own kernel) and
# cext/ipinput.pyx (a router's fused input path).  One copy of the rules, so
# that the fused path refuses exactly the packets the element refuses.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

include "byteorder.pxi"
include "checksum.pxi"

# Reasons a header is bad; ipheader.REASONS[code] is Click's text for each.
cdef enum:
    IP_OK = 0
    IP_TOO_SHORT = 1
    IP_BAD_VERSION = 2
    IP_BAD_HLEN = 3
    IP_BAD_LENGTH = 4
    IP_BAD_CHECKSUM = 5
    IP_BAD_SADDR = 6

    IP_MIN_HLEN = 20


cdef inline bint in_sorted(const uint32_t* a, Py_ssize_t n, uint32_t v) noexcept nogil:
    """Whether v is in the ascending array a[0:n] (binary search)."""
    cdef Py_ssize_t lo = 0, hi = n, mid
    while lo < hi:
        mid = (lo + hi) >> 1
        if a[mid] < v:
            lo = mid + 1
        else:
            hi = mid
    return lo < n and a[lo] == v


cdef inline uint8_t ip_header_reason(const uint8_t* ip, Py_ssize_t plen, bint verify_checksum,
                                     const uint32_t* bad_src, Py_ssize_t n_bad,
                                     const uint32_t* good_dst, Py_ssize_t n_good) noexcept nogil:
    """IP_OK, or why the IPv4 header at ip is bad, when the packet holds plen
    bytes from ip on (inside its slot): version, header length, total length,
    checksum, and the source address (limited broadcast, multicast, or in
    bad_src[0:n_bad] unless the destination is in good_dst[0:n_good]; both
    sorted).  Reads the header only."""
    cdef Py_ssize_t hlen, ip_len
    cdef uint32_t src
    if plen < IP_MIN_HLEN:
        return IP_TOO_SHORT
    if ip[0] >> 4 != 4:
        return IP_BAD_VERSION
    hlen = (ip[0] & 0x0F) << 2
    if hlen < IP_MIN_HLEN or hlen > plen:
        return IP_BAD_HLEN
    ip_len = _load16(ip + 2)
    if ip_len < hlen or ip_len > plen:
        return IP_BAD_LENGTH
    if verify_checksum and _sum16(ip, hlen) != 0xFFFF:
        return IP_BAD_CHECKSUM
    src = _load32(ip + 12)
    if src == 0xFFFFFFFFu or (src >> 28) == 0xE:
        return IP_BAD_SADDR
    if n_bad and in_sorted(bad_src, n_bad, src) and \
            not (n_good and in_sorted(good_dst, n_good, _load32(ip + 16))):
        return IP_BAD_SADDR
    return IP_OK
