# Included (textually, after byteorder.pxi) by the kernels that compute Internet
# checksums (RFC 1071): the ones' complement sum of a byte run, and finishing a
# checksum a sender left partial.  One copy here instead of one per kernel.
from libc.string cimport memcpy

cdef extern from "<arpa/inet.h>" nogil:
    uint16_t _csum_ntohs "ntohs"(uint16_t)


cdef inline uint32_t _sum16(const uint8_t* p, Py_ssize_t n) noexcept nogil:
    """Folded ones' complement sum of n bytes as big-endian words (odd byte padded):
    native 8-byte loads, one byte swap at the end (RFC 1071, 2(B))."""
    cdef uint64_t s = 0, w
    cdef uint16_t w16
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        memcpy(&w, p + i, 8)
        s += (w & 0xFFFFFFFFu) + (w >> 32)
        i += 8
    while i + 2 <= n:
        memcpy(&w16, p + i, 2)
        s += w16
        i += 2
    s = _csum_ntohs(<uint16_t>_fold(s))
    if i < n:
        s += <uint64_t>p[i] << 8
    return _fold(s)


cdef inline void _finish_partial(uint8_t* p, Py_ssize_t start, Py_ssize_t offset,
                                 Py_ssize_t end) noexcept nogil:
    """A partial checksum (CHECKSUM_PARTIAL: the field holds the pseudo-header sum)
    finished: the sum from start to end, the field as it is, into the field;
    0 goes out as 0xFFFF, as Linux's skb_checksum_help does."""
    cdef uint32_t c = _sum16(p + start, end - start) ^ 0xFFFF
    _store16(p + start + offset, c if c else 0xFFFF)
