# cython: language_level=3
"""Slot allocation and release for PacketPool, compiled.

Every batch a source creates and a sink drops passes through here, so these
loops replace a dozen numpy fancy-indexing calls (each about a microsecond)
with one C loop over raw column pointers cached once per pool.  The
plain-Python reference is PacketPool's `_alloc_reference` /
`_free_reference` in vforward/packet.py; the tests run both on the same pools.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

cnp.import_array()


cdef inline void* _ptr(object arr):
    return cnp.PyArray_DATA(<cnp.ndarray>arr)


cdef object _indices(object idx):
    """idx as a C-contiguous uint32 array: itself when it is one already, as a
    batch's index vector is (no buffer-protocol work on an idle packet's path)."""
    if cnp.PyArray_Check(idx) and cnp.PyArray_TYPE(<cnp.ndarray>idx) == cnp.NPY_UINT32 \
            and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>idx):
        return idx
    arr = np.ascontiguousarray(idx)
    if arr.ndim != 1 or (arr.dtype != np.uint32 and arr.size):
        raise ValueError(f"slot indices must be a 1-D uint32 array, not {arr.ndim}-D {arr.dtype}")
    return arr.astype(np.uint32, copy=False)


cdef class SlotAllocator:
    """The free stack of one pool, with pointers to the columns it resets."""
    cdef object pool          # keeps the arrays alive
    cdef uint32_t* free
    cdef uint8_t* in_use
    cdef uint16_t* off
    cdef uint16_t* length
    cdef uint16_t* nh
    cdef uint32_t* dst_ip
    cdef uint16_t* port
    cdef uint8_t* paint
    cdef uint8_t* ptype
    cdef uint64_t* ts_ns
    cdef uint32_t* user
    cdef uint16_t* csum_start
    cdef uint8_t* csum_offset
    cdef uint8_t* gso_type
    cdef uint16_t* gso_size
    cdef uint8_t* data
    cdef Py_ssize_t slot_size
    cdef uint16_t headroom
    cdef public Py_ssize_t n_free
    cdef Py_ssize_t n_slots

    def __init__(self, pool):
        for name, dtype in (("_free", np.uint32), ("_in_use", np.bool_), ("off", np.uint16),
                            ("length", np.uint16), ("nh", np.uint16), ("dst_ip", np.uint32),
                            ("port", np.uint16), ("paint", np.uint8), ("ptype", np.uint8),
                            ("ts_ns", np.uint64), ("user", np.uint32),
                            ("csum_start", np.uint16), ("csum_offset", np.uint8),
                            ("gso_type", np.uint8), ("gso_size", np.uint16)):
            arr = getattr(pool, name)
            if arr.dtype != dtype or not arr.flags.c_contiguous:
                raise TypeError(f"pool column {name} must be contiguous {np.dtype(dtype)}")
        self.pool = pool
        self.free = <uint32_t*>_ptr(pool._free)
        self.in_use = <uint8_t*>_ptr(pool._in_use)
        self.off = <uint16_t*>_ptr(pool.off)
        self.length = <uint16_t*>_ptr(pool.length)
        self.nh = <uint16_t*>_ptr(pool.nh)
        self.dst_ip = <uint32_t*>_ptr(pool.dst_ip)
        self.port = <uint16_t*>_ptr(pool.port)
        self.paint = <uint8_t*>_ptr(pool.paint)
        self.ptype = <uint8_t*>_ptr(pool.ptype)
        self.ts_ns = <uint64_t*>_ptr(pool.ts_ns)
        self.user = <uint32_t*>_ptr(pool.user)
        self.csum_start = <uint16_t*>_ptr(pool.csum_start)
        self.csum_offset = <uint8_t*>_ptr(pool.csum_offset)
        self.gso_type = <uint8_t*>_ptr(pool.gso_type)
        self.gso_size = <uint16_t*>_ptr(pool.gso_size)
        if not pool.data.flags.c_contiguous:
            raise TypeError("pool data must be C-contiguous")
        self.data = <uint8_t*>_ptr(pool.data)
        self.slot_size = pool.slot_size
        self.headroom = pool.headroom
        self.n_slots = pool.n_slots
        self.n_free = pool.n_slots

    def alloc(self, Py_ssize_t n, uint16_t length):
        """Pop n slots, reset offset/length/annotations; return their indices."""
        if n > self.n_free or n < 0:
            raise ValueError("not enough free slots")
        cdef cnp.ndarray out = cnp.PyArray_EMPTY(1, [n], cnp.NPY_UINT32, 0)
        cdef uint32_t* idx = <uint32_t*>cnp.PyArray_DATA(out)
        cdef Py_ssize_t i, base = self.n_free - n
        cdef uint32_t s
        with nogil:
            for i in range(n):
                s = self.free[base + i]
                idx[i] = s
                self.in_use[s] = 1
                self.off[s] = self.headroom
                self.length[s] = length
                self.nh[s] = 0
                self.dst_ip[s] = 0
                self.port[s] = 0
                self.paint[s] = 0
                self.ptype[s] = 0
                self.ts_ns[s] = 0
                self.user[s] = 0
                self.csum_start[s] = 0
                self.csum_offset[s] = 0
                self.gso_type[s] = 0
                self.gso_size[s] = 0
        self.n_free = base
        return out

    def free_slots(self, idx_in):
        """Push slots back; raise if one is not in use (double free).  On error
        nothing is freed."""
        arr = _indices(idx_in)
        cdef const uint32_t* idx = <const uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>arr)
        cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>arr), i, bad = -1, top = self.n_free
        cdef uint32_t s
        with nogil:
            for i in range(n):
                s = idx[i]
                if s >= self.n_slots or not self.in_use[s]:
                    bad = i
                    break
                self.in_use[s] = 0
            if bad >= 0:
                for i in range(bad):       # undo: leave the pool as it was
                    self.in_use[idx[i]] = 1
            else:
                for i in range(n):
                    self.free[top + i] = idx[i]
        if bad >= 0:
            raise RuntimeError("packet slot freed twice (an element kept a packet it had sent on)")
        self.n_free = top + n

    def byte_count(self, idx_in):
        """Sum of the lengths of the batch's packets."""
        arr = _indices(idx_in)
        cdef const uint32_t* idx = <const uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>arr)
        cdef Py_ssize_t i, n = cnp.PyArray_SIZE(<cnp.ndarray>arr)
        cdef uint64_t total = 0
        with nogil:
            for i in range(n):
                total += self.length[idx[i]]
        return total

    def min_offset(self, const uint32_t[:] idx):
        """The least headroom in the batch (the slot size for an empty batch)."""
        cdef Py_ssize_t i
        cdef Py_ssize_t best = self.slot_size
        with nogil:
            for i in range(idx.shape[0]):
                if self.off[idx[i]] < best:
                    best = self.off[idx[i]]
        return best

    def push_header(self, idx_in, const uint8_t[:, ::1] header):
        """Prepend a header to every packet: one row for all, or one row per
        packet.  Packets must have the headroom (see min_offset); the data
        stays where it is."""
        arr = _indices(idx_in)
        cdef const uint32_t* idx = <const uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>arr)
        cdef Py_ssize_t i, n = cnp.PyArray_SIZE(<cnp.ndarray>arr)
        cdef Py_ssize_t k = header.shape[1], rows = header.shape[0]
        cdef uint32_t s
        if rows != 1 and rows != n:
            raise ValueError("header needs one row, or one per packet")
        for i in range(n):
            if self.off[idx[i]] < k or <Py_ssize_t>self.length[idx[i]] + k > 0xFFFF:
                raise ValueError("a packet lacks the headroom for the header")
        if n == 0 or k == 0:
            return
        with nogil:
            for i in range(n):
                s = idx[i]
                self.off[s] -= k
                self.length[s] += k
                memcpy(self.data + s * self.slot_size + self.off[s],
                       &header[i if rows > 1 else 0, 0], k)

    def push_ether(self, idx_in, dst_table, Py_ssize_t row, src_type):
        """Prepend one 14-byte Ethernet header to every packet: destination
        dst_table[row] (a (rows, 6) uint8 table of addresses), then the 8 bytes
        of src_type (source address and EtherType).  As push_header: packets
        must have the headroom.  Both arrays are taken by their data pointers,
        so framing an idle packet costs no numpy work."""
        arr = _indices(idx_in)
        cdef const uint32_t* idx = <const uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>arr)
        cdef Py_ssize_t i, n = cnp.PyArray_SIZE(<cnp.ndarray>arr)
        cdef uint8_t header[14]
        cdef uint32_t s
        if not (cnp.PyArray_Check(dst_table) and cnp.PyArray_TYPE(<cnp.ndarray>dst_table) == cnp.NPY_UINT8
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>dst_table)
                and cnp.PyArray_NDIM(<cnp.ndarray>dst_table) == 2
                and cnp.PyArray_DIM(<cnp.ndarray>dst_table, 1) == 6):
            raise ValueError("dst_table must be a contiguous (rows, 6) uint8 array")
        if not 0 <= row < cnp.PyArray_DIM(<cnp.ndarray>dst_table, 0):
            raise IndexError(f"row {row} outside the table of {cnp.PyArray_DIM(<cnp.ndarray>dst_table, 0)}")
        if not (cnp.PyArray_Check(src_type) and cnp.PyArray_TYPE(<cnp.ndarray>src_type) == cnp.NPY_UINT8
                and cnp.PyArray_IS_C_CONTIGUOUS(<cnp.ndarray>src_type)
                and cnp.PyArray_SIZE(<cnp.ndarray>src_type) == 8):
            raise ValueError("src_type must be 8 contiguous uint8 bytes")
        memcpy(header, <uint8_t*>cnp.PyArray_DATA(<cnp.ndarray>dst_table) + row * 6, 6)
        memcpy(header + 6, cnp.PyArray_DATA(<cnp.ndarray>src_type), 8)
        for i in range(n):
            if self.off[idx[i]] < 14 or <Py_ssize_t>self.length[idx[i]] + 14 > 0xFFFF:
                raise ValueError("a packet lacks the headroom for the header")
        with nogil:
            for i in range(n):
                s = idx[i]
                self.off[s] -= 14
                self.length[s] += 14
                memcpy(self.data + s * self.slot_size + self.off[s], header, 14)

    def max_length(self, idx_in):
        """The longest packet of the batch (0 for an empty batch)."""
        arr = _indices(idx_in)
        cdef const uint32_t* idx = <const uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>arr)
        cdef Py_ssize_t i, n = cnp.PyArray_SIZE(<cnp.ndarray>arr)
        cdef uint16_t best = 0
        with nogil:
            for i in range(n):
                if self.length[idx[i]] > best:
                    best = self.length[idx[i]]
        return best

    def fill(self, const uint32_t[:] idx, const uint8_t[::1] payload):
        """Copy payload into each slot at its current offset (generators use this)."""
        cdef Py_ssize_t i, n = payload.shape[0]
        cdef uint32_t s
        if n == 0:
            return
        with nogil:
            for i in range(idx.shape[0]):
                s = idx[i]
                if self.off[s] + n <= self.slot_size:
                    memcpy(self.data + s * self.slot_size + self.off[s], &payload[0], n)

    def strip(self, idx_in, uint16_t n):
        """Remove up to n bytes from the front of each packet (all of a shorter one)."""
        arr = _indices(idx_in)
        cdef const uint32_t* idx = <const uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>arr)
        cdef Py_ssize_t i, m = cnp.PyArray_SIZE(<cnp.ndarray>arr)
        cdef uint32_t s
        cdef uint16_t k
        with nogil:
            for i in range(m):
                s = idx[i]
                k = n if self.length[s] >= n else self.length[s]
                self.off[s] += k
                self.length[s] -= k

    def unstrip(self, const uint32_t[:] idx, uint16_t n):
        """Give n headroom bytes back to every packet.  If some packet has less
        than n bytes of headroom (or would pass 65535 bytes), change nothing and
        return a bool mask of those packets; else return None."""
        cdef Py_ssize_t i, m = idx.shape[0]
        cdef uint32_t s
        cdef bint ok = True
        with nogil:
            for i in range(m):
                s = idx[i]
                if self.off[s] < n or <Py_ssize_t>self.length[s] + n > 0xFFFF:
                    ok = False
                    break
            if ok:
                for i in range(m):
                    s = idx[i]
                    self.off[s] -= n
                    self.length[s] += n
        if ok:
            return None
        mask = np.zeros(m, dtype=np.bool_)
        for i in range(m):
            s = idx[i]
            mask[i] = self.off[s] < n or <Py_ssize_t>self.length[s] + n > 0xFFFF
        return mask


    def copy_from(self, SlotAllocator src, const uint32_t[:] src_idx, const uint32_t[:] dst_idx):
        """Copy packets (bytes and every annotation) from src's pool into this
        pool's slots dst_idx, already allocated: one memcpy of each packet's
        bytes.  A packet keeps its offset when it fits this pool's slots and
        starts at the headroom otherwise; the absolute positions nh and
        csum_start move with it.  Raises, copying nothing, if a packet is
        longer than this pool's slots hold after the headroom."""
        cdef Py_ssize_t i, n = src_idx.shape[0]
        cdef uint32_t s, d
        cdef Py_ssize_t o, do, delta, pos
        if dst_idx.shape[0] != n:
            raise ValueError("src_idx and dst_idx differ in length")
        for i in range(n):
            if src_idx[i] >= src.n_slots or dst_idx[i] >= self.n_slots:
                raise ValueError("slot index out of range")
            if self.headroom + <Py_ssize_t>src.length[src_idx[i]] > self.slot_size:
                raise ValueError("a packet is longer than this pool's slots hold")
        with nogil:
            for i in range(n):
                s = src_idx[i]
                d = dst_idx[i]
                o = src.off[s]
                do = o if o + <Py_ssize_t>src.length[s] <= self.slot_size else self.headroom
                delta = do - o
                memcpy(self.data + d * self.slot_size + do, src.data + s * src.slot_size + o,
                       src.length[s])
                self.off[d] = <uint16_t>do
                self.length[d] = src.length[s]
                pos = <Py_ssize_t>src.nh[s] + delta
                self.nh[d] = <uint16_t>pos if src.nh[s] != 0 and 0 <= pos < self.slot_size else 0
                pos = <Py_ssize_t>src.csum_start[s] + delta
                self.csum_start[d] = (<uint16_t>pos if src.csum_start[s] != 0
                                      and 0 <= pos < self.slot_size else 0)
                self.dst_ip[d] = src.dst_ip[s]
                self.port[d] = src.port[s]
                self.paint[d] = src.paint[s]
                self.ptype[d] = src.ptype[s]
                self.ts_ns[d] = src.ts_ns[s]
                self.user[d] = src.user[s]
                self.csum_offset[d] = src.csum_offset[s]
                self.gso_type[d] = src.gso_type[s]
                self.gso_size[d] = src.gso_size[s]


def partition(const uint32_t[:] idx, const uint16_t[:] ports, Py_ssize_t n_ports):
    """Counting sort of a batch by output port: (indices grouped by port, in
    their original order within a port; bounds, n_ports + 1 offsets)."""
    cdef Py_ssize_t n = idx.shape[0], i, p
    if ports.shape[0] != n:
        raise ValueError("ports and idx differ in length")
    cdef cnp.ndarray out_arr = cnp.PyArray_EMPTY(1, [n], cnp.NPY_UINT32, 0)
    cdef cnp.ndarray bounds_arr = np.zeros(n_ports + 1, dtype=np.intp)
    cdef uint32_t* out = <uint32_t*>cnp.PyArray_DATA(out_arr)
    cdef Py_ssize_t* bounds = <Py_ssize_t*>cnp.PyArray_DATA(bounds_arr)
    cdef Py_ssize_t bad = -1
    with nogil:
        for i in range(n):
            p = ports[i]
            if p >= n_ports:
                bad = p
                break
            bounds[p + 1] += 1
        if bad < 0:
            for p in range(n_ports):
                bounds[p + 1] += bounds[p]
            for i in range(n):              # bounds[p] walks forward as port p fills
                p = ports[i]
                out[bounds[p]] = idx[i]
                bounds[p] += 1
            for p in range(n_ports, 0, -1):   # restore the starts
                bounds[p] = bounds[p - 1]
            bounds[0] = 0
    if bad >= 0:
        raise ValueError(f"output port {bad} out of range 0..{n_ports - 1}")
    return out_arr, bounds_arr
