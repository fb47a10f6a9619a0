# cython: language_level=3
"""Compiled AF_PACKET ring I/O: the RX ring walk and the TX ring fill.

`RxRing` maps a TPACKET_V3 receive ring (blocks of variable-length frames
that the kernel hands over whole) and copies frames into pool slots: one
memcpy per frame, straight to the slot's headroom, with length, ts_ns and
ptype set from the frame's header.  `RxFrameRing` does the same over a
TPACKET_V2 receive ring, whose fixed-size frames the kernel hands over one
at a time: no block timeout, so no latency added at low rates.  `TxRing` maps a TPACKET_V2 transmit
ring (fixed-size frames), copies a batch into free frames and asks the
kernel to send them all with one send().

Socket creation and options (ring sizes, PACKET_VERSION, bind) are plain
Python in elements/io/packetsocket.py; these classes only take the ready
file descriptor, map its ring and walk it.  cext/afpacket_reference.py has
their twins, RxSocket and TxSocket, with the same methods and counters over
a plain packet socket, one recvmsg/send per packet; the tests feed both the
same frames and demand the same bytes out.

Ownership of a ring slot passes through its status word: the kernel owns a
block (RX) or frame (TX) until the status says otherwise, so the status is
read with acquire and written with release ordering, and frame bytes are
touched only between the two.
"""
cimport numpy as cnp
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy
from libc.errno cimport EINVAL, errno

cnp.import_array()

cdef extern from "<sys/mman.h>" nogil:
    void* mmap(void* addr, size_t length, int prot, int flags, int fd, long offset)
    int munmap(void* addr, size_t length)
    int PROT_READ
    int PROT_WRITE
    int MAP_SHARED
    int MAP_POPULATE
    void* MAP_FAILED

cdef extern from "<sys/socket.h>" nogil:
    ssize_t send(int fd, const void* buf, size_t n, int flags)
    int MSG_DONTWAIT

cdef extern from "<linux/if_packet.h>" nogil:
    cdef struct tpacket_hdr_v1:
        uint32_t block_status
        uint32_t num_pkts
        uint32_t offset_to_first_pkt
    cdef union tpacket_bd_header_u:
        tpacket_hdr_v1 bh1
    cdef struct tpacket_block_desc:
        uint32_t version
        uint32_t offset_to_priv
        tpacket_bd_header_u hdr
    cdef struct tpacket3_hdr:
        uint32_t tp_next_offset
        uint32_t tp_sec
        uint32_t tp_nsec
        uint32_t tp_snaplen
        uint32_t tp_len
        uint32_t tp_status
        uint16_t tp_mac
        uint16_t tp_net
    cdef struct tpacket2_hdr:
        uint32_t tp_status
        uint32_t tp_len
        uint32_t tp_snaplen
        uint16_t tp_mac
        uint16_t tp_net
        uint32_t tp_sec
        uint32_t tp_nsec
    cdef struct sockaddr_ll:
        uint8_t sll_pkttype
    size_t TPACKET_ALIGN(size_t)
    enum:
        TP_STATUS_KERNEL
        TP_STATUS_USER
        TP_STATUS_AVAILABLE
        TP_STATUS_SEND_REQUEST
        TP_STATUS_WRONG_FORMAT
        PACKET_OUTGOING

cdef extern from "<linux/virtio_net.h>" nogil:
    cdef struct virtio_net_hdr:
        uint8_t flags
        uint8_t gso_type
        uint16_t hdr_len
        uint16_t gso_size
        uint16_t csum_start
        uint16_t csum_offset
    enum:
        VIRTIO_NET_HDR_F_NEEDS_CSUM

cdef extern from *:
    """
    static inline uint32_t vf_load_acquire(const volatile uint32_t *p) {
        return __atomic_load_n(p, __ATOMIC_ACQUIRE);
    }
    static inline void vf_store_release(volatile uint32_t *p, uint32_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELEASE);
    }
    """
    uint32_t vf_load_acquire(uint32_t* p) nogil
    void vf_store_release(uint32_t* p, uint32_t v) nogil


include "byteorder.pxi"
include "checksum.pxi"
include "vnethdr.pxi"
include "poolcolumns.pxi"


# Where frame data starts in a TX frame (no PACKET_TX_HAS_OFF): right after
# the aligned tpacket2_hdr, as packet(7) and the kernel's tpacket_fill_skb say.
cdef size_t _TX_DATA_OFFSET = TPACKET_ALIGN(sizeof(tpacket2_hdr))
TX_DATA_OFFSET = _TX_DATA_OFFSET
# Where the sockaddr_ll sits behind each tpacket3_hdr in an RX block.
cdef size_t _RX_SLL_OFFSET = TPACKET_ALIGN(sizeof(tpacket3_hdr))
# ... and behind each tpacket2_hdr in an RX frame.
cdef size_t _RX2_SLL_OFFSET = TPACKET_ALIGN(sizeof(tpacket2_hdr))


cdef inline uint32_t _max_slot(const uint32_t* s, Py_ssize_t n) noexcept nogil:
    """The largest of n slot indices (the bounds check the memoryviews made)."""
    cdef uint32_t m = 0
    cdef Py_ssize_t i
    for i in range(n):
        if s[i] > m:
            m = s[i]
    return m


cdef uint8_t* _map_ring(int fd, size_t size) except NULL:
    cdef void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0)
    if p == MAP_FAILED:
        raise OSError(errno, f"mmap of a {size}-byte packet ring failed")
    return <uint8_t*>p


cdef struct _Slots:
    # Where frames go: the pool's columns as raw pointers (NULL data: discard).
    uint8_t* data
    Py_ssize_t stride
    uint16_t* off
    uint16_t* length
    uint64_t* ts
    uint8_t* ptype
    uint16_t* cstart
    uint8_t* coff
    uint8_t* gtype
    uint16_t* gsize
    uint16_t* nh
    const uint32_t* slots
    uint16_t headroom
    uint32_t room


cdef class _RxBase:
    """What both receive rings share: the mapping, the counters, receive and
    discard, and what happens to one frame once its ring has handed it over.
    A ring gives `_walk`, which finds the ready frames and gives them back."""
    cdef uint8_t* _map
    cdef size_t _map_len
    cdef public bint ignore_outgoing
    cdef readonly bint vnet_hdr
    cdef public uint32_t max_len
    cdef public uint64_t outgoing
    cdef public uint64_t too_long
    cdef public uint64_t checksummed
    cdef public bint keep_offload

    def __dealloc__(self):
        if self._map != NULL:
            munmap(self._map, self._map_len)

    def close(self):
        """Unmap the ring; later calls receive nothing."""
        if self._map != NULL:
            munmap(self._map, self._map_len)
            self._map = NULL

    cdef Py_ssize_t _walk(self, _Slots* to, Py_ssize_t max_n) noexcept nogil:
        return 0

    cdef inline bint _take(self, _Slots* to, Py_ssize_t n, uint8_t* frame, uint32_t snap,
                           uint32_t wire_len, uint8_t pkttype, uint64_t ts) noexcept nogil:
        """One handed-over frame: skipped and counted, or (when there are slots)
        copied to slot to.slots[n] with its annotations.  True when it counts."""
        cdef uint32_t slot
        cdef uint8_t* dst
        cdef virtio_net_hdr* vh
        if pkttype == PACKET_OUTGOING and self.ignore_outgoing:
            self.outgoing += 1
            return False
        if snap < wire_len or snap > to.room:
            self.too_long += 1
            return False
        if to.data == NULL:
            return True
        slot = to.slots[n]
        dst = to.data + <size_t>slot * to.stride + to.headroom
        memcpy(dst, frame, snap)
        if self.vnet_hdr and self.keep_offload:
            _take_vnet(frame - VNET_HDR_LEN, to.headroom, 14, dst, snap, &to.cstart[slot],
                       &to.coff[slot], &to.gtype[slot], &to.gsize[slot], &to.nh[slot])
        elif self.vnet_hdr:
            vh = <virtio_net_hdr*>(frame - sizeof(virtio_net_hdr))
            if vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM:
                if <uint32_t>vh.csum_start + vh.csum_offset + 2 <= snap:
                    _finish_partial(dst, vh.csum_start, vh.csum_offset, snap)
                self.checksummed += 1
        to.off[slot] = to.headroom
        to.length[slot] = <uint16_t>snap
        to.ts[slot] = ts
        to.ptype[slot] = pkttype
        return True

    def receive(self, pool, slots):
        """Copy the next frames into pool slots `slots` (uint32); return how many."""
        # The columns' data pointers, not typed memoryviews: ten buffer-protocol
        # acquisitions per call cost more than the copy of an idle packet, and
        # most on the first packet after an idle spell (cext/poolcolumns.pxi).
        cdef _Slots to
        cdef Py_ssize_t n, max_n
        cdef uint32_t* s = <uint32_t*>_column(slots, cnp.NPY_UINT32, False, "slots")
        max_n = cnp.PyArray_SIZE(<cnp.ndarray>slots)
        if max_n == 0:
            return 0
        if _n_rows(pool) <= _max_slot(s, max_n):
            raise IndexError("a slot index is beyond the pool")
        data = pool.data
        to.data = <uint8_t*>_column(data, cnp.NPY_UINT8, True, "pool.data")
        to.stride = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
        to.off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, True, "pool.off")
        to.length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, True, "pool.length")
        to.ts = <uint64_t*>_column(pool.ts_ns, cnp.NPY_UINT64, True, "pool.ts_ns")
        to.ptype = <uint8_t*>_column(pool.ptype, cnp.NPY_UINT8, True, "pool.ptype")
        to.cstart = <uint16_t*>_column(pool.csum_start, cnp.NPY_UINT16, True, "pool.csum_start")
        to.coff = <uint8_t*>_column(pool.csum_offset, cnp.NPY_UINT8, True, "pool.csum_offset")
        to.gtype = <uint8_t*>_column(pool.gso_type, cnp.NPY_UINT8, True, "pool.gso_type")
        to.gsize = <uint16_t*>_column(pool.gso_size, cnp.NPY_UINT16, True, "pool.gso_size")
        to.nh = <uint16_t*>_column(pool.nh, cnp.NPY_UINT16, True, "pool.nh")
        to.slots = s
        to.headroom = pool.headroom
        to.room = min(<uint32_t>(pool.slot_size - pool.headroom), self.max_len)
        with nogil:
            n = self._walk(&to, max_n)
        return n

    def discard(self, Py_ssize_t max_n):
        """Drop up to max_n ready frames (when the pool has no free slot); return how many."""
        cdef _Slots to
        cdef Py_ssize_t n
        to.data = NULL
        to.room = 0xFFFFFFFF
        with nogil:
            n = self._walk(&to, max_n)
        return n


cdef class RxRing(_RxBase):
    """The receive side of a TPACKET_V3 ring already set up on socket `fd`.

    RxRing(fd, block_size, block_nr, ignore_outgoing=True, vnet_hdr=False)

    receive(pool, slots) fills slots[0:n] with the next n frames (n <=
    len(slots)) and returns n; discard(max_n) drops up to max_n frames;
    ready(max_n) says how many frames wait (at most max_n, at least 1 when
    any does), so a reader of an idle device takes as many pool slots as it
    needs; the reference's ready() says 0 or max_n.  Both
    resume where the last call stopped, inside a block if need be, and give
    each block back to the kernel as soon as its last frame is read.
    Frames the kernel sent out of the device (PACKET_OUTGOING) are skipped
    and counted in `outgoing` when ignore_outgoing is true; frames longer
    than `max_len` or than a slot's room, or truncated by the ring, are
    skipped and counted in `too_long`.

    With vnet_hdr (the socket has PACKET_VNET_HDR, so each frame comes with
    a virtio_net_hdr), a frame whose TCP/UDP checksum the sender left to the
    device -- any local traffic on veth -- gets its checksum filled in while
    it is copied, so it can go out of another device intact; `checksummed`
    counts them.  With keep_offload as well, the header's state goes into
    the pool's offload annotations instead (FromDevice OFFLOAD: super-frames
    stay whole, the sink finishes or passes them on).
    """
    cdef uint32_t _block_size
    cdef uint32_t _block_nr
    cdef uint32_t _block          # the block being read or waited for
    cdef bint _open               # _block is ours and partly read
    cdef uint32_t _left           # frames not yet read in the open block
    cdef uint32_t _next           # offset of the next frame in the open block

    def __cinit__(self, int fd, uint32_t block_size, uint32_t block_nr, bint ignore_outgoing=True,
                  bint vnet_hdr=False):
        if block_size == 0 or block_nr == 0:
            raise ValueError("an RX ring needs at least one block of nonzero size")
        self._map_len = <size_t>block_size * block_nr
        self._map = _map_ring(fd, self._map_len)
        self._block_size = block_size
        self._block_nr = block_nr
        self.ignore_outgoing = ignore_outgoing
        self.vnet_hdr = vnet_hdr
        self.max_len = 0xFFFF

    @property
    def block_nr(self):
        return self._block_nr

    @property
    def block_size(self):
        return self._block_size

    def pending_blocks(self):
        """Blocks now handed to user space (ready to read), for tests and stats."""
        cdef uint32_t i, n = 0
        cdef tpacket_block_desc* bd
        if self._map == NULL:
            return 0
        for i in range(self._block_nr):
            bd = <tpacket_block_desc*>(self._map + <size_t>i * self._block_size)
            if vf_load_acquire(&bd.hdr.bh1.block_status) & TP_STATUS_USER:
                n += 1
        return n

    def ready(self, Py_ssize_t max_n):
        """Frames waiting, at most max_n, and at least 1 when any is: those left
        in the block being read, or in the next block once the kernel hands it over."""
        cdef tpacket_block_desc* bd
        if self._map == NULL or max_n <= 0:
            return 0
        if self._open and self._left:
            return min(<Py_ssize_t>self._left, max_n)
        bd = <tpacket_block_desc*>(self._map + <size_t>self._block * self._block_size)
        if vf_load_acquire(&bd.hdr.bh1.block_status) & TP_STATUS_USER:
            return min(<Py_ssize_t>max(bd.hdr.bh1.num_pkts, 1), max_n)
        return 0

    cdef Py_ssize_t _walk(self, _Slots* to, Py_ssize_t max_n) noexcept nogil:
        """Take up to max_n frames, block after block."""
        cdef Py_ssize_t n = 0
        cdef uint8_t* base
        cdef tpacket_block_desc* bd
        cdef tpacket3_hdr* hdr
        cdef uint8_t pkttype
        if self._map == NULL:
            return 0
        while n < max_n:
            base = self._map + <size_t>self._block * self._block_size
            bd = <tpacket_block_desc*>base
            if not self._open:
                if not (vf_load_acquire(&bd.hdr.bh1.block_status) & TP_STATUS_USER):
                    break   # the kernel still fills this block: nothing more is ready
                self._open = True
                self._left = bd.hdr.bh1.num_pkts
                self._next = bd.hdr.bh1.offset_to_first_pkt
            if self._left:
                hdr = <tpacket3_hdr*>(base + self._next)
                self._next += hdr.tp_next_offset
                self._left -= 1
                pkttype = (<sockaddr_ll*>(<uint8_t*>hdr + _RX_SLL_OFFSET)).sll_pkttype
                if self._take(to, n, <uint8_t*>hdr + hdr.tp_mac, hdr.tp_snaplen, hdr.tp_len,
                              pkttype, <uint64_t>hdr.tp_sec * 1000000000ULL + hdr.tp_nsec):
                    n += 1
            if self._left == 0:
                # Every frame of the block is read: give it back to the kernel.
                vf_store_release(&bd.hdr.bh1.block_status, TP_STATUS_KERNEL)
                self._open = False
                self._block += 1
                if self._block == self._block_nr:
                    self._block = 0
        return n


cdef class RxFrameRing(_RxBase):
    """The receive side of a TPACKET_V2 ring already set up on socket `fd`.

    RxFrameRing(fd, block_size, block_nr, frame_size, ignore_outgoing=True, vnet_hdr=False)

    The same methods and counters as RxRing; frames are fixed-size slots of
    the ring, each handed over (and given back) on its own.
    """
    cdef uint32_t _frame_size
    cdef uint32_t _per_block
    cdef uint32_t _block_size
    cdef uint32_t _frame_nr
    cdef uint32_t _frame         # the next frame to read

    def __cinit__(self, int fd, uint32_t block_size, uint32_t block_nr, uint32_t frame_size,
                  bint ignore_outgoing=True, bint vnet_hdr=False):
        if frame_size == 0 or block_size < frame_size or block_nr == 0:
            raise ValueError("an RX frame ring needs blocks of at least one nonzero frame")
        self._map_len = <size_t>block_size * block_nr
        self._map = _map_ring(fd, self._map_len)
        self._frame_size = frame_size
        self._block_size = block_size
        self._per_block = block_size // frame_size
        self._frame_nr = self._per_block * block_nr
        self.ignore_outgoing = ignore_outgoing
        self.vnet_hdr = vnet_hdr
        self.max_len = 0xFFFF

    @property
    def frame_nr(self):
        return self._frame_nr

    cdef inline tpacket2_hdr* _at(self, uint32_t i) noexcept nogil:
        return <tpacket2_hdr*>(self._map + <size_t>(i // self._per_block) * self._block_size
                               + <size_t>(i % self._per_block) * self._frame_size)

    def pending_blocks(self):
        """Frames now handed to user space (ready to read), for tests and stats."""
        cdef uint32_t i, n = 0
        if self._map == NULL:
            return 0
        for i in range(self._frame_nr):
            if vf_load_acquire(&self._at(i).tp_status) & TP_STATUS_USER:
                n += 1
        return n

    def ready(self, Py_ssize_t max_n):
        """Frames the kernel has handed over and that are not read yet, at most max_n."""
        cdef Py_ssize_t n = 0
        cdef uint32_t i
        if self._map == NULL:
            return 0
        i = self._frame
        while n < max_n and n < self._frame_nr \
                and vf_load_acquire(&self._at(i).tp_status) & TP_STATUS_USER:
            n += 1
            i += 1
            if i == self._frame_nr:
                i = 0
        return n

    cdef Py_ssize_t _walk(self, _Slots* to, Py_ssize_t max_n) noexcept nogil:
        """Take up to max_n frames, one ring frame after the other."""
        cdef Py_ssize_t n = 0
        cdef tpacket2_hdr* hdr
        cdef uint8_t pkttype
        if self._map == NULL:
            return 0
        while n < max_n:
            hdr = self._at(self._frame)
            if not (vf_load_acquire(&hdr.tp_status) & TP_STATUS_USER):
                break           # the kernel has not filled this frame yet
            pkttype = (<sockaddr_ll*>(<uint8_t*>hdr + _RX2_SLL_OFFSET)).sll_pkttype
            if self._take(to, n, <uint8_t*>hdr + hdr.tp_mac, hdr.tp_snaplen, hdr.tp_len,
                          pkttype, <uint64_t>hdr.tp_sec * 1000000000ULL + hdr.tp_nsec):
                n += 1
            vf_store_release(&hdr.tp_status, TP_STATUS_KERNEL)
            self._frame += 1
            if self._frame == self._frame_nr:
                self._frame = 0
        return n


cdef class TxRing:
    """The transmit side of a TPACKET_V2 ring already set up on socket `fd`.

    TxRing(fd, block_size, block_nr, frame_size, vnet_hdr=False)

    With vnet_hdr (the socket has PACKET_VNET_HDR) each frame starts with a
    virtio_net_hdr made from the packet's offload annotations, so a TCP
    super-frame leaves whole and the device (or the kernel) segments it; a
    packet whose annotations cannot be expressed is dropped and counted in
    `rejected`.

    send(pool, idx, start=0) copies packets idx[start:] into free frames, in
    order, until the ring is full, then flushes them with one send(); it
    returns (consumed, queued): how many of idx[start:] it took, and how many
    of those went into the ring (the rest were longer than a frame and are
    counted in `too_long`).  consumed < len(idx) - start means the ring is
    full: wait for the socket to be writable, then flush() and send again.
    `last_errno` is the errno of the last failed send() (0 after a good one).
    """
    cdef uint8_t* _map
    cdef size_t _map_len
    cdef uint32_t _block_size
    cdef uint32_t _frames_per_block
    cdef uint32_t _frame_size
    cdef uint32_t _frame_nr
    cdef uint32_t _head
    cdef int _fd
    cdef public uint64_t too_long
    cdef public uint64_t rejected
    cdef public int last_errno
    cdef readonly bint vnet_hdr

    def __cinit__(self, int fd, uint32_t block_size, uint32_t block_nr, uint32_t frame_size,
                  bint vnet_hdr=False):
        if frame_size <= _TX_DATA_OFFSET or block_size < frame_size or block_nr == 0:
            raise ValueError("a TX ring needs frames larger than their header and blocks "
                             "holding at least one frame")
        self._map_len = <size_t>block_size * block_nr
        self._map = _map_ring(fd, self._map_len)
        self._fd = fd
        self._block_size = block_size
        self._frame_size = frame_size
        self._frames_per_block = block_size // frame_size
        self._frame_nr = self._frames_per_block * block_nr
        self.vnet_hdr = vnet_hdr

    def __dealloc__(self):
        if self._map != NULL:
            munmap(self._map, self._map_len)

    def close(self):
        if self._map != NULL:
            munmap(self._map, self._map_len)
            self._map = NULL

    @property
    def frame_nr(self):
        return self._frame_nr

    @property
    def frame_room(self):
        """Most packet bytes one frame carries."""
        return self._frame_size - _TX_DATA_OFFSET - (VNET_HDR_LEN if self.vnet_hdr else 0)

    cdef inline tpacket2_hdr* _frame(self, uint32_t i) noexcept nogil:
        return <tpacket2_hdr*>(self._map + <size_t>(i // self._frames_per_block) * self._block_size
                               + <size_t>(i % self._frames_per_block) * self._frame_size)

    def free_frames(self):
        """Frames now available to fill (the kernel has sent what they held)."""
        cdef uint32_t i, n = 0
        if self._map == NULL:
            return 0
        for i in range(self._frame_nr):
            if vf_load_acquire(&self._frame(i).tp_status) == TP_STATUS_AVAILABLE:
                n += 1
        return n

    cdef int _flush(self) noexcept nogil:
        if send(self._fd, NULL, 0, MSG_DONTWAIT) < 0:
            self.last_errno = errno
        else:
            self.last_errno = 0
        return self.last_errno

    def flush(self):
        """Ask the kernel to send every filled frame; returns 0 or the errno."""
        cdef int err
        if self._map == NULL:
            return 0
        with nogil:
            err = self._flush()
        return err

    def send(self, pool, idx, Py_ssize_t start=0):
        """Fill frames from pool packets idx[start:] and flush; return (consumed, queued)."""
        # Data pointers, not typed memoryviews: see receive().
        cdef const uint32_t* ix = <uint32_t*>_column(idx, cnp.NPY_UINT32, False, "idx")
        cdef Py_ssize_t i = start, end = cnp.PyArray_SIZE(<cnp.ndarray>idx)
        if i < 0:
            raise ValueError("start must not be negative")
        if self._map == NULL or i >= end:
            return 0, 0
        if _n_rows(pool) <= _max_slot(ix + i, end - i):
            raise IndexError("a slot index is beyond the pool")
        data = pool.data
        cdef const uint8_t* base = <uint8_t*>_column(data, cnp.NPY_UINT8, False, "pool.data")
        cdef Py_ssize_t stride = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
        cdef const uint16_t* off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, False, "pool.off")
        cdef const uint16_t* length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, False,
                                                          "pool.length")
        cdef const uint16_t* cstart = <uint16_t*>_column(pool.csum_start, cnp.NPY_UINT16, False,
                                                          "pool.csum_start")
        cdef const uint8_t* coff = <uint8_t*>_column(pool.csum_offset, cnp.NPY_UINT8, False,
                                                      "pool.csum_offset")
        cdef const uint8_t* gtype = <uint8_t*>_column(pool.gso_type, cnp.NPY_UINT8, False,
                                                       "pool.gso_type")
        cdef const uint16_t* gsize = <uint16_t*>_column(pool.gso_size, cnp.NPY_UINT16, False,
                                                         "pool.gso_size")
        cdef uint32_t hlen = VNET_HDR_LEN if self.vnet_hdr else 0
        cdef uint32_t room = self._frame_size - _TX_DATA_OFFSET - hlen
        cdef uint32_t slot, status, plen
        cdef uint32_t queued = 0
        cdef tpacket2_hdr* fr
        cdef uint8_t* dst
        cdef const uint8_t* src
        with nogil:
            while i < end:
                fr = self._frame(self._head)
                status = vf_load_acquire(&fr.tp_status)
                if status == TP_STATUS_WRONG_FORMAT:
                    self.rejected += 1   # the kernel refused what this frame held; reuse it
                elif status != TP_STATUS_AVAILABLE:
                    break                # the kernel still owns it: the ring is full
                slot = ix[i]
                plen = length[slot]
                i += 1
                if plen > room:
                    self.too_long += 1
                    continue
                dst = <uint8_t*>fr + _TX_DATA_OFFSET
                src = base + <size_t>slot * stride + off[slot]
                if hlen:        # PACKET_VNET_HDR: the frame starts with its offload state
                    if _vnet_header(dst, src, plen, cstart[slot], off[slot], coff[slot],
                                    gtype[slot], gsize[slot]):
                        self.rejected += 1
                        continue
                memcpy(dst + hlen, src, plen)
                fr.tp_len = plen + hlen
                fr.tp_snaplen = plen + hlen
                vf_store_release(&fr.tp_status, TP_STATUS_SEND_REQUEST)
                self._head += 1
                if self._head == self._frame_nr:
                    self._head = 0
                queued += 1
            if queued:
                self._flush()
        return i - start, queued
