# cython: language_level=3
"""Software checksum completion and GSO segmentation, compiled.

What Linux's validate_xmit_skb does for a device without offloads, for
packets read with a virtio_net_hdr (the offload annotations in packet.py).
The plain-Python twin `gso_reference.py` has the same names and results, and
its docstring states the rules both follow; the tests compare them byte for
byte.  resolve() makes two passes without the GIL around one pool.alloc_upto
for all the batch's segments and ends with one pool.free, so a batch costs
two Python calls however many super-frames it holds.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset

from vforward.packet import ANNOTATIONS, OFFLOAD_ANNOTATIONS

cnp.import_array()

include "byteorder.pxi"
include "checksum.pxi"

cdef enum:
    _MALFORMED = -1
    _TCPV4 = 1
    _TCPV6 = 4
    _UDP_L4 = 5
    _ECN = 0x80
    _FIN = 0x01
    _PSH = 0x08
    _CWR = 0x80
    _MAX_COPIED = 32

_COPIED = tuple(n for n in ANNOTATIONS if n not in OFFLOAD_ANNOTATIONS)


cdef struct _Pool:
    uint8_t* data
    Py_ssize_t row_size
    uint16_t* off
    uint16_t* length
    uint16_t* nh
    uint16_t* csum_start
    uint8_t* csum_offset
    uint8_t* gso_type
    uint16_t* gso_size
    int n_copied                    # annotations segments inherit: pointer and item size
    char* copied[_MAX_COPIED]
    int size[_MAX_COPIED]


cdef inline bint _is_vector(cnp.ndarray a, int typenum, Py_ssize_t n) noexcept:
    return (cnp.PyArray_NDIM(a) == 1 and cnp.PyArray_TYPE(a) == typenum
            and cnp.PyArray_IS_C_CONTIGUOUS(a) and cnp.PyArray_DIM(a, 0) >= n)


cdef void* _column(pool, name, int typenum, Py_ssize_t n) except NULL:
    cdef cnp.ndarray a = getattr(pool, name)
    if not _is_vector(a, typenum, n):
        raise TypeError(f"pool column {name} must be a contiguous vector of {n} items "
                        f"of the dtype packet.py gives it")
    return cnp.PyArray_DATA(a)


cdef Py_ssize_t _load_pool(_Pool* P, pool) except -1:
    """Fill P with the pool's column pointers; returns the number of slots."""
    cdef cnp.ndarray data = pool.data
    cdef cnp.ndarray a
    cdef Py_ssize_t n
    if (cnp.PyArray_NDIM(data) != 2 or cnp.PyArray_TYPE(data) != cnp.NPY_UINT8
            or not cnp.PyArray_IS_C_CONTIGUOUS(data)):
        raise TypeError("pool data must be a C-contiguous 2-D uint8 array")
    n = cnp.PyArray_DIM(data, 0)
    P.data = <uint8_t*>cnp.PyArray_DATA(data)
    P.row_size = cnp.PyArray_DIM(data, 1)
    P.off = <uint16_t*>_column(pool, "off", cnp.NPY_UINT16, n)
    P.length = <uint16_t*>_column(pool, "length", cnp.NPY_UINT16, n)
    P.nh = <uint16_t*>_column(pool, "nh", cnp.NPY_UINT16, n)
    P.csum_start = <uint16_t*>_column(pool, "csum_start", cnp.NPY_UINT16, n)
    P.csum_offset = <uint8_t*>_column(pool, "csum_offset", cnp.NPY_UINT8, n)
    P.gso_type = <uint8_t*>_column(pool, "gso_type", cnp.NPY_UINT8, n)
    P.gso_size = <uint16_t*>_column(pool, "gso_size", cnp.NPY_UINT16, n)
    if len(_COPIED) > _MAX_COPIED:
        raise TypeError("too many annotations for gso.pyx: raise _MAX_COPIED")
    P.n_copied = 0
    for name in _COPIED:
        a = getattr(pool, name)
        # a column is a vector, or rows of bytes (dst_ip6): one row per slot either way
        if cnp.PyArray_NDIM(a) not in (1, 2) or not cnp.PyArray_IS_C_CONTIGUOUS(a) \
                or cnp.PyArray_DIM(a, 0) < n:
            raise TypeError(f"pool column {name} must be a contiguous column of {n} rows")
        P.copied[P.n_copied] = <char*>cnp.PyArray_DATA(a)
        P.size[P.n_copied] = cnp.PyArray_STRIDE(a, 0)
        P.n_copied += 1
    return n


# -- needs_resolve ------------------------------------------------------------------
def needs_resolve(pool, idx):
    """Whether any packet of idx has a partial checksum or is a GSO super-frame."""
    cdef cnp.ndarray ix = idx if isinstance(idx, np.ndarray) else np.asarray(idx)
    cdef cnp.ndarray cs_arr = pool.csum_start
    cdef cnp.ndarray gs_arr = pool.gso_size
    cdef Py_ssize_t i, n, n_rows
    cdef const uint32_t* slots
    cdef const uint16_t* cs
    cdef const uint16_t* gs
    cdef uint32_t s, bad = 0, acc = 0
    if not _is_vector(ix, cnp.NPY_UINT32, 0):
        ix = np.ascontiguousarray(ix, dtype=np.uint32)
    if not (_is_vector(cs_arr, cnp.NPY_UINT16, 0) and _is_vector(gs_arr, cnp.NPY_UINT16, 0)):
        raise TypeError("pool columns csum_start and gso_size must be contiguous uint16 vectors")
    n = cnp.PyArray_DIM(ix, 0)
    n_rows = min(cnp.PyArray_DIM(cs_arr, 0), cnp.PyArray_DIM(gs_arr, 0))
    slots = <const uint32_t*>cnp.PyArray_DATA(ix)
    cs = <const uint16_t*>cnp.PyArray_DATA(cs_arr)
    gs = <const uint16_t*>cnp.PyArray_DATA(gs_arr)
    with nogil:
        for i in range(n):          # no early exit: the usual answer is False anyway
            s = slots[i]
            if s >= n_rows:
                bad = 1
                break
            acc |= cs[s] | gs[s]
    if bad:
        raise IndexError(f"slot {s} is out of range for a pool of {n_rows} slots")
    return acc != 0


# -- resolve ------------------------------------------------------------------------
cdef int _classify(const _Pool* P, uint32_t s, Py_ssize_t* hdr_end) noexcept nogil:
    """_MALFORMED, 0 (no offload state), 1 (finish in place) or the number of segments."""
    cdef Py_ssize_t o = P.off[s], end = o + P.length[s]
    cdef Py_ssize_t cs = P.csum_start[s], co = P.csum_offset[s], gs = P.gso_size[s]
    cdef Py_ssize_t h, hl, l4, payload
    cdef int kind = P.gso_type[s] & ~_ECN, proto, version
    cdef const uint8_t* row = P.data + <Py_ssize_t>s * P.row_size
    if cs == 0 and gs == 0:
        return 0
    if end > P.row_size or cs < o or cs + co + 2 > end:
        return _MALFORMED
    if gs == 0:
        return 1
    if kind == _TCPV4 or kind == _TCPV6:
        proto = 6
    elif kind == _UDP_L4:
        proto = 17
    else:                                   # NONE with a size, UFO, unknown
        return _MALFORMED
    if co != (16 if proto == 6 else 6):
        return _MALFORMED
    h = P.nh[s]
    if h < o or h >= cs:
        return _MALFORMED
    version = row[h] >> 4
    if version == 4 and kind != _TCPV6:
        hl = (row[h] & 0x0F) << 2
        if hl < 20 or h + hl > cs or row[h + 9] != proto:
            return _MALFORMED
    elif version == 6 and kind != _TCPV4:
        if h + 40 > cs or ((row[h + 6] == 6 or row[h + 6] == 17) and row[h + 6] != proto):
            return _MALFORMED
    else:
        return _MALFORMED
    l4 = (row[cs + 12] >> 4) << 2 if proto == 6 else 8     # co checked: cs + 18 <= end
    if l4 < (20 if proto == 6 else 8) or cs + l4 > end:
        return _MALFORMED
    hdr_end[0] = cs + l4
    payload = end - cs - l4
    if payload <= gs:
        return 1
    return <int>((payload + gs - 1) // gs)


cdef void _finish_in_place(_Pool* P, uint32_t s) noexcept nogil:
    _finish_partial(P.data + <Py_ssize_t>s * P.row_size, P.csum_start[s], P.csum_offset[s],
            <Py_ssize_t>P.off[s] + P.length[s])
    P.csum_start[s] = 0
    P.csum_offset[s] = 0
    P.gso_type[s] = 0
    P.gso_size[s] = 0


cdef void _segment(_Pool* P, uint32_t s, const uint32_t* dst, Py_ssize_t k,
                   Py_ssize_t hdr_end) noexcept nogil:
    """Write the k segments of super-frame s into the slots dst[0..k)."""
    cdef const uint8_t* src = P.data + <Py_ssize_t>s * P.row_size
    cdef Py_ssize_t o = P.off[s], end = o + P.length[s]
    cdef Py_ssize_t cs = P.csum_start[s], co = P.csum_offset[s], gs = P.gso_size[s], h = P.nh[s]
    cdef bint tcp = (P.gso_type[s] & ~_ECN) != _UDP_L4
    cdef uint32_t proto = 6 if tcp else 17
    cdef bint v4 = (src[h] >> 4) == 4
    cdef Py_ssize_t hl = (src[h] & 0x0F) << 2
    cdef uint32_t ident = _load16(src + h + 4), seq = _load32(src + cs + 4), ph
    cdef uint8_t flags = src[cs + 13], f
    cdef Py_ssize_t i, j, lo, chunk, seg_end
    cdef uint32_t d
    cdef uint8_t* r
    for i in range(k):
        d = dst[i]
        r = P.data + <Py_ssize_t>d * P.row_size
        lo = hdr_end + i * gs
        chunk = gs if end - lo > gs else end - lo
        seg_end = hdr_end + chunk
        memcpy(r + o, src + o, hdr_end - o)
        memcpy(r + hdr_end, src + lo, chunk)
        P.off[d] = <uint16_t>o
        P.length[d] = <uint16_t>(seg_end - o)
        for j in range(P.n_copied):
            memcpy(P.copied[j] + <Py_ssize_t>d * P.size[j], P.copied[j] + <Py_ssize_t>s * P.size[j],
                   P.size[j])
        P.csum_start[d] = 0
        P.csum_offset[d] = 0
        P.gso_type[d] = 0
        P.gso_size[d] = 0
        if v4:
            _store16(r + h + 2, <uint32_t>(seg_end - h))
            _store16(r + h + 4, (ident + <uint32_t>i) & 0xFFFF)
            _store16(r + h + 10, 0)
            _store16(r + h + 10, _sum16(r + h, hl) ^ 0xFFFF)
            ph = _sum16(r + h + 12, 8)
        else:
            _store16(r + h + 4, <uint32_t>(seg_end - h - 40))
            ph = _sum16(r + h + 8, 32)
        if tcp:
            _store32(r + cs + 4, seq + <uint32_t>(i * gs))
            f = flags
            if i < k - 1:
                f &= ~(_FIN | _PSH)
            if i > 0:
                f &= ~_CWR
            r[cs + 13] = f
        else:
            _store16(r + cs + 4, <uint32_t>(seg_end - cs))
        _store16(r + cs + co, _fold(<uint64_t>ph + proto + <uint64_t>(seg_end - cs)))
        _finish_partial(r, cs, co, seg_end)


def resolve(pool, const uint32_t[:] idx):
    """Finish partial checksums and segment GSO super-frames (rules: gso_reference.py).

    Returns (out_idx, n_malformed, n_exhausted); out_idx keeps the order of idx
    with each super-frame replaced by its segments.
    """
    cdef _Pool P
    memset(&P, 0, sizeof(_Pool))        # quiets gcc's may-be-uninitialized
    cdef Py_ssize_t n = idx.shape[0], n_rows = _load_pool(&P, pool)
    cdef Py_ssize_t i, k, total = 0, n_new, pos = 0, n_out = 0, n_free = 0
    cdef Py_ssize_t n_malformed = 0, n_exhausted = 0
    cdef Py_ssize_t hdr_end = 0
    cdef uint32_t s
    _check_batch(idx, n_rows, n)
    cdef cnp.ndarray plan_arr = cnp.PyArray_EMPTY(1, [2 * n], cnp.NPY_INT32, 0)
    cdef int32_t* plan = <int32_t*>cnp.PyArray_DATA(plan_arr)    # (k, header end) per packet
    with nogil:
        for i in range(n):
            s = idx[i]
            k = _classify(&P, s, &hdr_end)
            if k == 1:
                _finish_in_place(&P, s)
            elif k >= 2:
                total += k
            plan[2 * i] = <int32_t>k
            plan[2 * i + 1] = <int32_t>hdr_end
    new_arr = pool.alloc_upto(total).idx if total else np.zeros(0, np.uint32)
    cdef const uint32_t[::1] new = new_arr
    n_new = new.shape[0]
    cdef cnp.ndarray out_arr = cnp.PyArray_EMPTY(1, [n + n_new], cnp.NPY_UINT32, 0)
    cdef cnp.ndarray free_arr = cnp.PyArray_EMPTY(1, [n + n_new], cnp.NPY_UINT32, 0)
    cdef uint32_t* out = <uint32_t*>cnp.PyArray_DATA(out_arr)
    cdef uint32_t* to_free = <uint32_t*>cnp.PyArray_DATA(free_arr)
    with nogil:
        for i in range(n):
            s = idx[i]
            k = plan[2 * i]
            if k == 0 or k == 1:
                out[n_out] = s
                n_out += 1
                continue
            to_free[n_free] = s
            n_free += 1
            if k == _MALFORMED:
                n_malformed += 1
            elif pos + k > n_new:
                n_exhausted += 1
            else:
                _segment(&P, s, &new[pos], k, plan[2 * i + 1])
                memcpy(out + n_out, &new[pos], k * sizeof(uint32_t))
                n_out += k
                pos += k
        for i in range(pos, n_new):
            to_free[n_free] = new[i]
            n_free += 1
    pool.free(free_arr[:n_free])
    return out_arr[:n_out], n_malformed, n_exhausted
