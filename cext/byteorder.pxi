# Included (textually) by the kernels that read and write header fields:
# network-order loads and stores, ones' complement folding, and the one
# argument check every batch kernel makes before its unchecked loop.
# One copy here instead of one per kernel; each stays inlined where it is used.

cdef inline uint32_t _load16(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 8) | p[1]


cdef inline uint32_t _load32(const uint8_t* p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


cdef inline void _store16(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 8)
    p[1] = <uint8_t>v


cdef inline void _store32(uint8_t* p, uint32_t v) noexcept nogil:
    p[0] = <uint8_t>(v >> 24)
    p[1] = <uint8_t>(v >> 16)
    p[2] = <uint8_t>(v >> 8)
    p[3] = <uint8_t>v


cdef inline uint32_t _fold(uint64_t s) noexcept nogil:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return <uint32_t>s


cdef inline int _check_batch(const uint32_t[:] idx, Py_ssize_t n_rows, Py_ssize_t n_out) except -1:
    """Every slot index must name a row: the loops run without bounds checks."""
    cdef Py_ssize_t i, n = idx.shape[0]
    cdef uint32_t top = 0
    if n_out < n:
        raise ValueError(f"output array has {n_out} entries for a batch of {n} packets")
    for i in range(n):
        if idx[i] > top:
            top = idx[i]
    if n and top >= n_rows:
        raise IndexError(f"slot {top} is out of range for a pool of {n_rows} slots")
    return 0
