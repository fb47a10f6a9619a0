# cython: language_level=3
"""Descriptor rings in shared memory, compiled: the data path of ShmLink.

One ring carries packets one way between two processes, as VPP's memif
does: SLOTS descriptors and SLOTS buffers of RING_SLOT bytes in a shared
region, a head counter only the producer writes and a tail counter only
the consumer writes (both free-running uint64; slot = counter % SLOTS).
A packet crosses with one memcpy in (put, from the sender's pool) and one
out (get, into the receiver's pool); the offload state (partial checksum,
GSO super-frame) travels in its descriptor, positions relative to the
packet's start.  The plain-Python twin is cext/shmring_reference.py.

Descriptor (8 uint16): length low, length high, nh, csum_start, csum_offset,
gso_type, gso_size, 0; nh and csum_start relative to the packet's start,
NONE when unset.

The doorbell protocol (no lost wake-up, one doorbell per sleep): a receiver
about to block calls sleep(), which sets its sleeping flag and then, after a
full fence, looks at the ring again; a sender, after publishing head, calls
wake_needed(), which takes the flag back (atomic exchange) and rings only if
it was set.  Dekker's argument: either the receiver's re-check sees the new
head, or the sender's exchange sees the flag.
"""
import numpy as np
cimport numpy as cnp
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy

cnp.import_array()

cdef extern from *:
    void __sync_synchronize() nogil
    int ATOMIC_SEQ_CST "__ATOMIC_SEQ_CST"
    void atomic_thread_fence "__atomic_thread_fence"(int) nogil
    uint64_t atomic_load_u64 "__atomic_load_n"(uint64_t*, int) nogil
    void atomic_store_u64 "__atomic_store_n"(uint64_t*, uint64_t, int) nogil
    void atomic_store_u32 "__atomic_store_n"(uint32_t*, uint32_t, int) nogil
    uint32_t atomic_exchange_u32 "__atomic_exchange_n"(uint32_t*, uint32_t, int) nogil

DEF NONE_C = 0xFFFF
NONE = NONE_C
DESC_WORDS = 8


cdef inline void* _ptr(object arr):
    return cnp.PyArray_DATA(<cnp.ndarray>arr)


def put(uint64_t[::1] head, uint64_t[::1] tail, uint16_t[:, ::1] desc, uint8_t[:, ::1] data,
        pool, const uint32_t[:] idx):
    """Copy the packets of idx (in order) into the ring while it has room;
    return how many went in.  Packets longer than a ring slot must not be
    given (the caller segments or drops them)."""
    cdef Py_ssize_t n_slots = desc.shape[0], ring_slot = data.shape[1]
    cdef Py_ssize_t slot_size = pool.slot_size
    cdef uint8_t* pdata = <uint8_t*>_ptr(pool.data)
    cdef uint16_t* off = <uint16_t*>_ptr(pool.off)
    cdef uint16_t* length = <uint16_t*>_ptr(pool.length)
    cdef uint16_t* nh = <uint16_t*>_ptr(pool.nh)
    cdef uint16_t* csum_start = <uint16_t*>_ptr(pool.csum_start)
    cdef uint8_t* csum_offset = <uint8_t*>_ptr(pool.csum_offset)
    cdef uint8_t* gso_type = <uint8_t*>_ptr(pool.gso_type)
    cdef uint16_t* gso_size = <uint16_t*>_ptr(pool.gso_size)
    cdef Py_ssize_t i, n = idx.shape[0]
    cdef uint32_t s
    cdef uint64_t h = head[0], t
    cdef Py_ssize_t k, o, L
    for i in range(n):
        if length[idx[i]] > ring_slot:
            raise ValueError("a packet is longer than the ring's slots")
    with nogil:
        __sync_synchronize()
        t = tail[0]
        if <Py_ssize_t>(h - t) + n > n_slots:
            n = n_slots - <Py_ssize_t>(h - t)
        for i in range(n):
            s = idx[i]
            k = (h + i) % n_slots
            o = off[s]
            L = length[s]
            memcpy(&data[k, 0], pdata + s * slot_size + o, L)
            desc[k, 0] = <uint16_t>(L & 0xFFFF)
            desc[k, 1] = <uint16_t>(L >> 16)
            desc[k, 2] = <uint16_t>(nh[s] - o) if nh[s] != 0 and nh[s] >= o else NONE_C
            desc[k, 3] = (<uint16_t>(csum_start[s] - o) if csum_start[s] != 0 and csum_start[s] >= o
                          else NONE_C)
            desc[k, 4] = csum_offset[s]
            desc[k, 5] = gso_type[s]
            desc[k, 6] = gso_size[s]
            desc[k, 7] = 0
        # the packets are in place before the consumer sees head (seq_cst: also ordered
        # before the sender's read of the sleeping flag in wake_needed)
        atomic_store_u64(&head[0], h + n, ATOMIC_SEQ_CST)
    return n


def get(uint64_t[::1] head, uint64_t[::1] tail, uint16_t[:, ::1] desc, uint8_t[:, ::1] data,
        pool, Py_ssize_t max_n):
    """Take up to max_n packets (as many as the pool has free slots) out of
    the ring into new pool slots, at the pool's headroom; their indices."""
    cdef Py_ssize_t n_slots = desc.shape[0]
    cdef uint64_t t = tail[0], h
    with nogil:
        h = head[0]
        __sync_synchronize()      # read the packets only after seeing head
    cdef Py_ssize_t n = <Py_ssize_t>(h - t)
    if n > max_n:
        n = max_n
    if n > pool.n_free:
        n = pool.n_free
    if n <= 0:
        return np.empty(0, dtype=np.uint32)
    out = pool.alloc(n).idx
    cdef const uint32_t[:] oi = out
    cdef Py_ssize_t slot_size = pool.slot_size, room = pool.slot_size - pool.headroom
    cdef uint16_t headroom = pool.headroom
    cdef uint8_t* pdata = <uint8_t*>_ptr(pool.data)
    cdef uint16_t* off = <uint16_t*>_ptr(pool.off)
    cdef uint16_t* length = <uint16_t*>_ptr(pool.length)
    cdef uint16_t* nh = <uint16_t*>_ptr(pool.nh)
    cdef uint16_t* csum_start = <uint16_t*>_ptr(pool.csum_start)
    cdef uint8_t* csum_offset = <uint8_t*>_ptr(pool.csum_offset)
    cdef uint8_t* gso_type = <uint8_t*>_ptr(pool.gso_type)
    cdef uint16_t* gso_size = <uint16_t*>_ptr(pool.gso_size)
    cdef Py_ssize_t i, k, L
    cdef uint32_t d
    with nogil:
        for i in range(n):
            k = (t + i) % n_slots
            d = oi[i]
            L = desc[k, 0] | (<Py_ssize_t>desc[k, 1] << 16)
            if L > room:
                L = 0             # cannot be: both ends size the ring alike; never overrun a slot
            memcpy(pdata + d * slot_size + headroom, &data[k, 0], L)
            off[d] = headroom
            length[d] = <uint16_t>L
            nh[d] = headroom + desc[k, 2] if desc[k, 2] != NONE_C else 0
            csum_start[d] = headroom + desc[k, 3] if desc[k, 3] != NONE_C else 0
            csum_offset[d] = <uint8_t>desc[k, 4]
            gso_type[d] = <uint8_t>desc[k, 5]
            gso_size[d] = desc[k, 6]
        __sync_synchronize()      # done reading the slots before the producer may reuse them
        tail[0] = t + n
    return out


def sleep(uint32_t[::1] flags, Py_ssize_t side, uint64_t[::1] head, uint64_t[::1] tail):
    """The receiver of ring toward side is about to block: set its sleeping
    flag, then look at the ring again.  True when it may block (the ring is
    empty; a sender will ring); False when packets came meanwhile (the flag
    is cleared again and the receiver drains them instead)."""
    cdef bint empty
    with nogil:
        atomic_store_u32(&flags[side], 1, ATOMIC_SEQ_CST)
        atomic_thread_fence(ATOMIC_SEQ_CST)
        empty = atomic_load_u64(&head[0], ATOMIC_SEQ_CST) == tail[0]
        if not empty:
            atomic_store_u32(&flags[side], 0, ATOMIC_SEQ_CST)
    return empty


def wake_needed(uint32_t[::1] flags, Py_ssize_t side):
    """After a put: True when the receiver on side sleeps and must be rung
    (the flag is taken back, so it is rung once per sleep)."""
    cdef uint32_t was
    with nogil:
        atomic_thread_fence(ATOMIC_SEQ_CST)
        was = atomic_exchange_u32(&flags[side], 0, ATOMIC_SEQ_CST)
    return was != 0
