# cython: language_level=3
"""Compiled IPFilter/IPClassifier matching: a decision program run per packet.

elements/ip/ipfilter_compile.py turns the rules' pattern trees into a
decision program, as Click does: each instruction is one leaf test (a
header field compared with a value, or "the packet holds N bytes of this
header") with a jump for yes and one for no; a negative jump ends the run
with an answer, -1 - r meaning "rule r" (r == number of rules: no rule).
`and`, `or` and `not` are only jumps, so a packet is decided after the
few tests on its own path.

`Matcher(data, off, length, nh, program, entry).first_match(idx, out)` runs
the program on every packet of a batch in one loop without Python objects
or the GIL.  Its plain-Python twin, with the same API, is in
`ipfilter_reference.py`; the module docstring there gives the
program's layout and the conventions both follow.
"""
from libc.stdint cimport int64_t, uint8_t, uint16_t, uint32_t
cimport numpy as cnp

cnp.import_array()

from decisionprogram cimport first_rule


cdef class Matcher:
    """A decision program bound to one pool's arrays, which a pool never reallocates,
    so that a call on a batch only takes the batch's index vector."""

    cdef const uint8_t[:, ::1] data
    cdef const uint16_t[::1] off
    cdef const uint16_t[::1] length
    cdef const uint16_t[::1] nh
    cdef const int64_t[:, ::1] prog
    cdef Py_ssize_t entry

    def __init__(self, const uint8_t[:, ::1] data, const uint16_t[::1] off,
                 const uint16_t[::1] length, const uint16_t[::1] nh,
                 const int64_t[:, ::1] prog, Py_ssize_t entry):
        self.data, self.off, self.length, self.nh = data, off, length, nh
        self.prog, self.entry = prog, entry

    def first_match(self, idx, out):
        """out[i] = the first rule packet idx[i] matches (the number of rules for none).

        idx is a contiguous uint32 array and out a contiguous intp array at least
        as long; both are taken by their data pointers, without the buffer
        protocol, as an idle packet's path wants."""
        cdef Py_ssize_t n
        if not (cnp.PyArray_Check(idx) and cnp.PyArray_TYPE(<cnp.ndarray>idx) == cnp.NPY_UINT32
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>idx) and cnp.PyArray_NDIM(<cnp.ndarray>idx) == 1):
            raise ValueError("idx must be a contiguous 1-D uint32 array")
        if not (cnp.PyArray_Check(out) and cnp.PyArray_TYPE(<cnp.ndarray>out) == cnp.NPY_INTP
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>out)
                and cnp.PyArray_ISWRITEABLE(<cnp.ndarray>out)):
            raise ValueError("out must be a contiguous writeable intp array")
        n = cnp.PyArray_SIZE(<cnp.ndarray>idx)
        if cnp.PyArray_SIZE(<cnp.ndarray>out) < n:
            raise ValueError(f"out has {cnp.PyArray_SIZE(<cnp.ndarray>out)} entries for {n} packets")
        _run(self.data, self.off, self.length, self.nh,
             <const uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>idx), n, self.prog, self.entry,
             <Py_ssize_t*>cnp.PyArray_DATA(<cnp.ndarray>out))


cdef void _run(const uint8_t[:, ::1] data, const uint16_t[::1] off,
               const uint16_t[::1] length, const uint16_t[::1] nh,
               const uint32_t* idx, Py_ssize_t n, const int64_t[:, ::1] prog, Py_ssize_t entry,
               Py_ssize_t* out) noexcept nogil:
    cdef Py_ssize_t slot_size = data.shape[1]
    cdef Py_ssize_t i, row, start
    if n == 0:
        return
    for i in range(n):
        row = idx[i]
        start = off[row]
        out[i] = first_rule(&data[row, 0], slot_size, start, start + length[row], nh[row],
                            &prog[0, 0], entry)
