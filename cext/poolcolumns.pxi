# Raw pointers to a packet pool's numpy columns, for kernels on the idle path.
#
# A typed memoryview (`cdef uint16_t[::1] off = pool.off`) goes through the
# buffer protocol and parses the array's format string on every call: about
# a microsecond warm, and several times that on the first packet after an
# idle spell, when none of that code is in the caches.  A kernel that runs
# once per idle packet takes its columns here instead: a type and layout
# check, then the array's data pointer.  (Include after `cimport numpy as
# cnp` and `cnp.import_array()`.)

from libc.stdint cimport uint64_t


cdef inline void* _column(object arr, int typenum, bint writeable, str what) except NULL:
    """The data pointer of a C-contiguous array of typenum (writeable when asked)."""
    cdef cnp.ndarray a
    if not cnp.PyArray_Check(arr):
        raise TypeError(f"{what} must be a numpy array, not {type(arr).__name__}")
    a = <cnp.ndarray>arr
    if cnp.PyArray_TYPE(a) != typenum or not cnp.PyArray_IS_C_CONTIGUOUS(a) \
            or (writeable and not cnp.PyArray_ISWRITEABLE(a)):
        raise TypeError(f"{what} must be a C-contiguous{' writeable' if writeable else ''} "
                        f"array of {cnp.PyArray_DescrFromType(typenum)}")
    if cnp.PyArray_SIZE(a) == 0:
        return <void*>&_EMPTY_COLUMN
    return cnp.PyArray_DATA(a)


cdef uint64_t _EMPTY_COLUMN = 0     # what an empty column points at (never read)


cdef inline Py_ssize_t _n_rows(object pool) except -1:
    """Slots in the pool (its data rows; PacketPool makes every column that long)."""
    data = pool.data
    if not cnp.PyArray_Check(data) or cnp.PyArray_NDIM(<cnp.ndarray>data) != 2:
        raise TypeError("pool.data must be a 2-D array of slots")
    return cnp.PyArray_DIM(<cnp.ndarray>data, 0)
