# cython: language_level=3
"""Fib6: the compiled IPv6 longest-prefix-match table (a poptrie, 8 bits a level).

    from vforward.cext.fib6 import Fib6, NO_ROUTE
    fib = Fib6()
    fib.insert(0x20010db8 << 96, 32, 3)     # 2001:db8::/32 -> next hop 3
    fib.lookup(0x20010db8 << 96 | 1)        # 3
    fib.lookup_batch(addrs, out)            # addrs: (n, 16) uint8, network order
    fib.insert_many(prefixes, plens, nhs)   # updates in order, one call: prefixes as addrs
    fib.delete_many(prefixes, plens)

Addresses are ints (or 16 bytes) in the scalar calls and rows of a (n, 16)
uint8 array in network byte order in the batch calls -- the layout of the
destination in the packet and of the pool's dst_ip6 annotation.  Next hops
are 0..65534; NO_ROUTE (0xFFFF) means "no match".  Fib6Reference in
fib6_reference.py has the same API in plain Python and is what the tests hold
this module to.

Why a poptrie.  Poptrie (Asai and Ohara, "Poptrie: A Compressed Trie with
Population Count for Fast and Scalable Software IP Routing Table Lookup",
SIGCOMM 2015) is a multibit trie with a wide first stride ("direct
pointing") and 6-bit strides below it, whose nodes keep their children and
their leaves in two arrays indexed by population counts of two 64-bit
bitmaps.  It suits IPv6 tables and batches for the same reason: it is small.
A DIR-24-8 style table extended to 128 bits (rte_lpm6) spends a 256-entry
group per 8 bits of every distinct path, so a 200,000-prefix IPv6 table
takes hundreds of MB and every lookup level is a cache miss; a poptrie node
is 32 bytes for 64 slots and a leaf 2 bytes, so the same table takes
~20 MB, of which a lookup touches one line per level, with no branch but
the loop's.  A tree bitmap is as small but needs two bitmaps and a second
array walk per node; a poptrie's leaf-pushed leaves answer at the node
where the walk stops.

What is ours, and why.  A batch of 256 lookups into a table this size is
bound by cache misses, not instructions (perf: the node loads stall), so
the layout counts cache lines per lookup on the lengths real tables hold
(/48 about half of them, then /32, /44, /40, /29, /36: see
bench/internet_table6.py):
- direct pointing on /26, not the paper's /16-/18, and straight to the
  node: a /16 with longer routes has a block of 1024 first-level nodes, one
  per /26, found through `block` (an index per /16, 256 KiB, of which a
  table uses a few lines: in cache), so the first read that misses is the
  node itself and a /32 ends there.  A /16 without longer routes answers
  from `short` (a next hop per /16), so the default route costs no block;
- below the first node a node's child is a group of four nodes, one per
  value of the next two bits: a level takes 8 bits (6 + 2) for one node
  read, so /33-/40 end at the second node and /41-/48 at the third
  (plain 6-bit levels: the fourth);
- a node holds up to 4 leaves itself (`inl`; a lone /48's nodes have one
  to three), so most lookups end without a read of `leaves`; nodes are 32
  bytes, 32-byte aligned: one cache line each.
A /48 costs three node lines (was: a direct entry, five nodes of 24
bytes, a quarter of them over two lines, and a leaf line).  The price is
memory: a group is four nodes where one 6-bit node would do, and a block
is 32 KiB per /16 with routes longer than /16 (a few hundred /16s in the
global table).  A group or a block whose routes are all deleted stays,
its nodes answering as leaves, until the next load(): churn of the same
routes reuses it, and the arrays do not grow.

Layout.  `block[/16]` is 0 (the answer is short[/16]) or 1 + the index in
`nodes` of the block's first node; /26 number j of the /16 is node
block - 1 + j.
A node at depth d (d = 26, then 34, 42, ..., 122: a group's nodes take 2
bits below their parent's 6, so 128 - 26 = 6 + 12 * 8 ends exactly at bit
128) covers bits d..d+5 of the address (v, 0..63) with `vector` (bit v
set: slot v has a child group), `base1` (its child groups of 4 nodes,
contiguous in `nodes`, in slot order), `leafvec` (bit v set: slot v is a
leaf that starts a run of equal leaves -- the paper's leaf compression) and
the runs' next hops: in `inl` if there are up to 4, else at `base0` in
`leaves`.  The child of slot v is nodes[base1 + 4 * (popcount(vector &
mask(v)) - 1) + bits d+6..d+7]; the next hop of leaf slot v is run
popcount(leafvec & mask(v)) - 1.

Host routes (/128) are kept apart, in an exact-match hash table: in the
trie, one host route would make every lookup of an address near it walk all
13 levels to bit 128.  A batch probes that table only for an address whose
bucket of upper 64 bits (16 KiB of counts) holds a host route, so a few
/128s cost the other addresses nothing.

A batch walks level by level, all its lookups together (up to LANES at a
time), branch-free, each node and finally each leaf prefetched a whole pass
before it is read, so that the cache misses of many lookups overlap.  Each
level's 8 bits come from one shift of one word chosen per level (a window of
bits 26..89, then the low word).

Control plane: a binary (one bit per level) trie of the routes in C arrays
(a node's children and value side by side: one cache line per level).
Beside every poptrie node, at the same index and moved with it, are the
trie node at its depth (made, empty, for a group's node that has none) and
the next hop of the longest route above it.  An
update walks the poptrie down to the node where the prefix's length falls
(or to the leaf its path ends at), starts its trie walk at that node's trie
node (a few levels, not plen of them), and rebuilds only the slots the
prefix covers: from the trie below the prefix's own trie node, while the
node's other slots are read back as they are.  The subtrees of the covered
slots are built afresh (leaf pushing puts a prefix's next hop in every leaf
it covers, so the more-specifics under it are rebuilt with it); a node whose
children stay the same, or whose leaf runs stay as many, is rewritten in
place, otherwise its blocks come from per-size free lists, so churn does
not grow the arrays.  A delete prunes emptied trie nodes only up to the
poptrie node it started from (a trie node a poptrie node refers to stays,
empty if need be: it answers as a leaf).  Each call leaves the table
complete.  The cost of an update grows with the number of more-specifics
under the prefix: a /48 is cheap, a /32 with hundreds of /48s below it
rebuilds their nodes.  A new next hop for a route that fills one slot of
its node exactly (a /48 at a /42 node, a /40 at a /34 node, a /32 without
more-specifics) whose leaf is a run of its own, and stays one, is written
over the old leaf: nothing is rebuilt.  insert_many/delete_many take a
batch of updates in one call and prefetch the next update's first-level
node while one runs.
"""
cimport cython
cimport numpy as cnp
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport malloc, calloc, realloc, free
from libc.string cimport memset, memcpy

import numpy as np

cnp.import_array()

cdef extern from "sys/mman.h" nogil:
    int madvise(void *addr, size_t length, int advice)
    int MADV_HUGEPAGE

cdef extern from "stdlib.h" nogil:
    int posix_memalign(void **memptr, size_t alignment, size_t size)

cdef extern from *:
    """
    #define VF6_POPCNT(x) ((uint32_t)__builtin_popcountll(x))
    #define VF6_CTZ(x) ((uint32_t)__builtin_ctzll(x))
    #define VF6_PREFETCH(p) __builtin_prefetch((const void *)(p))
    static inline uint64_t vf6_load_be64(const unsigned char *p) {
        uint64_t x; memcpy(&x, p, 8); return __builtin_bswap64(x);
    }
    """
    uint32_t POPCNT "VF6_POPCNT"(uint64_t x) nogil
    uint32_t CTZ "VF6_CTZ"(uint64_t x) nogil
    void PREFETCH "VF6_PREFETCH"(const void *p) nogil
    uint64_t load_be64 "vf6_load_be64"(const unsigned char *p) nogil

NO_ROUTE = 0xFFFF
MAX_NEXT_HOP = 0xFFFE
DIRECT_BITS = 26

DEF LANES = 128                 # lookups walked together by _lookup_rows
DEF S = 26                      # direct-pointing bits
DEF SHORT = 16                  # routes up to /SHORT answer from _short; a /SHORT with
DEF BLOCK = 1024                # longer routes has a block of 2^(S - SHORT) nodes, one per /S
DEF INLINE = 4                  # a node with up to INLINE leaves keeps them inside
DEF STRIDE = 6                  # bits per node (64 slots)
DEF QBITS = 2                   # below the first level, a node's child is a group
DEF QUAD = 4                    # of QUAD nodes, one per value of the next QBITS bits
DEF STEP = 8                    # STRIDE + QBITS: the bits one level takes
DEF NONE = 0                    # trie node 0 is "no node"; the root is 1
DEF ROOT = 1
DEF NOVAL = 0                   # trie value: 0 none, else next hop + 1
DEF HBUCKET_BITS = 12
DEF NOREC = 0xFFFFFFFF          # "no poptrie node" from _locate

# 32 bytes, 32-byte aligned: one cache line per node read.  A node with up to
# INLINE leaves (most of them: a lone /48's nodes have one to three) keeps them
# in `inl`, so that its lookups end without a read of `leaves`.
cdef struct Node:
    uint64_t vector
    uint64_t leafvec
    uint32_t base0
    uint32_t base1
    uint16_t inl[INLINE]

# A node of the route trie (one bit per level), its fields side by side: a walk
# reads one cache line per level, not one per array.
cdef struct TNode:
    uint32_t c0
    uint32_t c1
    uint32_t val            # next hop + 1; NOVAL: no route here


# A host route (/128), in the exact-match table beside the trie.
cdef struct HostSlot:
    uint64_t hi
    uint64_t lo
    uint32_t val            # next hop + 1; 0: empty slot

# One stack of free block starts per block size 1..256 (64 groups of 4 nodes)
# and BLOCK (the first level's nodes of a /SHORT).
cdef struct FreeBlocks:
    uint32_t *items[BLOCK + 1]
    size_t n[BLOCK + 1]
    size_t cap[BLOCK + 1]


cdef void *_grow_block(void *old, size_t old_size, size_t new_size) noexcept nogil:
    """A copy of old in new_size bytes; from 2 MiB on, 2 MiB aligned and advised
    onto transparent huge pages, so that a lookup's node reads cost no page walk."""
    cdef void *p = NULL
    if new_size < (<size_t>2 << 20):
        # 64-byte aligned, so that a 32-byte node never straddles two cache lines
        if posix_memalign(&p, 64, new_size) != 0:
            return NULL
    else:
        if posix_memalign(&p, <size_t>2 << 20, new_size) != 0:
            return NULL
        madvise(p, new_size, MADV_HUGEPAGE)
    if old != NULL:
        memcpy(p, old, old_size)
        free(old)
    return p


cdef inline size_t _host_hash(uint64_t hi, uint64_t lo, size_t cap) noexcept nogil:
    cdef uint64_t h = (hi * <uint64_t>0x9E3779B97F4A7C15) ^ (lo * <uint64_t>0xC2B2AE3D27D4EB4F)
    h ^= h >> 31
    h *= <uint64_t>0xBF58476D1CE4E5B9
    return <size_t>(h >> 17) & (cap - 1)


cdef inline size_t _host_bucket(uint64_t hi) noexcept nogil:
    return <size_t>((hi * <uint64_t>0x9E3779B97F4A7C15) >> (64 - HBUCKET_BITS))


cdef inline uint64_t _mask(uint32_t v) noexcept nogil:
    # bits 0..v set (v = 63: all of them; the shift wraps to 0 and 0 - 1 is all ones)
    return ((<uint64_t>2) << v) - 1


cdef inline uint32_t _bits6(uint64_t hi, uint64_t lo, int d) noexcept nogil:
    """Bits d..d+5 of the 128-bit address hi:lo (bit 0 the most significant)."""
    if d <= 58:
        return <uint32_t>((hi >> (58 - d)) & 63)
    if d >= 64:
        return <uint32_t>((lo >> (122 - d)) & 63)
    return <uint32_t>(((hi << (d - 58)) | (lo >> (122 - d))) & 63)


cdef inline uint32_t _bits2(uint64_t hi, uint64_t lo, int d) noexcept nogil:
    """Bits d..d+1 of hi:lo (d <= 126)."""
    if d <= 62:
        return <uint32_t>((hi >> (62 - d)) & 3)
    if d >= 64:
        return <uint32_t>((lo >> (126 - d)) & 3)
    return <uint32_t>(((hi & 1) << 1) | (lo >> 63))


cdef inline uint32_t _bit(uint64_t hi, uint64_t lo, int i) noexcept nogil:
    """Bit i (0 the most significant) of hi:lo."""
    if i < 64:
        return <uint32_t>((hi >> (63 - i)) & 1)
    return <uint32_t>((lo >> (127 - i)) & 1)


cdef inline void _mask128(uint64_t *hi, uint64_t *lo, int plen) noexcept nogil:
    if plen == 0:
        hi[0] = 0
        lo[0] = 0
    elif plen < 64:
        hi[0] &= ~((<uint64_t>0xFFFFFFFFFFFFFFFF) >> plen)
        lo[0] = 0
    elif plen < 128:
        lo[0] &= ~((<uint64_t>0xFFFFFFFFFFFFFFFF) >> (plen - 64))


cdef inline const uint16_t *_leaf_src(const Node *n, const uint16_t *leaves) noexcept nogil:
    """Where node n's leaves are: inside it (up to INLINE) or its block of leaves."""
    return &n.inl[0] if POPCNT(n.leafvec) <= INLINE else leaves + n.base0


cdef extern from "Python.h":
    unsigned long long PyLong_AsUnsignedLongLong(object) except? <unsigned long long>-1
    unsigned long long PyLong_AsUnsignedLongLongMask(object) except? <unsigned long long>-1


cdef inline int _halves(object addr, uint64_t *hi, uint64_t *lo, str what) except -1:
    """An int (the fast path: one shift, no tuple) or 16 bytes -> its 64-bit halves."""
    if type(addr) is not int:
        addr = int.from_bytes(addr, "big") if isinstance(addr, (bytes, bytearray, memoryview)) \
            and len(addr) == 16 else _split(addr, what)[0] << 64 | _split(addr, what)[1]
    try:
        hi[0] = PyLong_AsUnsignedLongLong(addr >> 64)
    except OverflowError:
        raise ValueError(f"{what} {addr} is not an IPv6 address: give an integer "
                         "0..2**128-1 or 16 bytes") from None
    lo[0] = PyLong_AsUnsignedLongLongMask(addr)
    return 0


def _split(addr, what):
    """An int or 16 bytes -> (hi, lo) 64-bit halves."""
    if isinstance(addr, (bytes, bytearray, memoryview)):
        if len(addr) != 16:
            raise ValueError(f"{what} is {len(addr)} bytes: an IPv6 address is 16 bytes")
        addr = int.from_bytes(addr, "big")
    addr = int(addr)
    if addr < 0 or addr >> 128:
        raise ValueError(f"{what} {addr} is not an IPv6 address: give an integer "
                         "0..2**128-1 or 16 bytes")
    return addr >> 64, addr & 0xFFFFFFFFFFFFFFFF


cdef inline int _check_plen(int plen) except -1:
    if plen < 0 or plen > 128:
        raise ValueError(f"prefix length {plen} is out of range: an IPv6 prefix length is 0..128")
    return 0


cdef inline int _check_nh(long nh) except -1:
    if nh < 0 or nh > 0xFFFE:
        raise ValueError(f"next hop {nh} is out of range: next hops are 0..65534 (65535 is NO_ROUTE)")
    return 0


cdef inline bint _rows16(object a):
    """True if a is a C-contiguous (n, 16) uint8 array."""
    if not cnp.PyArray_Check(a):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_NDIM(arr) == 2 and cnp.PyArray_DIM(arr, 1) == 16
            and cnp.PyArray_TYPE(arr) == cnp.NPY_UINT8 and cnp.PyArray_IS_C_CONTIGUOUS(arr))


def _address_order(prefixes, plens):
    """The order of the routes by masked prefix, then length; stable, so that of
    two routes for one prefix the later stays later."""
    if not len(plens):
        return np.zeros(0, dtype=np.intp)
    words = prefixes.view(">u8").astype(np.uint64)
    pl = np.asarray(plens).astype(np.int64)
    ones = np.uint64(0xFFFFFFFFFFFFFFFF)
    masked = []
    for k, width in ((0, 64), (1, 128)):
        shift = np.clip(width - pl, 0, 64)
        mask = np.where(shift >= 64, np.uint64(0),
                        ones << np.minimum(shift, 63).astype(np.uint64))
        masked.append(words[:, k] & mask)
    return np.lexsort((pl, masked[1], masked[0]))


def _rows_error(what, a):
    arr = np.asarray(a)
    return ValueError(f"{what} must be a C-contiguous (n, 16) uint8 array of network-order "
                      f"IPv6 addresses, got shape {arr.shape} dtype {arr.dtype}")


def _update_rows(prefixes, plens, nhs):
    """The checked arrays of a batch of routes: (n, 16) uint8 prefixes, int32
    lengths and (unless nhs is None) uint32 next hops, all C-contiguous."""
    if not _rows16(prefixes):
        raise _rows_error("prefixes", prefixes)
    pl = np.asarray(plens)
    n = len(prefixes)
    if pl.shape != (n,) or (nhs is not None and np.shape(nhs) != (n,)):
        raise ValueError(f"prefixes, plens and nhs differ in length ({n}, {len(pl)}"
                         + (f", {len(nhs)})" if nhs is not None else ")"))
    if n:
        bad = np.flatnonzero((pl < 0) | (pl > 128))
        if len(bad):
            raise ValueError(f"plens[{bad[0]}] = {int(pl[bad[0]])} is out of range: an IPv6 "
                             "prefix length is 0..128")
    nh = None
    if nhs is not None:
        nh = np.asarray(nhs)
        if n:
            bad = np.flatnonzero((nh < 0) | (nh > 0xFFFE))
            if len(bad):
                raise ValueError(f"nhs[{bad[0]}] = {int(nh[bad[0]])} is out of range: next hops "
                                 "are 0..65534 (65535 is NO_ROUTE)")
        nh = np.ascontiguousarray(nh, dtype=np.uint32)
    return prefixes, np.ascontiguousarray(pl, dtype=np.int32), nh


cdef inline bint _vec(object a, int typenum, bint writeable):
    if not cnp.PyArray_Check(a):
        return False
    cdef cnp.ndarray arr = <cnp.ndarray>a
    return (cnp.PyArray_NDIM(arr) == 1 and cnp.PyArray_TYPE(arr) == typenum
            and cnp.PyArray_IS_C_CONTIGUOUS(arr)
            and (not writeable or cnp.PyArray_ISWRITEABLE(arr)))


@cython.final
cdef class Fib6:
    """IPv6 longest-prefix-match table: poptrie data plane, binary-trie control plane."""

    # data plane
    cdef uint32_t *_block         # per /SHORT: 1 + the first of its BLOCK nodes, 0: none
    # the next hop (NO_ROUTE: none) of the longest route of length <= SHORT per /SHORT:
    # the answer where a /SHORT has no block
    cdef uint16_t *_short
    cdef size_t _n_blocks
    cdef Node *_nodes
    cdef size_t _n_nodes_cap, _n_nodes_top
    cdef uint16_t *_leaves
    cdef size_t _n_leaves_cap, _n_leaves_top
    cdef FreeBlocks _free_nodes
    cdef FreeBlocks _free_leaves
    # beside each node (same index; moved with it): the trie node at its depth and
    # the next hop + 1 of the longest route of length <= its depth on its path, so
    # that an update starts its trie walk there instead of at the root
    cdef uint32_t *_tnode
    cdef uint32_t *_tbest
    # control plane: binary trie
    cdef TNode *_t
    cdef size_t _t_cap, _t_top
    cdef uint32_t *_t_free
    cdef size_t _t_nfree, _t_freecap
    cdef size_t _count
    cdef uint32_t _path[129]        # trie nodes of the last route set or deleted, by depth
    # host routes (/128): open addressing, linear probing, backward-shift deletion
    cdef HostSlot *_hosts
    cdef size_t _h_cap, _h_count
    # host routes per bucket of their upper 64 bits (HBUCKETS buckets, 16 KiB):
    # a batch probes the host table only for an address whose bucket holds one
    cdef uint32_t *_h_buckets

    def __cinit__(self):
        cdef int k
        self._block = NULL
        self._short = NULL
        self._nodes = NULL
        self._tnode = self._tbest = NULL
        self._leaves = NULL
        self._t = NULL
        self._t_free = NULL
        self._hosts = NULL
        self._h_buckets = NULL
        for k in range(BLOCK + 1):
            self._free_nodes.items[k] = NULL
            self._free_leaves.items[k] = NULL
        self._reset()

    def __dealloc__(self):
        self._release()

    cdef void _release(self) noexcept:
        cdef int k
        free(self._block)
        free(self._short)
        self._short = NULL
        free(self._nodes)
        free(self._tnode)
        free(self._tbest)
        self._tnode = self._tbest = NULL
        free(self._leaves)
        free(self._t)
        free(self._t_free)
        free(self._hosts)
        self._hosts = NULL
        free(self._h_buckets)
        self._h_buckets = NULL
        self._h_cap = self._h_count = 0
        for k in range(BLOCK + 1):
            free(self._free_nodes.items[k])
            free(self._free_leaves.items[k])
            self._free_nodes.items[k] = NULL
            self._free_leaves.items[k] = NULL
        self._block = NULL
        self._nodes = NULL
        self._leaves = NULL
        self._t = NULL
        self._t_free = NULL

    cdef int _reset(self) except -1:
        cdef int k
        self._release()
        self._block = <uint32_t *>calloc((<size_t>1) << SHORT, sizeof(uint32_t))
        self._n_blocks = 0
        self._short = <uint16_t *>malloc(((<size_t>1) << SHORT) * sizeof(uint16_t))
        if self._short != NULL:
            memset(self._short, 0xFF, ((<size_t>1) << SHORT) * sizeof(uint16_t))
        self._h_buckets = <uint32_t *>calloc((<size_t>1) << HBUCKET_BITS, sizeof(uint32_t))
        self._n_nodes_cap = 1024
        self._nodes = <Node *>_grow_block(NULL, 0, self._n_nodes_cap * sizeof(Node))
        self._tnode = <uint32_t *>malloc(self._n_nodes_cap * sizeof(uint32_t))
        self._tbest = <uint32_t *>malloc(self._n_nodes_cap * sizeof(uint32_t))
        self._n_nodes_top = 0
        self._n_leaves_cap = 4096
        self._leaves = <uint16_t *>malloc(self._n_leaves_cap * sizeof(uint16_t))
        self._n_leaves_top = 0
        for k in range(BLOCK + 1):
            self._free_nodes.n[k] = self._free_nodes.cap[k] = 0
            self._free_leaves.n[k] = self._free_leaves.cap[k] = 0
        self._t_cap = 1024
        self._t = <TNode *>malloc(self._t_cap * sizeof(TNode))
        self._t_freecap = 0
        self._t_nfree = 0
        if (self._block == NULL or self._nodes == NULL or self._leaves == NULL
                or self._short == NULL
                or self._h_buckets == NULL
                or self._tnode == NULL or self._tbest == NULL
                or self._t == NULL):
            raise MemoryError("Fib6: cannot allocate its tables")
        self._t[NONE].c0 = self._t[NONE].c1 = self._t[NONE].val = 0
        self._t[ROOT].c0 = self._t[ROOT].c1 = self._t[ROOT].val = 0
        self._t_top = 2
        self._count = 0
        return 0

    # ------------------------------------------------------------ block memory

    cdef int _push_free(self, FreeBlocks *fb, uint32_t size, uint32_t start) except -1:
        cdef size_t cap
        cdef uint32_t *p
        if fb.n[size] == fb.cap[size]:
            cap = fb.cap[size] * 2 if fb.cap[size] else 64
            p = <uint32_t *>realloc(fb.items[size], cap * sizeof(uint32_t))
            if p == NULL:
                raise MemoryError("Fib6: cannot grow a free list")
            fb.items[size] = p
            fb.cap[size] = cap
        fb.items[size][fb.n[size]] = start
        fb.n[size] += 1
        return 0

    cdef uint32_t _alloc_nodes(self, uint32_t size) except? 0xFFFFFFFF:
        cdef size_t cap
        cdef Node *p
        if self._free_nodes.n[size]:
            self._free_nodes.n[size] -= 1
            return self._free_nodes.items[size][self._free_nodes.n[size]]
        if self._n_nodes_top + size > self._n_nodes_cap:
            cap = self._n_nodes_cap * 2
            while cap < self._n_nodes_top + size:
                cap *= 2
            if cap > 0x7FFFFFFF:
                raise MemoryError("Fib6: more than 2^31 trie nodes")
            p = <Node *>_grow_block(self._nodes, self._n_nodes_cap * sizeof(Node),
                                    cap * sizeof(Node))
            if p == NULL:
                raise MemoryError("Fib6: cannot grow the node array")
            self._nodes = p
            self._tnode = <uint32_t *>realloc(self._tnode, cap * sizeof(uint32_t))
            self._tbest = <uint32_t *>realloc(self._tbest, cap * sizeof(uint32_t))
            if self._tnode == NULL or self._tbest == NULL:
                raise MemoryError("Fib6: cannot grow the node array")
            self._n_nodes_cap = cap
        cdef uint32_t start = <uint32_t>self._n_nodes_top
        self._n_nodes_top += size
        return start

    cdef uint32_t _alloc_leaves(self, uint32_t size) except? 0xFFFFFFFF:
        cdef size_t cap
        cdef uint16_t *p
        if self._free_leaves.n[size]:
            self._free_leaves.n[size] -= 1
            return self._free_leaves.items[size][self._free_leaves.n[size]]
        if self._n_leaves_top + size > self._n_leaves_cap:
            cap = self._n_leaves_cap * 2
            while cap < self._n_leaves_top + size:
                cap *= 2
            p = <uint16_t *>_grow_block(self._leaves, self._n_leaves_cap * sizeof(uint16_t),
                                        cap * sizeof(uint16_t))
            if p == NULL:
                raise MemoryError("Fib6: cannot grow the leaf array")
            self._leaves = p
            self._n_leaves_cap = cap
        cdef uint32_t start = <uint32_t>self._n_leaves_top
        self._n_leaves_top += size
        return start

    cdef int _free_subtree(self, uint32_t rec) except -1:
        """Give back the blocks below node rec (not rec's own record)."""
        cdef Node n = self._nodes[rec]
        cdef uint32_t nc = POPCNT(n.vector)
        cdef uint32_t nl = POPCNT(n.leafvec)
        cdef uint32_t k
        for k in range(nc * QUAD):
            self._free_subtree(n.base1 + k)
        if nc:
            self._push_free(&self._free_nodes, nc * QUAD, n.base1)
        if nl > INLINE:
            self._push_free(&self._free_leaves, nl, n.base0)
        return 0

    # ------------------------------------------------------------ control plane

    cdef uint32_t _new_tnode(self) except 0:
        cdef uint32_t t
        cdef TNode *tn
        cdef size_t cap
        if self._t_nfree:
            self._t_nfree -= 1
            t = self._t_free[self._t_nfree]
        else:
            if self._t_top == self._t_cap:
                cap = self._t_cap * 2
                if cap > 0xFFFFFFFF:
                    raise MemoryError("Fib6: the route trie is full")
                tn = <TNode *>realloc(self._t, cap * sizeof(TNode))
                if tn == NULL:
                    raise MemoryError("Fib6: cannot grow the route trie")
                self._t = tn
                self._t_cap = cap
            t = <uint32_t>self._t_top
            self._t_top += 1
        self._t[t].c0 = self._t[t].c1 = self._t[t].val = 0
        return t

    cdef int _drop_tnode(self, uint32_t t) except -1:
        cdef size_t cap
        if self._t_nfree == self._t_freecap:
            cap = self._t_freecap * 2 if self._t_freecap else 256
            self._t_free = <uint32_t *>realloc(self._t_free, cap * sizeof(uint32_t))
            if self._t_free == NULL:
                raise MemoryError("Fib6: cannot grow the route trie's free list")
            self._t_freecap = cap
        self._t_free[self._t_nfree] = t
        self._t_nfree += 1
        return 0

    cdef int _trie_set(self, uint64_t hi, uint64_t lo, int plen, uint32_t nh,
                       uint32_t *old, uint32_t t0=ROOT, int d0=0) except -1:
        """Store the route in the trie (its previous value in old); True if it is new.
        The walk starts at trie node t0 at depth d0 (on the route's path).  The
        nodes of its path stay in _path for the update that follows."""
        cdef uint32_t t = t0
        cdef uint32_t c
        cdef int i
        self._path[d0] = t0
        for i in range(d0, plen):
            if _bit(hi, lo, i):
                c = self._t[t].c1
                if c == NONE:
                    c = self._new_tnode()
                    self._t[t].c1 = c
            else:
                c = self._t[t].c0
                if c == NONE:
                    c = self._new_tnode()
                    self._t[t].c0 = c
            t = c
            self._path[i + 1] = t
        old[0] = self._t[t].val
        cdef bint new = self._t[t].val == NOVAL
        self._t[t].val = nh + 1
        if new:
            self._count += 1
        return new

    cdef int _trie_delete(self, uint64_t hi, uint64_t lo, int plen,
                          uint32_t t0=ROOT, int d0=0) except -1:
        """Remove the route from the trie, pruning emptied nodes below depth d0 (the
        walk starts at trie node t0 there, which stays, even if emptied: a poptrie
        node refers to it); True if it was there.  The nodes of its path that
        remain stay in _path (NONE past them)."""
        cdef uint32_t *path = self._path
        cdef uint32_t t = t0
        cdef int i
        path[d0] = t0
        for i in range(d0, plen):
            t = self._t[t].c1 if _bit(hi, lo, i) else self._t[t].c0
            if t == NONE:
                return False
            path[i + 1] = t
        if self._t[t].val == NOVAL:
            return False
        self._t[t].val = NOVAL
        self._count -= 1
        i = plen
        while i > d0 and self._t[path[i]].val == NOVAL and self._t[path[i]].c0 == NONE \
                and self._t[path[i]].c1 == NONE:
            if _bit(hi, lo, i - 1):
                self._t[path[i - 1]].c1 = NONE
            else:
                self._t[path[i - 1]].c0 = NONE
            self._drop_tnode(path[i])
            path[i] = NONE
            i -= 1
        return True

    cdef uint32_t _trie_get(self, uint64_t hi, uint64_t lo, int plen) noexcept nogil:
        cdef uint32_t t = ROOT
        cdef int i
        for i in range(plen):
            t = self._t[t].c1 if _bit(hi, lo, i) else self._t[t].c0
            if t == NONE:
                return NOVAL
        return self._t[t].val

    cdef uint32_t _trie_at(self, uint64_t hi, uint64_t lo, int depth, uint32_t *best) noexcept nogil:
        """The trie node at depth on the path of the route just set or deleted
        (hi:lo, from _path: no second walk down the trie), NONE if absent, and in
        best the next hop + 1 of the longest route of length <= depth on that path."""
        cdef uint32_t t = ROOT
        cdef uint32_t b = self._t[ROOT].val
        cdef int i
        for i in range(1, depth + 1):
            t = self._path[i]
            if t == NONE:
                break
            if self._t[t].val != NOVAL:
                b = self._t[t].val
        best[0] = b
        return t

    # ------------------------------------------------------------ host routes
    # A /128 never enters the trie: with one, every lookup of an address near
    # it would walk all 18 levels to bit 128.  Host routes are matched exactly
    # first; being the longest possible, a hit is the answer.

    cdef inline uint32_t _host_get(self, uint64_t hi, uint64_t lo) noexcept nogil:
        cdef size_t m, h
        if self._h_count == 0:
            return NOVAL
        m = self._h_cap - 1
        h = _host_hash(hi, lo, self._h_cap)
        while self._hosts[h].val != NOVAL:
            if self._hosts[h].hi == hi and self._hosts[h].lo == lo:
                return self._hosts[h].val
            h = (h + 1) & m
        return NOVAL

    cdef int _host_grow(self) except -1:
        cdef size_t cap = self._h_cap * 2 if self._h_cap else 64
        cdef HostSlot *old = self._hosts
        cdef size_t old_cap = self._h_cap, i, h
        cdef HostSlot *new = <HostSlot *>calloc(cap, sizeof(HostSlot))
        if new == NULL:
            raise MemoryError("Fib6: cannot grow the host route table")
        for i in range(old_cap):
            if old[i].val != NOVAL:
                h = _host_hash(old[i].hi, old[i].lo, cap)
                while new[h].val != NOVAL:
                    h = (h + 1) & (cap - 1)
                new[h] = old[i]
        self._hosts = new
        self._h_cap = cap
        free(old)
        return 0

    cdef int _host_set(self, uint64_t hi, uint64_t lo, uint32_t nh) except -1:
        """Store a host route; 1 if it is new."""
        cdef size_t h
        if (self._h_count + 1) * 2 > self._h_cap:
            self._host_grow()
        h = _host_hash(hi, lo, self._h_cap)
        while self._hosts[h].val != NOVAL:
            if self._hosts[h].hi == hi and self._hosts[h].lo == lo:
                self._hosts[h].val = nh + 1
                return 0
            h = (h + 1) & (self._h_cap - 1)
        self._hosts[h].hi = hi
        self._hosts[h].lo = lo
        self._hosts[h].val = nh + 1
        self._h_count += 1
        self._h_buckets[_host_bucket(hi)] += 1
        self._count += 1
        return 1

    cdef int _host_delete(self, uint64_t hi, uint64_t lo) except -1:
        """Remove a host route; 1 if it was there."""
        cdef size_t m, i, j, home
        if self._h_count == 0:
            return 0
        m = self._h_cap - 1
        i = _host_hash(hi, lo, self._h_cap)
        while True:
            if self._hosts[i].val == NOVAL:
                return 0
            if self._hosts[i].hi == hi and self._hosts[i].lo == lo:
                break
            i = (i + 1) & m
        j = i
        while True:         # backward-shift deletion: no tombstones
            j = (j + 1) & m
            if self._hosts[j].val == NOVAL:
                break
            home = _host_hash(self._hosts[j].hi, self._hosts[j].lo, self._h_cap)
            if i <= j:
                if i < home <= j:
                    continue
            elif i < home or home <= j:
                continue
            self._hosts[i] = self._hosts[j]
            i = j
        self._hosts[i].val = NOVAL
        self._h_count -= 1
        self._h_buckets[_host_bucket(hi)] -= 1
        self._count -= 1
        return 1

    # ------------------------------------------------------------ building

    cdef void _slots(self, uint32_t t, int k, uint32_t base, uint32_t best,
                     uint32_t *leaf, uint32_t *child, uint32_t *cbest) noexcept nogil:
        """Fill the 2^k slots from base for trie node t (k levels above the slots'
        depth): leaf[v] the best next hop + 1 (0: none), child[v] the trie node
        below which longer routes remain (NONE: slot v is a leaf)."""
        cdef uint32_t v, n
        if t != NONE and self._t[t].val != NOVAL:
            best = self._t[t].val
        if k == 0:
            leaf[base] = best
            if t != NONE and (self._t[t].c0 != NONE or self._t[t].c1 != NONE):
                child[base] = t
                cbest[base] = best
            else:
                child[base] = NONE
            return
        if t == NONE:
            n = (<uint32_t>1) << k
            for v in range(base, base + n):
                leaf[v] = best
                child[v] = NONE
            return
        self._slots(self._t[t].c0, k - 1, base, best, leaf, child, cbest)
        self._slots(self._t[t].c1, k - 1, base + ((<uint32_t>1) << (k - 1)), best, leaf, child, cbest)

    cdef int _build(self, uint32_t rec, uint32_t t, int d, uint32_t best) except -1:
        """Build node rec (depth d) and everything below it from trie node t at
        depth d; best is the next hop + 1 of the routes of length <= d above."""
        cdef uint32_t leaf[64]
        cdef uint32_t child[64]
        cdef uint32_t cbest[64]
        cdef uint32_t v
        self._tnode[rec] = t
        self._tbest[rec] = best
        # children of t: levels d+1..d+6 (t's own value is already in best)
        self._slots(self._t[t].c0, STRIDE - 1, 0, best, leaf, child, cbest)
        self._slots(self._t[t].c1, STRIDE - 1, 32, best, leaf, child, cbest)
        return self._layout(rec, d, leaf, child, cbest, NULL, 0, 0)

    cdef int _build_group(self, uint32_t g, uint32_t t, int gd, uint32_t best) except -1:
        """Build the QUAD nodes from g (depth gd + QBITS) of the group below trie
        node t at depth gd (best: as in _build).  A quarter without a trie node
        gets an empty one, so that every node has its trie node (updates start
        their trie walks there)."""
        cdef uint32_t q, t1, tq, b1, bq, c
        for q in range(QUAD):
            c = self._t[t].c1 if q >> 1 else self._t[t].c0
            if c == NONE:
                c = self._new_tnode()
                if q >> 1:
                    self._t[t].c1 = c
                else:
                    self._t[t].c0 = c
            t1 = c
            b1 = self._t[t1].val if self._t[t1].val != NOVAL else best
            c = self._t[t1].c1 if q & 1 else self._t[t1].c0
            if c == NONE:
                c = self._new_tnode()
                if q & 1:
                    self._t[t1].c1 = c
                else:
                    self._t[t1].c0 = c
            tq = c
            bq = self._t[tq].val if self._t[tq].val != NOVAL else b1
            if self._t[tq].c0 == NONE and self._t[tq].c1 == NONE:
                # nothing longer in this quarter (3 of a lone /48's 4): one leaf run
                self._tnode[g + q] = tq
                self._tbest[g + q] = bq
                self._nodes[g + q].vector = 0
                self._nodes[g + q].leafvec = 1
                self._nodes[g + q].base0 = self._nodes[g + q].base1 = 0
                self._nodes[g + q].inl[0] = <uint16_t>((bq - 1) & 0xFFFF)
                self._nodes[g + q].inl[1] = self._nodes[g + q].inl[2] = 0xFFFF
                self._nodes[g + q].inl[3] = 0xFFFF
            else:
                self._build(g + q, tq, gd + QBITS, bq)
        return 0

    cdef int _layout(self, uint32_t rec, int d, uint32_t *leaf, uint32_t *child,
                     uint32_t *cbest, Node *old, uint32_t lo_v, uint32_t hi_v) except -1:
        """Write node rec from its 64 slots.  With old (rec's previous contents),
        children of slots outside [lo_v, hi_v) are kept from old, not rebuilt, and
        old's blocks go back to the free lists -- or, where the new node has the
        same children or as many leaves, are rewritten in place."""
        cdef uint64_t vector = 0, leafvec = 0, inner, m
        cdef uint32_t v, nc, nl, prev = 0xFFFFFFFF, base0 = 0, base1 = 0, k, src, old_nl = 0
        cdef bint same1 = False, same0 = False
        cdef uint16_t inl[INLINE]
        cdef uint16_t *dst
        cdef uint32_t rebuild[64]
        cdef uint32_t n_rebuild = 0
        # Branch-free (slot kinds are data: a branch per slot is mispredicted
        # often); prev, the last leaf's value, starts at no leaf value at all.
        for v in range(64):
            inner = child[v] != NONE
            vector |= inner << v
            leafvec |= ((inner ^ 1) & (leaf[v] != prev)) << v
            prev = prev if inner else leaf[v]
        nc = POPCNT(vector)
        nl = POPCNT(leafvec)
        if old != NULL:
            old_nl = POPCNT(old.leafvec)
            same1 = nc != 0 and vector == old.vector
            same0 = nl > INLINE and nl == old_nl
        if same1:
            base1 = old.base1
        elif nc:
            base1 = self._alloc_nodes(nc * QUAD)
        if same0:
            base0 = old.base0
        elif nl > INLINE:
            base0 = self._alloc_leaves(nl)
        inl[0] = inl[1] = inl[2] = inl[3] = 0xFFFF
        # a few leaves go inside the node (written with it, at the end: building
        # the children may move the node array), more into a block of `leaves`
        dst = &inl[0] if nl <= INLINE else self._leaves + base0
        m = leafvec
        k = 0
        while m:
            v = CTZ(m)
            dst[k] = <uint16_t>((leaf[v] - 1) & 0xFFFF)
            k += 1
            m &= m - 1
        m = vector
        k = 0
        while m:
            v = CTZ(m)
            m &= m - 1
            if old != NULL and (v < lo_v or v >= hi_v) and (old.vector >> v) & 1:
                if not same1:       # else already where it belongs
                    src = old.base1 + (POPCNT(old.vector & _mask(v)) - 1) * QUAD
                    memcpy(&self._nodes[base1 + k * QUAD], &self._nodes[src], QUAD * sizeof(Node))
                    memcpy(&self._tnode[base1 + k * QUAD], &self._tnode[src], QUAD * sizeof(uint32_t))
                    memcpy(&self._tbest[base1 + k * QUAD], &self._tbest[src], QUAD * sizeof(uint32_t))
            else:
                rebuild[n_rebuild] = v
                n_rebuild += 1
            k += 1
        # fresh subtrees, after the moves: building may grow (move) the node array
        for k in range(n_rebuild):
            v = rebuild[k]
            self._build_group(base1 + (POPCNT(vector & _mask(v)) - 1) * QUAD, child[v],
                              d + STRIDE, cbest[v])
        self._nodes[rec].vector = vector
        self._nodes[rec].leafvec = leafvec
        self._nodes[rec].base0 = base0
        self._nodes[rec].base1 = base1
        memcpy(&self._nodes[rec].inl[0], &inl[0], sizeof(inl))
        if old != NULL:
            if POPCNT(old.vector) and not same1:
                self._push_free(&self._free_nodes, POPCNT(old.vector) * QUAD, old.base1)
            if old_nl > INLINE and not same0:
                self._push_free(&self._free_leaves, old_nl, old.base0)
        return 0

    cdef int _set_first(self, uint32_t j, uint32_t t, uint32_t best) except -1:
        """Rebuild the first-level node of /S number j (its /SHORT has a block) from
        trie node t at depth S (NONE: none), freeing whatever was below it; best as
        in _build."""
        cdef uint32_t rec = self._block[j >> (S - SHORT)] - 1 + (j & (BLOCK - 1))
        self._free_subtree(rec)
        if t != NONE and (self._t[t].c0 != NONE or self._t[t].c1 != NONE):
            return self._build(rec, t, S, best)
        self._tnode[rec] = t            # NONE: updates below start at the root
        self._tbest[rec] = best
        self._nodes[rec].vector = 0
        self._nodes[rec].leafvec = 1
        self._nodes[rec].base0 = self._nodes[rec].base1 = 0
        self._nodes[rec].inl[0] = <uint16_t>((best - 1) & 0xFFFF)
        self._nodes[rec].inl[1] = self._nodes[rec].inl[2] = self._nodes[rec].inl[3] = 0xFFFF
        return 0

    cdef int _drop_block(self, uint32_t k) except -1:
        """Give back /SHORT number k's block and everything below it."""
        cdef uint32_t b = self._block[k], j
        if b == 0:
            return 0
        for j in range(BLOCK):
            self._free_subtree(b - 1 + j)
        self._push_free(&self._free_nodes, BLOCK, b - 1)
        self._block[k] = 0
        self._n_blocks -= 1
        return 0

    cdef int _fill(self, uint32_t t, int depth, uint32_t base, uint32_t best) except -1:
        """Rebuild the first-level nodes under trie node t at depth <= S (2^(S-depth)
        of them from /S number base) and, at depth SHORT and above, the _short
        entries and blocks; best as in _build, without t's own value yet."""
        cdef uint32_t j, n, k, k0
        if t != NONE and self._t[t].val != NOVAL:
            best = self._t[t].val
        if depth == S:
            return self._set_first(base, t, best)
        if depth <= SHORT and (t == NONE or (self._t[t].c0 == NONE and self._t[t].c1 == NONE)):
            # nothing longer than depth here: the /SHORTs answer from _short
            k0 = base >> (S - SHORT)
            for k in range(k0, k0 + ((<uint32_t>1) << (SHORT - depth))):
                self._short[k] = <uint16_t>((best - 1) & 0xFFFF)
                self._drop_block(k)
            return 0
        if depth == SHORT:
            k = base >> (S - SHORT)
            self._short[k] = <uint16_t>((best - 1) & 0xFFFF)
            if self._block[k] == 0:
                j = self._alloc_nodes(BLOCK)
                for n in range(BLOCK):      # nothing below them to free yet
                    self._nodes[j + n].vector = self._nodes[j + n].leafvec = 0
                self._block[k] = j + 1
                self._n_blocks += 1
        if t == NONE:
            n = (<uint32_t>1) << (S - depth)
            for j in range(base, base + n):
                self._set_first(j, NONE, best)
            return 0
        self._fill(self._t[t].c0, depth + 1, base, best)
        self._fill(self._t[t].c1, depth + 1, base + ((<uint32_t>1) << (S - depth - 1)), best)
        return 0

    cdef int _update(self, uint64_t hi, uint64_t lo, int plen) except -1:
        """Bring the data plane in line with the trie after a change to hi:lo/plen
        made by a walk from the root (_path holds its trie nodes)."""
        cdef uint32_t best, t, rec, t16
        cdef int d
        cdef uint32_t j = <uint32_t>(hi >> (64 - S))
        cdef uint32_t k = j >> (S - SHORT)
        if plen > SHORT:
            t16 = self._trie_at(hi, lo, SHORT, &best)
            if self._block[k] == 0 or t16 == NONE or (self._t[t16].c0 == NONE
                                                      and self._t[t16].c1 == NONE):
                # the /SHORT gains its block or loses it: redo it whole (it has
                # only this route below it, or nothing)
                self._trie_at(hi, lo, SHORT - 1, &best)
                return self._fill(t16, SHORT, k << (S - SHORT), best)
        if plen <= S:
            t = self._trie_at(hi, lo, plen, &best)
            # best includes t's own value; _fill adds it again, harmlessly, but
            # must start from the value above t
            if plen > 0:
                self._trie_at(hi, lo, plen - 1, &best)
            else:
                best = NOVAL
            return self._fill(t, plen, j & ~(((<uint32_t>1) << (S - plen)) - 1), best)
        rec = self._block[k] - 1 + (j & (BLOCK - 1))
        if self._nodes[rec].vector == 0:
            t = self._trie_at(hi, lo, S, &best)
            return self._set_first(j, t, best)
        rec = self._locate(hi, lo, plen, &d)
        t = self._trie_at(hi, lo, d, &best)
        return self._rebuild(hi, lo, plen, rec, d, t, best)

    cdef uint32_t _locate(self, uint64_t hi, uint64_t lo, int plen, int *depth) noexcept nogil:
        """The deepest poptrie node on the path of hi/plen at a depth d < plen (in
        *depth), or NOREC if plen <= S or the path's first-level node has no trie
        node (or its /SHORT no block)."""
        cdef uint32_t b, rec, v
        cdef int d = S
        if plen <= S:
            return NOREC
        b = self._block[hi >> (64 - SHORT)]
        if b == 0:
            return NOREC
        rec = b - 1 + <uint32_t>((hi >> (64 - S)) & (BLOCK - 1))
        if self._tnode[rec] == NONE:
            return NOREC
        while plen > d + STEP:
            v = _bits6(hi, lo, d)
            if not ((self._nodes[rec].vector >> v) & 1):
                break
            rec = (self._nodes[rec].base1 + (POPCNT(self._nodes[rec].vector & _mask(v)) - 1) * QUAD
                   + _bits2(hi, lo, d + STRIDE))
            d += STEP
        depth[0] = d
        return rec

    cdef int _rebuild(self, uint64_t hi, uint64_t lo, int plen, uint32_t rec, int d,
                      uint32_t t, uint32_t best) except -1:
        """Rebuild the slots of node rec (depth d, trie node t, best from above)
        that hi/plen covers, or, if plen is deeper than the node, the slot its path
        leaves the poptrie at."""
        cdef uint32_t v, span, lo_v, tt, n
        cdef int i, top
        cdef uint32_t leaf[64]
        cdef uint32_t child[64]
        cdef uint32_t cbest[64]
        cdef Node old
        cdef const uint16_t *src
        v = _bits6(hi, lo, d)
        if plen <= d + STRIDE:
            span = (<uint32_t>1) << (d + STRIDE - plen)
            lo_v = v & ~(span - 1)
        else:
            lo_v = v
            span = 1
        # Slots outside [lo_v, lo_v + span) stay as they are (children kept,
        # leaves read back); those inside come from the trie below the route's
        # node, found on _path (left by the trie walk): no other trie node is read.
        old = self._nodes[rec]
        src = _leaf_src(&old, self._leaves)
        for v in range(64):     # branch-free; a child slot's leaf value is not used
            child[v] = ROOT if (old.vector >> v) & 1 else NONE     # ROOT: "keep this child"
            n = POPCNT(old.leafvec & _mask(v))
            leaf[v] = (<uint32_t>src[n - (n != 0)] + 1) & 0xFFFF
        top = plen if plen <= d + STRIDE else d + STRIDE
        tt = t
        for i in range(d + 1, top + 1):
            if i > d + 1 and self._t[tt].val != NOVAL:
                best = self._t[tt].val
            tt = self._path[i]
            if tt == NONE:
                break
        # tt: the trie node at depth top (NONE if none); best: routes above it
        self._slots(tt, d + STRIDE - top, lo_v, best, leaf, child, cbest)
        for v in range(lo_v, lo_v + span):
            if (old.vector >> v) & 1:
                for n in range(QUAD):
                    self._free_subtree(old.base1 + (POPCNT(old.vector & _mask(v)) - 1) * QUAD + n)
        return self._layout(rec, d, leaf, child, cbest, &old, lo_v, lo_v + span)

    # ------------------------------------------------------------ API

    cdef int _insert(self, uint64_t hi, uint64_t lo, int plen, uint32_t nh) except -1:
        """Add or replace hi:lo/plen -> nh (hi:lo masked to plen, plen and nh checked)."""
        if plen == 128:
            self._host_set(hi, lo, nh)
            return 0
        cdef uint32_t old
        cdef int d
        cdef uint32_t rec = self._locate(hi, lo, plen, &d)
        if rec == NOREC:
            self._trie_set(hi, lo, plen, nh, &old)
            if old != nh + 1:
                self._update(hi, lo, plen)
            return 0
        # from the poptrie node above the route: a few trie levels, not plen of them
        cdef uint32_t t = self._tnode[rec], best = self._tbest[rec]
        self._trie_set(hi, lo, plen, nh, &old, t, d)
        if old != nh + 1 and not (old != NOVAL and self._new_leaf_in_place(rec, d, hi, lo,
                                                                             plen, nh)):
            self._rebuild(hi, lo, plen, rec, d, t, best)
        return 0

    cdef bint _new_leaf_in_place(self, uint32_t rec, int d, uint64_t hi, uint64_t lo,
                                 int plen, uint32_t nh) noexcept nogil:
        """A new next hop for a route that fills exactly one slot of node rec, a
        leaf that is a run of its own before and after: written over the old one,
        nothing rebuilt (the common next-hop change of a /48, /40 or /32).  False
        if the change is not that simple."""
        cdef Node *n = &self._nodes[rec]
        cdef uint32_t v, r, nl
        cdef uint16_t *src
        if plen != d + STRIDE:
            return False
        v = _bits6(hi, lo, d)
        # a leaf, starting a run, and the next slot (if any) a leaf starting the next
        if (n.vector >> v) & 1 or not (n.leafvec >> v) & 1:
            return False
        if v < 63 and not (n.leafvec >> (v + 1)) & 1:
            return False
        nl = POPCNT(n.leafvec)
        r = POPCNT(n.leafvec & _mask(v)) - 1
        src = &n.inl[0] if nl <= INLINE else self._leaves + n.base0
        # the runs before and after stay runs of their own
        if (r > 0 and src[r - 1] == nh) or (r + 1 < nl and src[r + 1] == nh):
            return False
        src[r] = <uint16_t>nh
        return True

    cdef int _delete(self, uint64_t hi, uint64_t lo, int plen) except -1:
        """Remove hi:lo/plen (masked, checked); 1 if there was such a route."""
        if plen == 128:
            return self._host_delete(hi, lo) == 1
        cdef int d
        cdef uint32_t rec = self._locate(hi, lo, plen, &d)
        if rec == NOREC:
            if not self._trie_delete(hi, lo, plen):
                return 0
            self._update(hi, lo, plen)
            return 1
        cdef uint32_t t = self._tnode[rec], best = self._tbest[rec]
        if not self._trie_delete(hi, lo, plen, t, d):
            return 0
        self._rebuild(hi, lo, plen, rec, d, t, best)
        return 1

    cdef inline void _prefetch_first(self, const uint8_t *row) noexcept nogil:
        """Prefetch what an update of the route at row reads first: its first-level
        node and the trie node and best beside it (the /16's block entry: in cache)."""
        cdef uint64_t hi = load_be64(row)
        cdef uint32_t b = self._block[hi >> (64 - SHORT)]
        cdef uint32_t rec
        if b:
            rec = b - 1 + <uint32_t>((hi >> (64 - S)) & (BLOCK - 1))
            PREFETCH(&self._nodes[rec])
            PREFETCH(&self._tnode[rec])
            PREFETCH(&self._tbest[rec])

    def insert(self, prefix, int plen, long nh):
        """Add or replace the route prefix/plen -> nh (host bits of prefix ignored)."""
        _check_plen(plen)
        _check_nh(nh)
        cdef uint64_t hi, lo
        _halves(prefix, &hi, &lo, "prefix")
        _mask128(&hi, &lo, plen)
        self._insert(hi, lo, plen, <uint32_t>nh)

    def delete(self, prefix, int plen):
        """Remove the route for prefix/plen; True if there was one."""
        _check_plen(plen)
        cdef uint64_t hi, lo
        _halves(prefix, &hi, &lo, "prefix")
        _mask128(&hi, &lo, plen)
        return self._delete(hi, lo, plen) == 1

    def insert_many(self, prefixes, plens, nhs):
        """insert(prefixes[i], plens[i], nhs[i]) for every i, in order, in one call:
        prefixes a (n, 16) uint8 array of network-order addresses (as for load()).
        The arguments are all checked before any route goes in."""
        cdef cnp.ndarray a, pla, nha
        a, pla, nha = _update_rows(prefixes, plens, nhs)
        cdef const uint8_t *rows = <const uint8_t *>cnp.PyArray_DATA(a)
        cdef const int *pp = <const int *>cnp.PyArray_DATA(pla)
        cdef const uint32_t *pn = <const uint32_t *>cnp.PyArray_DATA(nha)
        cdef size_t i, n = <size_t>cnp.PyArray_DIM(a, 0)
        cdef uint64_t hi, lo
        for i in range(n):
            if i + 1 < n:       # its first reads overlap this update's work
                self._prefetch_first(rows + (i + 1) * 16)
            hi = load_be64(rows + i * 16)
            lo = load_be64(rows + i * 16 + 8)
            _mask128(&hi, &lo, pp[i])
            self._insert(hi, lo, pp[i], pn[i])

    def delete_many(self, prefixes, plens):
        """delete(prefixes[i], plens[i]) for every i, in order, in one call (arrays
        as for insert_many); the number of routes that were there."""
        cdef cnp.ndarray a, pla
        a, pla, _ = _update_rows(prefixes, plens, None)
        cdef const uint8_t *rows = <const uint8_t *>cnp.PyArray_DATA(a)
        cdef const int *pp = <const int *>cnp.PyArray_DATA(pla)
        cdef size_t i, n = <size_t>cnp.PyArray_DIM(a, 0), found = 0
        cdef uint64_t hi, lo
        for i in range(n):
            if i + 1 < n:
                self._prefetch_first(rows + (i + 1) * 16)
            hi = load_be64(rows + i * 16)
            lo = load_be64(rows + i * 16 + 8)
            _mask128(&hi, &lo, pp[i])
            found += self._delete(hi, lo, pp[i])
        return found

    def get(self, prefix, int plen):
        """The next hop of exactly prefix/plen, or None."""
        _check_plen(plen)
        cdef uint64_t hi, lo
        _halves(prefix, &hi, &lo, "prefix")
        _mask128(&hi, &lo, plen)
        cdef uint32_t v = self._host_get(hi, lo) if plen == 128 else self._trie_get(hi, lo, plen)
        return None if v == NOVAL else <int>(v - 1)

    cdef inline uint16_t _lookup1(self, uint64_t hi, uint64_t lo) noexcept nogil:
        cdef uint32_t host = self._host_get(hi, lo)
        if host != NOVAL:
            return <uint16_t>(host - 1)
        cdef uint32_t b = self._block[hi >> (64 - SHORT)]
        cdef const Node *n
        cdef uint64_t bit
        cdef uint32_t v
        cdef int d = S
        if b == 0:
            return self._short[hi >> (64 - SHORT)]
        n = &self._nodes[b - 1 + ((hi >> (64 - S)) & (BLOCK - 1))]
        while True:
            v = _bits6(hi, lo, d)
            bit = (<uint64_t>1) << v
            if n.vector & bit:
                n = &self._nodes[n.base1 + (POPCNT(n.vector & _mask(v)) - 1) * QUAD
                                 + _bits2(hi, lo, d + STRIDE)]
                d += STEP
            else:
                return _leaf_src(n, self._leaves)[POPCNT(n.leafvec & _mask(v)) - 1]

    def lookup(self, addr):
        """The next hop for one address (int or 16 bytes), NO_ROUTE if none."""
        cdef uint64_t hi, lo
        _halves(addr, &hi, &lo, "address")
        return self._lookup1(hi, lo)

    cdef void _lookup_rows(self, const uint8_t *rows, const uint32_t *idx, size_t n,
                           uint16_t *out) noexcept nogil:
        """out[i] = lookup(rows[idx[i]] or rows[i]).  The batch walks the trie level
        by level, all of its lookups at once: each node (and finally each leaf block)
        is prefetched a whole pass before it is read, so that the cache misses of
        up to LANES lookups overlap instead of queueing one behind another."""
        cdef uint64_t hi[LANES]
        cdef uint64_t lo[LANES]
        cdef uint64_t win[LANES]        # bits 26..89, left-aligned: levels 26..80
        cdef const uint64_t *src
        cdef int shift, lsh
        cdef uint32_t cur[LANES]
        cdef uint32_t active[LANES]
        cdef const uint16_t *leaf_at[LANES]
        cdef uint32_t done[LANES]
        cdef uint32_t slot[LANES]
        cdef size_t i, k, m, j, n_active, n_done, n_next
        cdef uint32_t e, v, x, inner, child
        cdef int d
        cdef uint64_t mask
        cdef const Node *node
        cdef const Node *nodes = self._nodes
        cdef const uint16_t *leaves = self._leaves
        cdef const uint32_t *block = self._block
        cdef const uint16_t *short = self._short
        cdef const uint8_t *p
        cdef bint has_hosts = self._h_count != 0
        cdef const uint32_t *h_buckets = self._h_buckets
        i = 0
        while i < n:
            m = n - i if n - i < LANES else LANES
            for k in range(m):
                j = idx[i + k] if idx != NULL else i + k
                p = rows + j * 16
                hi[k] = load_be64(p)
                lo[k] = load_be64(p + 8)
                win[k] = (hi[k] << S) | (lo[k] >> (64 - S))
            n_active = 0
            n_done = 0
            for k in range(m):
                if has_hosts and h_buckets[_host_bucket(hi[k])]:
                    e = self._host_get(hi[k], lo[k])
                    if e != NOVAL:
                        out[i + k] = <uint16_t>(e - 1)
                        continue
                # the /16's block (256 KiB, of which a table uses a few lines: in
                # cache) and in it the /26's node, the first read that misses
                e = block[hi[k] >> (64 - SHORT)]
                if e:
                    cur[k] = e - 1 + <uint32_t>((hi[k] >> (64 - S)) & (BLOCK - 1))
                    PREFETCH(&nodes[cur[k]])
                    active[n_active] = <uint32_t>k
                    n_active += 1
                else:
                    out[i + k] = short[hi[k] >> (64 - SHORT)]
            d = S
            while n_active:
                # Branch-free: whether a lookup goes on is data, not control flow
                # (a random 50/50 branch per node would be mispredicted half the time).
                n_next = 0
                # the level's 8 bits (6 for the node's slot, 2 for the node of the
                # child group): one shift of one word, chosen per level, not per
                # address (levels 26..82 from the window, 90..122 from lo; the
                # last level has no children, its 2 extra bits are zeros)
                lsh = 0
                if d + STEP <= 64 + S:
                    src = win
                    shift = 64 + S - STEP - d
                elif d + STEP <= 128:
                    src = lo
                    shift = 128 - STEP - d
                else:
                    src = lo
                    lsh = d + STEP - 128
                    shift = 0
                for j in range(n_active):
                    k = active[j]
                    node = &nodes[cur[k]]
                    x = <uint32_t>(((src[k] << lsh) >> shift) & 255)
                    v = x >> QBITS
                    mask = _mask(v)
                    inner = <uint32_t>((node.vector >> v) & 1)
                    child = node.base1 + (POPCNT(node.vector & mask) - 1) * QUAD + (x & (QUAD - 1))
                    slot[k] = v     # the leaf is found after the walk, for the lookups it ends
                    cur[k] = child if inner else cur[k]     # no wild prefetch at a leaf
                    PREFETCH(&nodes[cur[k]])
                    active[n_next] = <uint32_t>k
                    n_next += inner
                    done[n_done] = <uint32_t>k
                    n_done += 1 - inner
                n_active = n_next
                d += STEP
            for j in range(n_done):
                # a few leaves sit in the node itself (in cache: no further read)
                k = done[j]
                node = &nodes[cur[k]]
                leaf_at[k] = _leaf_src(node, leaves) + POPCNT(node.leafvec & _mask(slot[k])) - 1
                PREFETCH(leaf_at[k])
            for j in range(n_done):
                k = done[j]
                out[i + k] = leaf_at[k][0]
            i += m

    def lookup_batch(self, addrs, out=None):
        """Look up every row of a (n, 16) uint8 array; returns (or fills) a uint16 array."""
        if not _rows16(addrs):
            raise _rows_error("addrs", addrs)
        cdef cnp.ndarray a = <cnp.ndarray>addrs
        cdef size_t n = <size_t>cnp.PyArray_DIM(a, 0)
        if out is None:
            out = np.empty(n, dtype=np.uint16)
        elif not _vec(out, cnp.NPY_UINT16, True):
            raise TypeError("out must be a writeable 1-D C-contiguous uint16 array")
        cdef cnp.ndarray o = <cnp.ndarray>out
        cdef size_t n_out = <size_t>cnp.PyArray_DIM(o, 0)
        if n_out < n:
            raise ValueError(f"out has {n_out} entries for {n} addresses")
        # the GIL stays held: a batch takes microseconds, less than handing it over
        self._lookup_rows(<const uint8_t *>cnp.PyArray_DATA(a), NULL, n,
                          <uint16_t *>cnp.PyArray_DATA(o))
        return out if n_out == n else out[:n]

    def lookup_indexed(self, addrs, idx, out):
        """out[i] = lookup(addrs[idx[i]]) for i < len(idx): a pool's dst_ip6 column
        through a batch."""
        if not _rows16(addrs):
            raise _rows_error("addrs", addrs)
        if not _vec(idx, cnp.NPY_UINT32, False):
            raise TypeError("idx must be a 1-D C-contiguous uint32 array of slot indices")
        if not _vec(out, cnp.NPY_UINT16, True):
            raise TypeError("out must be a writeable 1-D C-contiguous uint16 array")
        cdef cnp.ndarray a = <cnp.ndarray>addrs
        cdef cnp.ndarray ix = <cnp.ndarray>idx
        cdef cnp.ndarray o = <cnp.ndarray>out
        cdef size_t n = <size_t>cnp.PyArray_DIM(ix, 0)
        cdef size_t n_addr = <size_t>cnp.PyArray_DIM(a, 0)
        cdef size_t i
        cdef const uint32_t *pi = <const uint32_t *>cnp.PyArray_DATA(ix)
        if <size_t>cnp.PyArray_DIM(o, 0) < n:
            raise ValueError(f"out has {cnp.PyArray_DIM(o, 0)} entries for {n} indices")
        for i in range(n):
            if pi[i] >= n_addr:
                raise IndexError(f"idx[{i}] = {pi[i]} is past the end of addrs ({n_addr} entries)")
        self._lookup_rows(<const uint8_t *>cnp.PyArray_DATA(a), pi, n,
                          <uint16_t *>cnp.PyArray_DATA(o))

    def load(self, prefixes, plens, nhs):
        """Replace the whole table with these routes (later duplicates win): the
        fast path for a big table, built bottom-up in one pass."""
        prefixes, pl, nh = _update_rows(prefixes, plens, nhs)
        # In address order (stable: later duplicates still win), consecutive routes
        # share most of their trie path, which is then in cache, and the trie's
        # nodes are laid out in the order the build walks them.
        order = _address_order(prefixes, pl)
        cdef cnp.ndarray a = np.ascontiguousarray(prefixes[order])
        cdef cnp.ndarray pla = np.ascontiguousarray(pl[order], dtype=np.int32)
        cdef cnp.ndarray nha = np.ascontiguousarray(nh[order], dtype=np.uint32)
        cdef const uint8_t *rows = <const uint8_t *>cnp.PyArray_DATA(a)
        cdef const int *pp = <const int *>cnp.PyArray_DATA(pla)
        cdef const uint32_t *pn = <const uint32_t *>cnp.PyArray_DATA(nha)
        cdef size_t i, n = len(pl)
        cdef uint64_t hi, lo
        cdef uint32_t old
        self._reset()
        for i in range(n):
            hi = load_be64(rows + i * 16)
            lo = load_be64(rows + i * 16 + 8)
            _mask128(&hi, &lo, pp[i])
            if pp[i] == 128:
                self._host_set(hi, lo, pn[i])
            else:
                self._trie_set(hi, lo, pp[i], pn[i], &old)
        self._fill(ROOT, 0, 0, NOVAL)

    def clear(self):
        self._reset()

    def __len__(self):
        return self._count

    def routes(self):
        """Iterator of (prefix int, plen, nh), sorted by prefix then length."""
        out = []
        stack = [(ROOT, 0, 0)]
        cdef uint32_t t
        while stack:
            t, depth, prefix = stack.pop()
            if self._t[t].val != NOVAL:
                out.append((prefix << (128 - depth), depth, self._t[t].val - 1))
            if self._t[t].c1 != NONE:
                stack.append((self._t[t].c1, depth + 1, (prefix << 1) | 1))
            if self._t[t].c0 != NONE:
                stack.append((self._t[t].c0, depth + 1, prefix << 1))
        cdef size_t h
        for h in range(self._h_cap):
            if self._hosts[h].val != NOVAL:
                out.append(((<object>self._hosts[h].hi << 64) | self._hosts[h].lo, 128,
                            self._hosts[h].val - 1))
        return iter(sorted(out))

    def _raw_tables(self):
        """(block, short, nodes, leaves) addresses: for bench/bench_fib6.py's C ceiling only.

        The node and leaf arrays move when they grow, so the addresses hold until
        the next change.
        """
        return (<size_t>self._block, <size_t>self._short, <size_t>self._nodes,
                <size_t>self._leaves)

    def memory(self):
        """Bytes of the data plane (nodes, leaves; "direct": the first-level blocks,
        counted in "nodes" too), the route trie and the host routes."""
        return {"nodes": self._n_nodes_top * sizeof(Node),
                "leaves": self._n_leaves_top * sizeof(uint16_t),
                "direct": self._n_blocks * BLOCK * sizeof(Node),     # within "nodes"
                "trie": self._t_top * 12,
                "hosts": self._h_cap * sizeof(HostSlot)}
