# cython: language_level=3
"""Burst I/O between a TAP/TUN file descriptor and a packet pool.

A TAP or TUN fd gives one frame per read() and takes one frame per write();
Linux has no readv/recvmmsg-style call that moves several frames of such a
device at once.  What we can save is everything around the syscall: these
loops run one Python call per burst, touch the pool's numpy columns through
raw pointers and release the GIL for the whole syscall loop, so a burst of
256 frames costs 256 read()s and nothing else per packet.

Conventions shared with the plain-Python twins in `tapio_reference.py`
(same names, same signatures, same results; the tests run both):

- The fd is non-blocking and keeps packet boundaries (TAP/TUN, a datagram
  socket, or a pipe for tests of back-pressure).  A read that returns 0
  bytes ends a burst.
- `read_burst` writes each frame at `headroom` (default the pool's) into a
  fresh slot, sets off/length and stamps ts_ns (CLOCK_REALTIME, one stamp per
  burst); the other annotations are cleared by the pool.  Frames longer than
  the room left in a slot (slot_size - headroom) are cut by the kernel.
- `write_burst` writes `data[slot, off:off + length]` of each slot in order
  and stops at the first error, so that the caller can keep what is left
  (EAGAIN) or drop the one packet that failed (anything else).
- The `_vnet` variants do the same on a device opened with IFF_VNET_HDR,
  where every frame comes and goes behind a 10-byte struct virtio_net_hdr
  (native byte order).  Its fields travel in the pool's offload annotations
  (packet.py): csum_start is absolute in the slot there, relative to the
  frame on the wire.  A frame read with offload state also gets nh set, at
  `l2_len` (or 4 more behind an 802.1Q tag), for the software fallback in
  gso.pyx.  A packet whose offload annotations cannot be expressed (the
  checksum outside the packet, GSO without a partial checksum, a TCP header
  past the end) is refused with EINVAL before the kernel sees it.  The
  header goes through the packet's headroom when there is room (one
  plain read or write per frame), else through a second iovec.
"""
from libc.errno cimport EAGAIN, EINTR, EINVAL, errno
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec
from posix.unistd cimport read, write
from libc.string cimport memcpy
from posix.uio cimport iovec, readv, writev

import os

import numpy as np
cimport numpy as cnp

cnp.import_array()

include "vnethdr.pxi"
include "poolcolumns.pxi"


def read_burst(int fd, pool, Py_ssize_t max_n, headroom=None):
    """Read up to max_n frames from fd into fresh pool slots; returns their indices.

    Reads until the fd would block or max_n frames came (fewer when the pool
    has fewer free slots), taking slots a few at a time (1, 4, 16 ...) and
    giving back those it did not fill.
    Returns a uint32 index vector (empty when nothing was waiting).  Raises
    OSError when the very first read fails with anything but EAGAIN; an
    error after some frames were read ends the burst quietly (the next call
    reports it).
    """
    return _read_frames(fd, pool, max_n, headroom, False, 0)


def read_burst_vnet(int fd, pool, Py_ssize_t max_n, Py_ssize_t l2_len=14, headroom=None):
    """read_burst for a device with a virtio_net_hdr in front of every frame."""
    return _read_frames(fd, pool, max_n, headroom, True, l2_len)


def write_burst(int fd, pool, idx):
    """Write the packets of idx to fd in order, one write() each.

    Returns (n_sent, errno_at_stop): n_sent packets went (idx[:n_sent]);
    errno_at_stop is 0 when all went, EAGAIN when the fd would block (the
    rest is still to send), or the error of packet idx[n_sent] (the caller
    drops it and carries on after it).  Slots stay allocated either way.
    """
    return _write_frames(fd, pool, idx, False)


def write_burst_vnet(int fd, pool, idx):
    """write_burst for a device with a virtio_net_hdr in front of every frame."""
    return _write_frames(fd, pool, idx, True)


cdef object _read_frames(int fd, pool, Py_ssize_t max_n, headroom, bint vnet,
                         Py_ssize_t l2_len):
    cdef Py_ssize_t slot_size = pool.slot_size
    cdef Py_ssize_t hr = pool.headroom if headroom is None else headroom
    if not 0 <= hr < slot_size:
        raise ValueError(f"headroom {hr} outside the {slot_size}-byte slot")
    if max_n <= 0:
        return np.zeros(0, dtype=np.uint32)
    slots = pool._slots
    cdef uint8_t* base = <uint8_t*>_column(pool.data, cnp.NPY_UINT8, True, "pool.data")
    cdef uint16_t* off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, True, "pool.off")
    cdef uint16_t* length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, True, "pool.length")
    cdef uint64_t* ts = <uint64_t*>_column(pool.ts_ns, cnp.NPY_UINT64, True, "pool.ts_ns")
    cdef uint16_t* nh = <uint16_t*>_column(pool.nh, cnp.NPY_UINT16, True, "pool.nh")
    cdef uint16_t* cstart = <uint16_t*>_column(pool.csum_start, cnp.NPY_UINT16, True,
                                               "pool.csum_start")
    cdef uint8_t* coff = <uint8_t*>_column(pool.csum_offset, cnp.NPY_UINT8, True,
                                           "pool.csum_offset")
    cdef uint8_t* gtype = <uint8_t*>_column(pool.gso_type, cnp.NPY_UINT8, True, "pool.gso_type")
    cdef uint16_t* gsize = <uint16_t*>_column(pool.gso_size, cnp.NPY_UINT16, True,
                                              "pool.gso_size")
    cdef uint8_t* frame
    cdef uint8_t hdr[VNET_HDR_LEN]
    cdef iovec iov[2]
    cdef size_t room = slot_size - hr
    cdef Py_ssize_t k = 0, j, m, want = 1, hlen = VNET_HDR_LEN if vnet else 0
    cdef uint32_t* ix
    cdef ssize_t r
    cdef uint32_t s
    cdef int err = 0
    cdef bint more = True
    cdef timespec now
    cdef uint64_t stamp
    iov[0].iov_base = hdr
    iov[0].iov_len = VNET_HDR_LEN
    iov[1].iov_len = room
    clock_gettime(CLOCK_REALTIME, &now)
    stamp = <uint64_t>now.tv_sec * 1000000000ULL + <uint64_t>now.tv_nsec
    # Slots are taken a few at a time, 1, 4, 16 ... up to max_n: an idle
    # device has one frame waiting, and taking, resetting and giving back a
    # whole burst of slots around it costs more than reading it.
    chunks = []
    while more and k < max_n:
        m = min(want, max_n - k, <Py_ssize_t>slots.n_free)
        if m <= 0:
            break
        want *= 4
        arr = slots.alloc(m, 0)
        ix = <uint32_t*>cnp.PyArray_DATA(<cnp.ndarray>arr)
        j = 0
        with nogil:
            while j < m:
                s = ix[j]
                frame = base + <size_t>s * slot_size + hr
                if not vnet:
                    r = read(fd, frame, room)
                elif hr >= VNET_HDR_LEN:    # the header lands in the headroom: one plain read
                    r = read(fd, frame - VNET_HDR_LEN, room + VNET_HDR_LEN)
                    if r >= VNET_HDR_LEN:
                        memcpy(hdr, frame - VNET_HDR_LEN, VNET_HDR_LEN)
                else:
                    iov[1].iov_base = frame
                    r = readv(fd, iov, 2)
                if r <= 0:
                    if r < 0 and errno == EINTR:
                        continue
                    err = errno if r < 0 else 0
                    more = False
                    break
                if r < hlen:
                    continue                # no frame behind the header: nothing to keep
                off[s] = <uint16_t>hr
                length[s] = <uint16_t>(r - hlen)
                ts[s] = stamp
                if vnet:
                    _take_vnet(hdr, hr, l2_len, frame, r - hlen,
                               cstart + s, coff + s, gtype + s, gsize + s, nh + s)
                j += 1
        if j < m:       # (an idle device: no slice for the chunk that found nothing)
            slots.free_slots(arr if j == 0 else arr[j:])
        if j:
            chunks.append(arr if j == m else arr[:j])
        k += j
    if k == 0 and err != 0 and err != EAGAIN:   # EWOULDBLOCK is EAGAIN on Linux
        raise OSError(err, os.strerror(err))
    if len(chunks) == 1:
        return chunks[0]
    if not chunks:
        return np.zeros(0, dtype=np.uint32)
    return np.concatenate(chunks)


cdef object _write_frames(int fd, pool, idx, bint vnet):
    idx_arr = np.ascontiguousarray(idx, dtype=np.uint32)
    cdef uint32_t* ix = <uint32_t*>_column(idx_arr, cnp.NPY_UINT32, False, "idx")
    cdef Py_ssize_t n = cnp.PyArray_SIZE(<cnp.ndarray>idx_arr)
    if n == 0:
        return 0, 0
    data = pool.data
    cdef uint8_t* base = <uint8_t*>_column(data, cnp.NPY_UINT8, False, "pool.data")
    cdef uint16_t* off = <uint16_t*>_column(pool.off, cnp.NPY_UINT16, False, "pool.off")
    cdef uint16_t* length = <uint16_t*>_column(pool.length, cnp.NPY_UINT16, False, "pool.length")
    cdef uint16_t* cstart = <uint16_t*>_column(pool.csum_start, cnp.NPY_UINT16, False,
                                               "pool.csum_start")
    cdef uint8_t* coff = <uint8_t*>_column(pool.csum_offset, cnp.NPY_UINT8, False,
                                           "pool.csum_offset")
    cdef uint8_t* gtype = <uint8_t*>_column(pool.gso_type, cnp.NPY_UINT8, False, "pool.gso_type")
    cdef uint16_t* gsize = <uint16_t*>_column(pool.gso_size, cnp.NPY_UINT16, False,
                                              "pool.gso_size")
    if cnp.PyArray_NDIM(<cnp.ndarray>data) != 2:
        raise TypeError("pool.data must be a 2-D array of slots")
    cdef Py_ssize_t slot_size = cnp.PyArray_DIM(<cnp.ndarray>data, 1)
    cdef Py_ssize_t n_slots = cnp.PyArray_DIM(<cnp.ndarray>data, 0)
    cdef uint8_t* frame
    cdef uint8_t hdr[VNET_HDR_LEN]
    cdef iovec iov[2]
    cdef Py_ssize_t k
    cdef uint32_t s
    cdef ssize_t r
    cdef int err = 0
    for k in range(n):
        s = ix[k]
        if s >= n_slots:
            raise IndexError(f"slot {s} outside the pool of {n_slots}")
        if <Py_ssize_t>off[s] + length[s] > slot_size:
            raise ValueError(f"packet in slot {s} runs past the end of its slot")
    iov[0].iov_base = hdr
    iov[0].iov_len = VNET_HDR_LEN
    k = 0
    with nogil:
        while k < n:
            s = ix[k]
            frame = base + <size_t>s * slot_size + off[s]
            if not vnet:
                r = write(fd, frame, length[s])
            else:
                err = _vnet_header(hdr, frame, length[s], cstart[s], off[s], coff[s],
                                   gtype[s], gsize[s])
                if err:
                    break
                if off[s] >= VNET_HDR_LEN:  # the headroom takes the header: one plain write
                    memcpy(frame - VNET_HDR_LEN, hdr, VNET_HDR_LEN)
                    r = write(fd, frame - VNET_HDR_LEN, length[s] + VNET_HDR_LEN)
                else:
                    iov[1].iov_base = frame
                    iov[1].iov_len = length[s]
                    r = writev(fd, iov, 2)
            if r < 0:
                if errno == EINTR:
                    continue
                err = errno
                break
            k += 1
    return k, err


def drain(int fd, Py_ssize_t max_n):
    """Read and throw away up to max_n frames (when the pool is exhausted);
    returns how many were thrown away."""
    cdef uint8_t scratch[65536]
    cdef Py_ssize_t k = 0
    cdef ssize_t r
    with nogil:
        while k < max_n:
            r = read(fd, scratch, sizeof(scratch))
            if r <= 0:
                if r < 0 and errno == EINTR:
                    continue
                break
            k += 1
    return k
