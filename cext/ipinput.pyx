# cython: language_level=3, boundscheck=False, wraparound=False
"""A router's IPv4 input path in one compiled pass: what HostEtherFilter,
an Ethernet Classifier, Paint, Strip, CheckIPHeader, GetIPAddress and an
IPClassifier do to a batch whose every packet takes their common case.

`InputPass(pool, ...)` is bound once to a pool's columns (a pool never
reallocates them) and to the steps of one chain, each optional but the
header check:

    host     HostEtherFilter: the frame is kept (not filtered for its
             source or for another host); its packet type annotation is set
    ether    a Classifier's decision program: the frame's first matching
             pattern leads to the chain's output (ether_accept[rule])
    paint    Paint: a one-byte annotation column set to `color`
    strip    Strip: the packet holds at least `strip` bytes; they go
    check    CheckIPHeader: the IP header `check_offset` bytes in is good
             (cext/ipcheck.pxd, the element's own rules); nh, dst_ip set,
             link-layer padding cut
    dst      GetIPAddress(dst_offset): dst_ip from the packet's bytes
    ip       an IPClassifier's decision program: the first matching
             pattern leads to the chain's output (ip_accept[rule])

`run(idx)` checks every packet of the batch and touches nothing unless all
take the common case; then it makes, per packet, the changes the elements
would have made, and returns True.  A batch it refuses goes through the
elements themselves, so whatever it does not handle (a frame for another
host, ARP, a bad header, a packet for the router itself) behaves exactly
as without it.  The checks are the elements' own, shared through .pxd
files (ipcheck, packettype, decisionprogram).  Its plain-Python twin is
`ipinput_reference.py`; the tests demand identical bytes and columns.
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t, uint64_t
cimport numpy as cnp

from decisionprogram cimport PROG_COLUMNS, PROG_YES, PROG_NO, first_rule
from ipcheck cimport IP_OK, IP_MIN_HLEN, ip_header_reason
from packettype cimport PT_OTHERHOST, packet_type

cnp.import_array()

include "byteorder.pxi"
include "poolcolumns.pxi"

DEF _ETHER_HLEN = 14


cdef const int64_t* _program(object prog, Py_ssize_t entry, object accept, list keep,
                             str what) except? NULL:
    """The rows of a decision program after checking that every jump lands on
    a row or on a rule `accept` has an entry for (the loop runs unchecked)."""
    cdef Py_ssize_t rows, n_accept, r, j
    cdef const int64_t* p
    p = <const int64_t*>_column(prog, cnp.NPY_INT64, False, what + "_program")
    _column(accept, cnp.NPY_UINT8, False, what + "_accept")
    if cnp.PyArray_NDIM(<cnp.ndarray>prog) != 2 or \
            cnp.PyArray_DIM(<cnp.ndarray>prog, 1) != PROG_COLUMNS:
        raise ValueError(f"{what}_program must have {PROG_COLUMNS} columns")
    rows = cnp.PyArray_DIM(<cnp.ndarray>prog, 0)
    n_accept = cnp.PyArray_SIZE(<cnp.ndarray>accept)
    for j in [entry] + [int(prog[r, c]) for r in range(rows) for c in (PROG_YES, PROG_NO)]:
        if j >= rows or (j < 0 and -1 - j >= n_accept):
            raise ValueError(f"{what}_program jumps to {j}, outside its {rows} rows and "
                             f"{n_accept} rules")
    keep += [prog, accept]
    return p


cdef const void* _sorted(object a, str what) except NULL:
    """The data of an ascending uint32 array."""
    cdef const uint32_t* p = <const uint32_t*>_column(a, cnp.NPY_UINT32, False, what)
    cdef Py_ssize_t i
    for i in range(1, cnp.PyArray_SIZE(<cnp.ndarray>a)):
        if p[i - 1] > p[i]:
            raise ValueError(f"{what} must be sorted in ascending order")
    return p


cdef class InputPass:
    """The input chain of one router bound to one pool (see the module docstring)."""

    cdef list _keep                  # the arrays the pointers below point into
    cdef uint8_t* base
    cdef Py_ssize_t row_size, n_rows
    cdef uint16_t* off
    cdef uint16_t* length
    cdef uint16_t* nh
    cdef uint32_t* dst_ip
    cdef uint8_t* ptype
    cdef bint host, drop_own, drop_other
    cdef uint8_t mac[6]
    cdef Py_ssize_t host_offset
    cdef const int64_t* ether_prog
    cdef Py_ssize_t ether_entry
    cdef const uint8_t* ether_accept
    cdef uint8_t* paint
    cdef uint8_t color
    cdef Py_ssize_t strip
    cdef Py_ssize_t check_offset
    cdef bint checksum
    cdef const uint32_t* bad_src
    cdef Py_ssize_t n_bad
    cdef const uint32_t* good_dst
    cdef Py_ssize_t n_good
    cdef Py_ssize_t dst_offset
    cdef const int64_t* ip_prog
    cdef Py_ssize_t ip_entry
    cdef const uint8_t* ip_accept

    def __init__(self, pool, *, host_mac=None, Py_ssize_t host_offset=0, bint drop_own=False,
                 bint drop_other=True, ether_program=None, Py_ssize_t ether_entry=0,
                 ether_accept=None, paint=None, int color=0, Py_ssize_t strip=0,
                 Py_ssize_t check_offset=0, bint checksum=True, bad_src=None, good_dst=None,
                 Py_ssize_t dst_offset=-1, ip_program=None, Py_ssize_t ip_entry=0,
                 ip_accept=None):
        cdef Py_ssize_t k
        keep = self._keep = []
        data = pool.data
        self.n_rows = _n_rows(pool)
        self.row_size = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
        self.base = <uint8_t*>_column(data, cnp.NPY_UINT8, True, "pool.data")
        self.off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, True, "pool.off")
        self.length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, True, "pool.length")
        self.nh = <uint16_t*>_column(pool.nh, cnp.NPY_UINT16, True, "pool.nh")
        self.dst_ip = <uint32_t*>_column(pool.dst_ip, cnp.NPY_UINT32, True, "pool.dst_ip")
        self.ptype = <uint8_t*>_column(pool.ptype, cnp.NPY_UINT8, True, "pool.ptype")
        keep += [data, pool.off, pool.length, pool.nh, pool.dst_ip, pool.ptype]
        for column in keep[1:]:
            if cnp.PyArray_SIZE(<cnp.ndarray>column) < self.n_rows:
                raise ValueError("every pool column needs one entry per slot")
        if min(strip, check_offset, host_offset) < 0 or strip > 0xFFFF \
                or check_offset > 0xFFFF or dst_offset > 0xFFFF:
            raise ValueError("strip, check_offset, host_offset and dst_offset must be "
                             "offsets from 0 to 65535 (dst_offset -1: no GetIPAddress)")
        self.host = host_mac is not None
        if self.host:
            mac = bytes(host_mac)
            if len(mac) != 6:
                raise ValueError("host_mac must be 6 bytes")
            for k in range(6):
                self.mac[k] = mac[k]
        self.host_offset = host_offset
        self.drop_own = drop_own
        self.drop_other = drop_other
        self.ether_prog = NULL
        if ether_program is not None:
            self.ether_prog = _program(ether_program, ether_entry, ether_accept, keep, "ether")
            self.ether_accept = <const uint8_t*>cnp.PyArray_DATA(<cnp.ndarray>ether_accept)
        self.ether_entry = ether_entry
        self.paint = NULL
        if paint is not None:
            column = getattr(pool, paint)
            self.paint = <uint8_t*>_column(column, cnp.NPY_UINT8, True, f"pool.{paint}")
            if cnp.PyArray_SIZE(<cnp.ndarray>column) < self.n_rows:
                raise ValueError(f"pool.{paint} needs one entry per slot")
            keep.append(column)
        if not 0 <= color <= 255:
            raise ValueError(f"color must be 0 to 255, not {color}")
        self.color = <uint8_t>color
        self.strip = strip
        self.check_offset = check_offset
        self.checksum = checksum
        self.n_bad = self.n_good = 0
        if bad_src is not None and len(bad_src):
            self.bad_src = <const uint32_t*>_sorted(bad_src, "bad_src")
            self.n_bad = len(bad_src)
            keep.append(bad_src)
            if good_dst is not None and len(good_dst):
                self.good_dst = <const uint32_t*>_sorted(good_dst, "good_dst")
                self.n_good = len(good_dst)
                keep.append(good_dst)
        self.dst_offset = dst_offset
        self.ip_prog = NULL
        if ip_program is not None:
            self.ip_prog = _program(ip_program, ip_entry, ip_accept, keep, "ip")
            self.ip_accept = <const uint8_t*>cnp.PyArray_DATA(<cnp.ndarray>ip_accept)
        self.ip_entry = ip_entry

    def run(self, idx):
        """Give every packet of idx (a contiguous uint32 array of slots) the
        chain's changes and return True, or return False and change nothing
        when some packet leaves the common case (or the batch is empty)."""
        cdef Py_ssize_t i, n
        cdef const uint32_t* ix
        cdef bint ok = True
        if not (cnp.PyArray_Check(idx) and cnp.PyArray_TYPE(<cnp.ndarray>idx) == cnp.NPY_UINT32
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>idx)):
            return False
        n = cnp.PyArray_SIZE(<cnp.ndarray>idx)
        if n == 0:
            return False
        ix = <const uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>idx)
        for i in range(n):
            if ix[i] >= self.n_rows:
                raise IndexError(f"slot {ix[i]} outside the pool of {self.n_rows}")
        with nogil:
            for i in range(n):
                if not self._one(ix[i], False):
                    ok = False
                    break
            if ok:
                for i in range(n):
                    self._one(ix[i], True)
        return ok

    cdef bint _one(self, uint32_t s, bint write) noexcept nogil:
        """Whether packet s takes every step's common case; with write, also
        make the steps' changes (called so only once every packet passed)."""
        cdef uint8_t* row = self.base + <size_t>s * self.row_size
        cdef Py_ssize_t o = self.off[s]
        cdef Py_ssize_t n = self.length[s]
        cdef Py_ssize_t plen, ip_len, at, h
        cdef uint8_t t = 0
        cdef bint from_mac
        cdef const uint8_t* ip
        cdef uint32_t dst
        if o + n > self.row_size:
            return False
        if self.host:
            if n < self.host_offset + _ETHER_HLEN:
                return False
            t = packet_type(row + o + self.host_offset, self.mac, &from_mac)
            if (self.drop_own and from_mac) or (self.drop_other and t == PT_OTHERHOST):
                return False
        if self.ether_prog != NULL and not self.ether_accept[
                first_rule(row, self.row_size, o, o + n, self.nh[s], self.ether_prog,
                           self.ether_entry)]:
            return False
        if n < self.strip:
            return False
        o += self.strip
        n -= self.strip
        plen = n - self.check_offset
        if plen < IP_MIN_HLEN:
            return False
        h = o + self.check_offset
        ip = row + h
        if ip_header_reason(ip, plen, self.checksum, self.bad_src, self.n_bad, self.good_dst,
                            self.n_good) != IP_OK:
            return False
        ip_len = _load16(ip + 2)
        if plen > ip_len:
            n = self.check_offset + ip_len
        dst = _load32(ip + 16)
        if self.dst_offset >= 0:
            at = o + self.dst_offset
            if self.dst_offset + 4 <= n and at + 4 <= self.row_size:
                dst = _load32(row + at)
        if self.ip_prog != NULL and not self.ip_accept[
                first_rule(row, self.row_size, o, o + n, h, self.ip_prog, self.ip_entry)]:
            return False
        if write:
            if self.host:
                self.ptype[s] = t
            if self.paint != NULL:
                self.paint[s] = self.color
            self.off[s] = <uint16_t>o
            self.length[s] = <uint16_t>n
            self.nh[s] = <uint16_t>h
            self.dst_ip[s] = dst
        return True
