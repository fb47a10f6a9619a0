# cython: language_level=3
"""Fib: the compiled IPv4 longest-prefix-match table (DIR-24-8).

    from vforward.cext.fib import Fib, NO_ROUTE
    fib = Fib()
    fib.insert(0x0A000000, 8, 3)          # 10.0.0.0/8 -> next hop 3
    fib.lookup(0x0A000001)                # 3
    fib.lookup_batch(addrs_u32, out_u16)  # one call per batch of packets

Addresses are host-byte-order uint32; next hops are 0..65534 and NO_ROUTE
(0xFFFF) means "no match". `FibReference` in fib_reference.py has the same
API in plain Python and is what the tests hold this module to.

Data plane (the layout of DPDK's rte_lpm): `tbl24` has one 32-bit entry per
/24 (2^24 entries, 64 MiB, mapped lazily). From HUGE_AFTER routes on it is
backed by transparent huge pages, so that a random lookup costs one cache
miss and no page walk; a smaller table (a lab node's) stays on 4 KiB pages,
a few of them instead of a 2 MiB page for every region it touches. A /24 that
holds a route longer than /24 points instead to a group of 256 entries in
`tbl8`, one per address of that /24. An entry is

    bit 31 clear:  bits 16..21 = depth (prefix length + 1, 0 = no route)
                   bits  0..15 = next hop XOR 0xFFFF
    bit 31 set:    bits  0..30 = tbl8 group number

Storing the next hop inverted makes an all-zero entry mean NO_ROUTE, so a
fresh or cleared table is untouched zero pages: creating a Fib costs nothing
and the lookup is `~entry` on the low 16 bits.

The depth is what makes incremental updates exact: an insert of P/len
overwrites only the entries of its range whose depth is <= len+1 (entries of
P itself or of shorter covering prefixes); a delete rewrites only the entries
whose depth is exactly len+1 (those whose best match was P) with the covering
prefix's entry, so more-specifics under P are never disturbed. Each call
leaves the table complete: a lookup between any two calls is right. A tbl8
group is filled before the tbl24 entry points to it, and the tbl24 entry is
restored before the group is freed.

Control plane: the routes themselves live in a C open-addressing hash table
(linear probing, backward-shift deletion) keyed by (prefix, length), with a
count per length. Finding the covering prefix of a deleted route probes the
lengths that exist, longest first, after prefetching all those probes so that
their cache misses overlap.
"""
cimport cython
cimport numpy as cnp
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t
from libc.stdlib cimport malloc, realloc, free
from libc.string cimport memset

import numpy as np

cnp.import_array()

cdef extern from "sys/mman.h" nogil:
    void *mmap(void *addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void *addr, size_t length)
    int madvise(void *addr, size_t length, int advice)
    int PROT_READ
    int PROT_WRITE
    int MAP_PRIVATE
    int MAP_ANONYMOUS
    int MADV_HUGEPAGE
    int MADV_NOHUGEPAGE
    int MADV_DONTNEED
    void *MAP_FAILED

cdef extern from "stdlib.h" nogil:
    int posix_memalign(void **memptr, size_t alignment, size_t size)

cdef extern from *:
    """
    #define VF_PREFETCH(p) __builtin_prefetch((const void *)(p))
    #define VF_TBL24_SIZE ((size_t)1 << 24)
    #define VF_HUGE_PAGE ((size_t)1 << 21)
    #define VF_EXT 0x80000000u
    #define VF_GROUP_MASK 0x7FFFFFFFu
    #define VF_MAX_GROUPS ((size_t)1 << 24)   /* 16 GiB of tbl8: far past any real table */
    #define VF_HASH_MIN_BITS 10
    #define VF_HUGE_AFTER 1024   /* routes from which tbl24 is worth huge pages */
    #ifndef MADV_COLLAPSE
    #define MADV_COLLAPSE 25
    #endif
    """
    void VF_PREFETCH(const void *p) nogil
    const size_t TBL24_SIZE "VF_TBL24_SIZE"
    const size_t HUGE "VF_HUGE_PAGE"
    const uint32_t EXT "VF_EXT"
    const uint32_t GROUP_MASK "VF_GROUP_MASK"
    const size_t MAX_GROUPS "VF_MAX_GROUPS"
    const int HASH_MIN_BITS "VF_HASH_MIN_BITS"
    const size_t ROUTES_FOR_HUGE_PAGES "VF_HUGE_AFTER"
    const int MADV_COLLAPSE "MADV_COLLAPSE"

NO_ROUTE = 0xFFFF
HUGE_AFTER = ROUTES_FOR_HUGE_PAGES
MAX_NEXT_HOP = 0xFFFE


cdef inline uint32_t _netmask(int plen) noexcept nogil:
    return <uint32_t>((<uint64_t>0xFFFFFFFF00000000) >> plen)


cdef inline uint32_t _entry(int plen, uint32_t nh) noexcept nogil:
    # depth = plen + 1 so that 0 means "no route"; next hop stored inverted.
    return (<uint32_t>(plen + 1) << 16) | (nh ^ 0xFFFF)


cdef inline uint64_t _key(uint32_t prefix, int plen) noexcept nogil:
    return (<uint64_t>prefix << 6) | <uint64_t>(plen + 1)


cdef inline size_t _hash(uint64_t key, int bits) noexcept nogil:
    cdef uint64_t h = key * <uint64_t>0x9E3779B97F4A7C15
    h ^= h >> 29
    h *= <uint64_t>0xBF58476D1CE4E5B9
    return <size_t>(h >> (64 - bits))


cdef uint64_t *_alloc_slots(size_t cap) noexcept nogil:
    """Hash slots, on huge pages when big: a probe then costs no page walk."""
    cdef size_t size = cap * sizeof(uint64_t)
    cdef void *p = NULL
    if size < 2 * HUGE:
        return <uint64_t *>malloc(size)
    if posix_memalign(&p, HUGE, size) != 0:
        return NULL
    madvise(p, size, MADV_HUGEPAGE)
    return <uint64_t *>p


cdef inline int _check_route(long long prefix, int plen) except -1:
    if plen < 0 or plen > 32:
        raise ValueError(f"prefix length {plen} is out of range: an IPv4 prefix length is 0..32")
    if prefix < 0 or prefix > 0xFFFFFFFF:
        raise ValueError(f"prefix {prefix} is not an IPv4 address: give a host-order integer 0..0xFFFFFFFF")
    return 0


cdef inline int _check_nh(long nh) except -1:
    if nh < 0 or nh > 0xFFFE:
        raise ValueError(f"next hop {nh} is out of range: next hops are 0..65534 (65535 is NO_ROUTE)")
    return 0


cdef inline bint _u_array(object a, int typenum, bint writeable):
    """True if `a` is a 1-D C-contiguous ndarray of the given dtype (the fast path)."""
    if not cnp.PyArray_Check(a):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_NDIM(arr) == 1 and cnp.PyArray_TYPE(arr) == typenum
            and cnp.PyArray_IS_C_CONTIGUOUS(arr)
            and (not writeable or cnp.PyArray_ISWRITEABLE(arr)))


def _as_uint_array(a, dtype, what, long long hi):
    """Any 1-D integer array-like -> C-contiguous `dtype` array, range-checked."""
    arr = np.asarray(a)
    if arr.ndim != 1:
        raise ValueError(f"{what} must be a 1-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iu" and not (arr.dtype.kind == "b" or arr.size == 0):
        raise TypeError(f"{what} must be an integer array, got dtype {arr.dtype}")
    if arr.size and arr.dtype != dtype:
        lo_v = int(arr.min())
        hi_v = int(arr.max())
        if lo_v < 0 or hi_v > hi:
            bad = int(np.flatnonzero((arr < 0) | (arr > hi))[0])
            raise ValueError(f"{what}[{bad}] = {int(arr[bad])} is out of range 0..{hi}")
    return np.ascontiguousarray(arr, dtype=dtype)


@cython.final
cdef class Fib:
    """IPv4 longest-prefix-match table: DIR-24-8 data plane, hash-table control plane."""

    # data plane
    cdef void *_map_base
    cdef size_t _map_len
    cdef uint32_t *_tbl24
    cdef uint32_t *_tbl8
    cdef uint32_t *_group_routes    # per group: number of routes longer than /24 in it
    cdef uint32_t *_free_groups     # stack of free group numbers
    cdef size_t _n_free
    cdef size_t _n_groups           # groups allocated (capacity)
    cdef bint _tbl24_dirty
    cdef bint _huge                 # tbl24 advised onto huge pages
    # control plane
    cdef uint64_t *_slots           # (prefix << 6 | plen + 1) << 16 | nh ; 0 = empty
    cdef int _bits
    cdef size_t _count
    cdef uint32_t _len_count[33]
    cdef uint64_t _lengths          # bit L set iff some route has length L

    def __cinit__(self):
        self._map_len = (<size_t>TBL24_SIZE) * 4 + HUGE
        cdef void *base = mmap(NULL, self._map_len, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
        if base == MAP_FAILED:
            self._map_base = NULL
            raise MemoryError("Fib: cannot map the 64 MiB tbl24")
        self._map_base = base
        self._tbl24 = <uint32_t *>(((<size_t>base) + HUGE - 1) & ~(<size_t>HUGE - 1))
        # Small tables stay on 4 KiB pages (with THP "always" the kernel would
        # back every touched 2 MiB region with a huge page); _use_huge_pages
        # switches once the table is big enough to gain from them.
        madvise(self._tbl24, (<size_t>TBL24_SIZE) * 4, MADV_NOHUGEPAGE)
        self._huge = False
        self._tbl24_dirty = False
        self._tbl8 = NULL
        self._group_routes = NULL
        self._free_groups = NULL
        self._n_groups = 0
        self._n_free = 0
        self._slots = NULL
        self._reset_control(HASH_MIN_BITS)

    def __dealloc__(self):
        if self._map_base != NULL:
            munmap(self._map_base, self._map_len)
        free(self._tbl8)
        free(self._group_routes)
        free(self._free_groups)
        free(self._slots)

    # ---------------------------------------------------------------- memory

    cdef int _reset_control(self, int bits) except -1:
        cdef size_t cap = (<size_t>1) << bits
        cdef uint64_t *slots = _alloc_slots(cap)
        if slots == NULL:
            raise MemoryError("Fib: cannot allocate the route hash table")
        memset(slots, 0, cap * sizeof(uint64_t))
        free(self._slots)
        self._slots = slots
        self._bits = bits
        self._count = 0
        memset(self._len_count, 0, sizeof(self._len_count))
        self._lengths = 0
        return 0

    cdef int _clear_data(self) except -1:
        cdef size_t g
        if self._tbl24_dirty:
            # Dropping the pages gives back zero pages, i.e. an all-NO_ROUTE table.
            madvise(self._tbl24, (<size_t>TBL24_SIZE) * 4, MADV_DONTNEED)
            self._tbl24_dirty = False
        self._n_free = 0
        for g in range(self._n_groups):
            self._free_groups[self._n_free] = <uint32_t>(self._n_groups - 1 - g)
            self._n_free += 1
        return 0

    cdef int _grow_groups(self) except -1:
        cdef size_t old = self._n_groups
        cdef size_t new = old * 2 if old else 64
        cdef size_t g
        if new > MAX_GROUPS:
            new = MAX_GROUPS
        if new <= old:
            raise MemoryError(f"Fib: more than {MAX_GROUPS} /24 blocks hold routes longer than /24")
        cdef uint32_t *t8 = <uint32_t *>realloc(self._tbl8, new * 256 * sizeof(uint32_t))
        if t8 == NULL:
            raise MemoryError("Fib: cannot grow tbl8")
        self._tbl8 = t8
        cdef uint32_t *gr = <uint32_t *>realloc(self._group_routes, new * sizeof(uint32_t))
        if gr == NULL:
            raise MemoryError("Fib: cannot grow tbl8")
        self._group_routes = gr
        cdef uint32_t *fg = <uint32_t *>realloc(self._free_groups, new * sizeof(uint32_t))
        if fg == NULL:
            raise MemoryError("Fib: cannot grow tbl8")
        self._free_groups = fg
        # push the new groups so that the lowest number is handed out first
        for g in range(new - 1, old - 1, -1):
            self._free_groups[self._n_free] = <uint32_t>g
            self._n_free += 1
        self._n_groups = new
        return 0

    cdef int _grow_hash(self) except -1:
        cdef int bits = self._bits + 1
        cdef size_t cap = (<size_t>1) << bits
        cdef size_t old_cap = (<size_t>1) << self._bits
        cdef uint64_t *slots = _alloc_slots(cap)
        cdef uint64_t *old = self._slots
        cdef size_t i, h
        cdef size_t m = cap - 1
        if slots == NULL:
            raise MemoryError("Fib: cannot grow the route hash table")
        memset(slots, 0, cap * sizeof(uint64_t))
        for i in range(old_cap):
            if old[i]:
                h = _hash(old[i] >> 16, bits)
                while slots[h]:
                    h = (h + 1) & m
                slots[h] = old[i]
        self._slots = slots
        self._bits = bits
        free(old)
        return 0

    cdef void _use_huge_pages(self, size_t n_routes) noexcept nogil:
        # Huge pages make a random lookup one cache miss instead of a miss plus
        # a page walk; without them (THP off) everything still works, slower.
        if not self._huge and n_routes >= ROUTES_FOR_HUGE_PAGES:
            madvise(self._tbl24, (<size_t>TBL24_SIZE) * 4, MADV_HUGEPAGE)
            # Regions already touched hold 4 KiB pages, which a later fault
            # cannot turn into a huge one: collapse them now (Linux 6.1+;
            # older kernels leave it to khugepaged).
            if self._tbl24_dirty:
                madvise(self._tbl24, (<size_t>TBL24_SIZE) * 4, MADV_COLLAPSE)
            self._huge = True

    cdef inline int _reserve(self, int plen) except -1:
        """Make room first, so that an update never fails half done."""
        self._use_huge_pages(self._count + 1)
        if (self._count + 1) * 2 > ((<size_t>1) << self._bits):
            self._grow_hash()
        if plen > 24 and self._n_free == 0:
            self._grow_groups()
        return 0

    # --------------------------------------------------------- control plane

    cdef inline size_t _find(self, uint64_t key, bint *found) noexcept nogil:
        cdef size_t m = ((<size_t>1) << self._bits) - 1
        cdef size_t h = _hash(key, self._bits)
        cdef uint64_t s
        while True:
            s = self._slots[h]
            if s == 0:
                found[0] = False
                return h
            if (s >> 16) == key:
                found[0] = True
                return h
            h = (h + 1) & m

    cdef inline void _remove_slot(self, size_t i) noexcept nogil:
        # backward-shift deletion keeps linear probing free of tombstones
        cdef size_t m = ((<size_t>1) << self._bits) - 1
        cdef size_t j = i
        cdef size_t home
        cdef uint64_t s
        while True:
            j = (j + 1) & m
            s = self._slots[j]
            if s == 0:
                break
            home = _hash(s >> 16, self._bits)
            # leave s where it is if its home lies cyclically in (i, j]
            if i <= j:
                if i < home and home <= j:
                    continue
            elif i < home or home <= j:
                continue
            self._slots[i] = s
            i = j
        self._slots[i] = 0

    cdef inline bint _upsert(self, uint32_t prefix, int plen, uint32_t nh) noexcept nogil:
        """Store the route; True if it is new. Capacity must have been reserved."""
        cdef uint64_t key = _key(prefix, plen)
        cdef bint found
        cdef size_t h = self._find(key, &found)
        self._slots[h] = (key << 16) | nh
        if not found:
            self._count += 1
            self._len_count[plen] += 1
            self._lengths |= (<uint64_t>1) << plen
        return not found

    cdef uint32_t _covering_entry(self, uint32_t prefix, int plen) noexcept nogil:
        """The table entry of the longest route shorter than plen covering prefix (0 if none)."""
        cdef uint64_t lengths = self._lengths & (((<uint64_t>1) << plen) - 1)
        cdef uint64_t keys[33]
        cdef size_t homes[33]
        cdef int L
        cdef size_t m = ((<size_t>1) << self._bits) - 1
        cdef size_t h
        cdef uint64_t s
        cdef uint32_t sib, x
        if lengths == 0:
            return 0
        # Usually the data plane knows: a route shorter than plen covering P
        # covers its sibling block too, so if the best match of the sibling's
        # first address is shorter than plen, it is the cover we want (and
        # "no route" there means no cover). Only when the sibling is itself
        # routed by plen or longer do we ask the hash table.
        sib = prefix ^ <uint32_t>(<uint64_t>1 << (32 - plen))
        x = self._tbl24[sib >> 8]
        if x & EXT:
            x = self._tbl8[(<size_t>(x & GROUP_MASK) << 8) | (sib & 0xFF)]
        if (x >> 16) <= <uint32_t>plen:
            return x
        for L in range(plen - 1, -1, -1):
            if (lengths >> L) & 1:
                keys[L] = _key(prefix & _netmask(L), L)
                homes[L] = _hash(keys[L], self._bits)
                VF_PREFETCH(&self._slots[homes[L]])
        for L in range(plen - 1, -1, -1):
            if (lengths >> L) & 1:
                h = homes[L]
                while True:
                    s = self._slots[h]
                    if s == 0:
                        break
                    if (s >> 16) == keys[L]:
                        return _entry(L, <uint32_t>(s & 0xFFFF))
                    h = (h + 1) & m
        return 0

    # ------------------------------------------------------------ data plane

    cdef inline uint32_t _take_group(self, uint32_t fill) noexcept nogil:
        # caller has reserved a free group
        self._n_free -= 1
        cdef uint32_t g = self._free_groups[self._n_free]
        cdef uint32_t *p = self._tbl8 + (<size_t>g << 8)
        cdef int j
        for j in range(256):
            p[j] = fill
        self._group_routes[g] = 0
        return g

    cdef void _paint_insert(self, uint32_t prefix, int plen, uint32_t e, bint is_new) noexcept nogil:
        # overwrite entries whose depth is <= plen + 1: as e < lim exactly then
        # (tbl8 pointers have bit 31 set, so they never pass the test)
        cdef uint32_t lim = <uint32_t>(plen + 2) << 16
        cdef uint32_t *t24 = self._tbl24
        cdef uint32_t *p
        cdef size_t i, k, start, stop, g
        cdef uint32_t x
        cdef int j
        self._tbl24_dirty = True
        if plen <= 24:
            start = prefix >> 8
            stop = start + ((<size_t>1) << (24 - plen))
            for i in range(start, stop):
                x = t24[i]
                if x < lim:
                    t24[i] = e
                elif x & EXT:
                    p = self._tbl8 + (<size_t>(x & GROUP_MASK) << 8)
                    for j in range(256):
                        if p[j] < lim:
                            p[j] = e
        else:
            i = prefix >> 8
            x = t24[i]
            if x & EXT:
                g = x & GROUP_MASK
            else:
                g = self._take_group(x)
                t24[i] = EXT | <uint32_t>g      # the group is complete before it is linked
            if is_new:
                self._group_routes[g] += 1
            p = self._tbl8 + (g << 8)
            start = prefix & 0xFF
            stop = start + ((<size_t>1) << (32 - plen))
            for k in range(start, stop):
                if p[k] < lim:
                    p[k] = e

    cdef void _paint_delete(self, uint32_t prefix, int plen, uint32_t repl) noexcept nogil:
        # entries of depth exactly plen + 1 had this route as best match
        cdef uint32_t depth = <uint32_t>(plen + 1)
        cdef uint32_t *t24 = self._tbl24
        cdef uint32_t *p
        cdef size_t i, k, start, stop, g
        cdef uint32_t x
        cdef int j
        if plen <= 24:
            start = prefix >> 8
            stop = start + ((<size_t>1) << (24 - plen))
            for i in range(start, stop):
                x = t24[i]
                if (x >> 16) == depth:
                    t24[i] = repl
                elif x & EXT:
                    p = self._tbl8 + (<size_t>(x & GROUP_MASK) << 8)
                    for j in range(256):
                        if (p[j] >> 16) == depth:
                            p[j] = repl
        else:
            i = prefix >> 8
            g = t24[i] & GROUP_MASK
            p = self._tbl8 + (g << 8)
            start = prefix & 0xFF
            stop = start + ((<size_t>1) << (32 - plen))
            for k in range(start, stop):
                if (p[k] >> 16) == depth:
                    p[k] = repl
            self._group_routes[g] -= 1
            if self._group_routes[g] == 0:
                # only routes of /24 or shorter are left: the group is uniform
                t24[i] = p[0]
                self._free_groups[self._n_free] = <uint32_t>g
                self._n_free += 1

    # ------------------------------------------------------------ public API

    def insert(self, long long prefix, int plen, long nh):
        """Add prefix/plen -> nh, or replace its next hop. Bits past plen are ignored."""
        _check_route(prefix, plen)
        _check_nh(nh)
        cdef uint32_t p = <uint32_t>prefix & _netmask(plen)
        VF_PREFETCH(&self._tbl24[p >> 8])     # overlap its miss with the hash table's
        self._reserve(plen)
        cdef bint is_new = self._upsert(p, plen, <uint32_t>nh)
        self._paint_insert(p, plen, _entry(plen, <uint32_t>nh), is_new)

    def delete(self, long long prefix, int plen):
        """Remove prefix/plen; False if there is no such route."""
        _check_route(prefix, plen)
        cdef uint32_t p = <uint32_t>prefix & _netmask(plen)
        cdef bint found
        VF_PREFETCH(&self._tbl24[p >> 8])
        VF_PREFETCH(&self._tbl24[(p ^ <uint32_t>(<uint64_t>1 << (32 - plen))) >> 8])
        cdef size_t h = self._find(_key(p, plen), &found)
        if not found:
            return False
        self._remove_slot(h)
        self._count -= 1
        self._len_count[plen] -= 1
        if self._len_count[plen] == 0:
            self._lengths &= ~((<uint64_t>1) << plen)
        self._paint_delete(p, plen, self._covering_entry(p, plen))
        return True

    def get(self, long long prefix, int plen):
        """The next hop of exactly prefix/plen, or None."""
        _check_route(prefix, plen)
        cdef bint found
        cdef size_t h = self._find(_key(<uint32_t>prefix & _netmask(plen), plen), &found)
        if not found:
            return None
        return <int>(self._slots[h] & 0xFFFF)

    def lookup(self, long long addr):
        """Next hop of the longest prefix matching addr, or NO_ROUTE."""
        if addr < 0 or addr > 0xFFFFFFFF:
            raise ValueError(f"address {addr} is not an IPv4 address: give a host-order integer 0..0xFFFFFFFF")
        cdef uint32_t a = <uint32_t>addr
        cdef uint32_t e = self._tbl24[a >> 8]
        if e & EXT:
            e = self._tbl8[(<size_t>(e & GROUP_MASK) << 8) | (a & 0xFF)]
        return <uint16_t>(~e)

    cdef inline void _lookup_n(self, const uint32_t *a, uint16_t *out, size_t n) noexcept nogil:
        cdef const uint32_t *t24 = self._tbl24
        cdef const uint32_t *t8 = self._tbl8
        cdef size_t i
        cdef uint32_t x, e
        for i in range(n):
            x = a[i]
            e = t24[x >> 8]
            if e & EXT:
                e = t8[(<size_t>(e & GROUP_MASK) << 8) | (x & 0xFF)]
            out[i] = <uint16_t>(~e)

    def lookup_batch(self, addrs, out=None):
        """Look up every address of a uint32 array; returns (or fills) a uint16 array."""
        if not _u_array(addrs, cnp.NPY_UINT32, False):
            addrs = _as_uint_array(addrs, np.uint32, "addrs", 0xFFFFFFFF)
        cdef cnp.ndarray a = <cnp.ndarray>addrs
        cdef size_t n = <size_t>cnp.PyArray_DIM(a, 0)
        if out is None:
            out = cnp.PyArray_EMPTY(1, cnp.PyArray_DIMS(a), cnp.NPY_UINT16, 0)
        elif not _u_array(out, cnp.NPY_UINT16, True):
            raise TypeError("out must be a writeable 1-D C-contiguous uint16 array")
        cdef cnp.ndarray o = <cnp.ndarray>out
        cdef size_t n_out = <size_t>cnp.PyArray_DIM(o, 0)
        if n_out < n:
            raise ValueError(f"out has {n_out} entries for {n} addresses")
        self._lookup_n(<const uint32_t *>cnp.PyArray_DATA(a), <uint16_t *>cnp.PyArray_DATA(o), n)
        return out if n_out == n else out[:n]

    def lookup_indexed(self, addrs, idx, out):
        """out[i] = lookup(addrs[idx[i]]) for i < len(idx): a pool column through a batch."""
        if not _u_array(addrs, cnp.NPY_UINT32, False):
            raise TypeError("addrs must be a 1-D C-contiguous uint32 array (a pool's dst_ip column)")
        if not _u_array(idx, cnp.NPY_UINT32, False):
            raise TypeError("idx must be a 1-D C-contiguous uint32 array of slot indices")
        if not _u_array(out, cnp.NPY_UINT16, True):
            raise TypeError("out must be a writeable 1-D C-contiguous uint16 array")
        cdef cnp.ndarray a = <cnp.ndarray>addrs
        cdef cnp.ndarray ix = <cnp.ndarray>idx
        cdef cnp.ndarray o = <cnp.ndarray>out
        cdef size_t n = <size_t>cnp.PyArray_DIM(ix, 0)
        cdef size_t n_addr = <size_t>cnp.PyArray_DIM(a, 0)
        if <size_t>cnp.PyArray_DIM(o, 0) < n:
            raise ValueError(f"out has {cnp.PyArray_DIM(o, 0)} entries for {n} indices")
        cdef const uint32_t *pa = <const uint32_t *>cnp.PyArray_DATA(a)
        cdef const uint32_t *pi = <const uint32_t *>cnp.PyArray_DATA(ix)
        cdef uint16_t *po = <uint16_t *>cnp.PyArray_DATA(o)
        cdef const uint32_t *t24 = self._tbl24
        cdef const uint32_t *t8 = self._tbl8
        cdef size_t i
        cdef uint32_t j, x, e
        for i in range(n):
            j = pi[i]
            if j >= n_addr:
                raise IndexError(f"idx[{i}] = {j} is past the end of addrs ({n_addr} entries)")
            x = pa[j]
            e = t24[x >> 8]
            if e & EXT:
                e = t8[(<size_t>(e & GROUP_MASK) << 8) | (x & 0xFF)]
            po[i] = <uint16_t>(~e)

    def load(self, prefixes, plens, nhs):
        """Replace the whole table with these routes (the fast path for a full table).

        Later duplicates of a prefix win, as with inserts in array order.
        """
        P = _as_uint_array(prefixes, np.uint32, "prefixes", 0xFFFFFFFF)
        L = _as_uint_array(plens, np.uint8, "plens", 255)
        N = _as_uint_array(nhs, np.uint16, "nhs", 0xFFFF)
        cdef size_t n = P.shape[0]
        if L.shape[0] != n or N.shape[0] != n:
            raise ValueError(f"prefixes, plens and nhs differ in length ({n}, {L.shape[0]}, {N.shape[0]})")
        if n:
            if int(L.max()) > 32:
                bad = int(np.flatnonzero(L > 32)[0])
                raise ValueError(f"plens[{bad}] = {int(L[bad])} is out of range: an IPv4 prefix length is 0..32")
            if int(N.max()) > 0xFFFE:
                bad = int(np.flatnonzero(N > 0xFFFE)[0])
                raise ValueError(f"nhs[{bad}] = {int(N[bad])} is out of range: next hops are 0..65534 (65535 is NO_ROUTE)")
        cdef const uint32_t *pp = <const uint32_t *>cnp.PyArray_DATA(P)
        cdef const uint8_t *pl = <const uint8_t *>cnp.PyArray_DATA(L)
        cdef const uint16_t *pn = <const uint16_t *>cnp.PyArray_DATA(N)
        cdef int bits = HASH_MIN_BITS
        while ((<size_t>1) << bits) < 2 * n + 2:
            bits += 1
        self._reset_control(bits)      # may fail: before anything is cleared
        self._clear_data()
        self._use_huge_pages(n)
        # counting sort by length (stable), so that longer prefixes paint last
        order = np.empty(n, dtype=np.uint32)
        cdef uint32_t *po = <uint32_t *>cnp.PyArray_DATA(order)
        cdef size_t start[34]
        cdef size_t i, k, r, s, stop
        cdef int plen
        cdef uint32_t p, e, x, g
        cdef uint32_t *t24 = self._tbl24
        cdef uint32_t *t8p
        cdef bint is_new
        memset(start, 0, sizeof(start))
        for i in range(n):
            start[pl[i] + 1] += 1
        for k in range(1, 34):
            start[k] += start[k - 1]
        for i in range(n):
            po[start[pl[i]]] = <uint32_t>i
            start[pl[i]] += 1
        try:
            for k in range(n):
                r = po[k]
                plen = pl[r]
                p = pp[r] & _netmask(plen)
                e = _entry(plen, pn[r])
                is_new = self._upsert(p, plen, pn[r])
                self._tbl24_dirty = True
                if plen <= 24:
                    # shorter routes are all painted already and no tbl8 group
                    # exists yet: a plain fill is exact
                    s = p >> 8
                    stop = s + ((<size_t>1) << (24 - plen))
                    for i in range(s, stop):
                        t24[i] = e
                else:
                    if self._n_free == 0:
                        self._grow_groups()
                    x = t24[p >> 8]
                    if x & EXT:
                        g = x & GROUP_MASK
                    else:
                        g = self._take_group(x)
                        t24[p >> 8] = EXT | g
                    if is_new:
                        self._group_routes[g] += 1
                    t8p = self._tbl8 + (<size_t>g << 8)
                    s = p & 0xFF
                    stop = s + ((<size_t>1) << (32 - plen))
                    for i in range(s, stop):
                        t8p[i] = e
        except BaseException:
            self.clear()
            raise

    def clear(self):
        """Remove every route."""
        self._reset_control(HASH_MIN_BITS)
        self._clear_data()

    def __len__(self):
        return self._count

    def routes(self):
        """Iterator of (prefix, plen, nh), sorted by prefix then length (a snapshot)."""
        cdef size_t cap = (<size_t>1) << self._bits
        cdef size_t i, k = 0
        snap = np.empty(self._count, dtype=np.uint64)
        cdef uint64_t *ps = <uint64_t *>cnp.PyArray_DATA(snap)
        for i in range(cap):
            if self._slots[i]:
                ps[k] = self._slots[i]
                k += 1
        snap.sort()     # (prefix << 6 | plen + 1) << 16 | nh sorts by prefix, then length
        return _iter_routes(snap)

    def stats(self):
        """Sizes for a status handler: routes, routes per length, tbl8 groups in use."""
        return {
            "routes": self._count,
            "by_length": {L: self._len_count[L] for L in range(33) if self._len_count[L]},
            "tbl8_groups_used": self._n_groups - self._n_free,
            "tbl8_groups_allocated": self._n_groups,
            "hash_slots": (<size_t>1) << self._bits,
        }

    def _raw_tables(self):
        """(tbl24 address, tbl8 address): for bench/bench_fib.py's C ceiling only.

        tbl8 moves when it grows, so the addresses hold until the next change.
        """
        return <size_t>self._tbl24, <size_t>self._tbl8

    def __repr__(self):
        return f"<Fib {self._count} routes, {self._n_groups - self._n_free} tbl8 groups>"


def _iter_routes(snap):
    for s in snap.tolist():
        yield (s >> 22, ((s >> 16) & 0x3F) - 1, s & 0xFFFF)
