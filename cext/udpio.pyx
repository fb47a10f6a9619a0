# cython: language_level=3
"""UDP datagrams in and out of a packet pool: burst socket I/O and tunnel headers.

Two families of per-batch kernels that the UDP socket and the tunnel
elements (Socket, UDPIPEncap, IPEncap, EtherLinkEncap/Decap, VXLANEncap/
Decap) share.  Each has a plain-Python twin of the same name and signature
in `udpio_reference.py`; the tests run both on the same datagrams and
demand the same bytes and annotations.

Socket I/O.  `recv_burst` takes a burst of datagrams with one recvmmsg()
straight into fresh pool slots, `send_burst` sends a batch with one
sendmmsg() straight out of the slots; both release the GIL for the call.

- A received datagram lands at `headroom` (default the pool's) with off,
  length and ts_ns (CLOCK_REALTIME, one stamp per burst) set, and its
  sender in the annotations a reply needs: dst_ip = source address, port =
  source port (host order).  From an IPv6 socket the source address goes
  to dst_ip6 (network order, as the kernel gives it) and dst_ip is 0.  A
  datagram longer than the room left in the slot is dropped and counted,
  not cut.
- `send_burst` sends data[slot, off:off + length] of each slot in order: to
  the packet's own dst_ip:port annotations (per_packet, for packets whose
  dst_ip is not 0), else to the fixed address given, else (address 0, port
  0) to the socket's connected peer.  For an IPv6 socket the caller gives
  addr6 (16 bytes, network order) in place of addr, and per-packet
  destinations come from dst_ip6 (packets whose dst_ip6 is not ::).  It stops at the first error and
  returns (n_sent, errno) as tapio.write_burst does: 0 when all went,
  EAGAIN when the socket would block, any other error for packet n_sent.
- With gso_max > 0, runs of consecutive packets of one length L <= gso_max
  (the last of a run may be shorter) to one destination go as a single
  message with UDP_SEGMENT = L (Linux UDP GSO): the kernel cuts it into
  the same datagrams, so the receiver sees no difference, but the sender
  crosses the stack once per run.  The message gathers the slots through
  an iovec per packet: no byte is copied.  A run the kernel refuses
  (EINVAL/EIO: path MTU, no GSO) is retried datagram by datagram.
- `GROReceiver.recv_burst` is recv_burst for a socket with UDP_GRO on, where
  one message may hold a peer's whole GSO run: messages land in scratch
  buffers and each datagram is copied once into its slot.

Tunnel headers.  `push_header` writes one fixed header in front of every
packet (VXLAN, EtherLink), `push_ip` an IPv4 header (IPEncap) and
`push_udp_ip` an IPv4 + UDP header (UDPIPEncap, VXLANEncap), all into the
headroom: off moves back, length grows, nh points at the new IP header and
no payload byte moves.  A packet with too little headroom is left untouched
and flagged in `out_short` for the element's slow path.  `match_header`
checks a fixed header against a pattern under a mask (decapsulation),
`flow_ports` hashes each inner Ethernet frame to a UDP source port
(RFC 7348 section 5, as Linux's udp_flow_src_port).
"""
from libc.errno cimport EAGAIN, EINTR, EINVAL, EIO, errno
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcmp, memcpy, memset
from posix.time cimport CLOCK_REALTIME, clock_gettime, timespec

import os

import numpy as np

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void* iov_base
        size_t iov_len

cdef extern from "<sys/socket.h>" nogil:
    ctypedef unsigned int socklen_t
    struct msghdr:
        void* msg_name
        socklen_t msg_namelen
        iovec* msg_iov
        size_t msg_iovlen
        void* msg_control
        size_t msg_controllen
        int msg_flags
    struct mmsghdr:
        msghdr msg_hdr
        unsigned int msg_len
    struct cmsghdr:
        size_t cmsg_len
        int cmsg_level
        int cmsg_type
    int recvmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags, timespec* timeout)
    int sendmmsg(int fd, mmsghdr* vec, unsigned int vlen, int flags)
    cmsghdr* CMSG_FIRSTHDR(msghdr* m)
    cmsghdr* CMSG_NXTHDR(msghdr* m, cmsghdr* c)
    unsigned char* CMSG_DATA(cmsghdr* c)
    size_t CMSG_SPACE(size_t n)
    size_t CMSG_LEN(size_t n)
    int MSG_DONTWAIT
    int MSG_TRUNC
    int AF_INET
    int AF_INET6

cdef extern from "<netinet/in.h>" nogil:
    struct in_addr:
        uint32_t s_addr
    struct sockaddr_in:
        unsigned short sin_family
        uint16_t sin_port
        in_addr sin_addr
    struct in6_addr:
        unsigned char s6_addr[16]
    struct sockaddr_in6:
        unsigned short sin6_family
        uint16_t sin6_port
        uint32_t sin6_flowinfo
        in6_addr sin6_addr
        uint32_t sin6_scope_id
    uint16_t htons(uint16_t)
    uint16_t ntohs(uint16_t)
    uint32_t htonl(uint32_t)
    uint32_t ntohl(uint32_t)

cdef enum:
    _SOL_UDP = 17
    _UDP_SEGMENT = 103
    _UDP_GRO = 104
    _MAX_VLEN = 1024             # UIO_MAXIOV: the kernel's cap on one sendmmsg/recvmmsg
    _GSO_MAX_SEGS = 64           # UDP_MAX_SEGMENTS on older kernels (newer take 128)
    _GSO_MAX_BYTES = 65000       # a GSO message is one UDP datagram to the stack: < 64 KiB

SOL_UDP = _SOL_UDP
UDP_SEGMENT = _UDP_SEGMENT
UDP_GRO = _UDP_GRO
MAX_BURST = _MAX_VLEN
GSO_MAX_SEGMENTS = _GSO_MAX_SEGS

cdef enum:
    _MATCH_OK = 255
    _MATCH_SHORT = 254

# match_header results beside a mismatch position (0..k-1).
MATCH_OK = _MATCH_OK
MATCH_SHORT = _MATCH_SHORT


cdef int _check_slots(const uint32_t[::1] idx, Py_ssize_t n_slots, Py_ssize_t slot_size,
                      const uint16_t[::1] off, const uint16_t[::1] length) except -1:
    """Every slot must exist and hold its packet: the loops run unchecked."""
    cdef Py_ssize_t k
    cdef uint32_t s
    for k in range(idx.shape[0]):
        s = idx[k]
        if s >= n_slots:
            raise IndexError(f"slot {s} outside the pool of {n_slots}")
        if <Py_ssize_t>off[s] + length[s] > slot_size:
            raise ValueError(f"packet in slot {s} runs past the end of its slot")
    return 0


# -- socket I/O -------------------------------------------------------------------

def recv_burst(int fd, pool, Py_ssize_t max_n, headroom=None):
    """Receive up to max_n datagrams from fd into fresh pool slots, one recvmmsg().

    Returns (idx, n_dropped): the slots of the datagrams received, in order,
    and how many were dropped for being longer than a slot's room.  idx is
    empty when nothing was waiting.  Raises OSError for any error but EAGAIN.
    """
    cdef Py_ssize_t slot_size = pool.slot_size
    cdef Py_ssize_t hr = pool.headroom if headroom is None else headroom
    if not 0 <= hr < slot_size:
        raise ValueError(f"headroom {hr} outside the {slot_size}-byte slot")
    if max_n > _MAX_VLEN:
        max_n = _MAX_VLEN
    if max_n <= 0:
        return np.zeros(0, dtype=np.uint32), 0
    idx_arr = pool.alloc_upto(max_n).idx
    cdef Py_ssize_t n = idx_arr.shape[0]
    if n == 0:
        return idx_arr, 0
    cdef uint32_t[::1] idx = idx_arr
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint64_t[::1] ts = pool.ts_ns
    cdef uint32_t[::1] dst_ip = pool.dst_ip
    cdef uint8_t[:, ::1] dst_ip6 = pool.dst_ip6
    cdef uint16_t[::1] port = pool.port
    cdef uint8_t* base = &data[0, 0]
    cdef size_t room = slot_size - hr
    kept_arr = np.empty(n, dtype=np.uint32)
    dropped_arr = np.empty(n, dtype=np.uint32)
    cdef uint32_t[::1] kept_out = kept_arr
    cdef uint32_t[::1] dropped_out = dropped_arr
    cdef mmsghdr* msgs = <mmsghdr*>calloc(n, sizeof(mmsghdr))
    cdef iovec* iov = <iovec*>calloc(n, sizeof(iovec))
    # sockaddr_in6 holds either family's address: the socket's decides.
    cdef sockaddr_in6* names = <sockaddr_in6*>calloc(n, sizeof(sockaddr_in6))
    if msgs == NULL or iov == NULL or names == NULL:
        free(msgs); free(iov); free(names)
        pool.free(idx_arr)
        raise MemoryError()
    cdef Py_ssize_t i, kept = 0, dropped = 0
    cdef int r = 0, err = 0
    cdef uint32_t s
    cdef timespec now
    cdef uint64_t stamp
    with nogil:
        for i in range(n):
            s = idx[i]
            iov[i].iov_base = base + <size_t>s * slot_size + hr
            iov[i].iov_len = room
            msgs[i].msg_hdr.msg_iov = &iov[i]
            msgs[i].msg_hdr.msg_iovlen = 1
            msgs[i].msg_hdr.msg_name = &names[i]
            msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in6)
        while True:
            r = recvmmsg(fd, msgs, <unsigned int>n, MSG_DONTWAIT, NULL)
            if r < 0 and errno == EINTR:
                continue
            break
        if r < 0:
            err = errno
            r = 0
        clock_gettime(CLOCK_REALTIME, &now)
        stamp = <uint64_t>now.tv_sec * 1000000000ULL + <uint64_t>now.tv_nsec
        for i in range(r):
            s = idx[i]
            if msgs[i].msg_hdr.msg_flags & MSG_TRUNC:
                dropped_out[dropped] = s
                dropped += 1
                continue
            off[s] = <uint16_t>hr
            length[s] = <uint16_t>msgs[i].msg_len
            ts[s] = stamp
            _note_sender(&names[i], s, &dst_ip[0], &dst_ip6[0, 0], &port[0])
            kept_out[kept] = s
            kept += 1
    free(msgs)
    free(iov)
    free(names)
    if dropped:
        pool.free(dropped_arr[:dropped])
    if r < n:
        pool.free(idx_arr[r:])
    if err != 0 and err != EAGAIN:     # EWOULDBLOCK is EAGAIN on Linux
        raise OSError(err, os.strerror(err))
    return kept_arr[:kept], dropped


cdef inline void _note_sender(const sockaddr_in6* name, uint32_t s, uint32_t* dst_ip,
                              uint8_t* dst_ip6, uint16_t* port) noexcept nogil:
    """A received datagram's sender into slot s's annotations (see the module docstring)."""
    cdef const sockaddr_in* v4
    if name.sin6_family == AF_INET:
        v4 = <const sockaddr_in*>name
        dst_ip[s] = ntohl(v4.sin_addr.s_addr)
        port[s] = ntohs(v4.sin_port)
    elif name.sin6_family == AF_INET6:
        memcpy(dst_ip6 + <size_t>s * 16, &name.sin6_addr, 16)
        dst_ip[s] = 0
        port[s] = ntohs(name.sin6_port)


cdef inline bint _zero16(const uint8_t* a) noexcept nogil:
    cdef int j
    for j in range(16):
        if a[j]:
            return False
    return True


cdef inline bint _same_dest(bint per_packet, bint v6, const uint32_t* dst_ip,
                            const uint8_t* dst_ip6, const uint16_t* port,
                            uint32_t a, uint32_t b) noexcept nogil:
    if not per_packet:
        return True
    if v6:
        return port[a] == port[b] and memcmp(dst_ip6 + <size_t>a * 16,
                                              dst_ip6 + <size_t>b * 16, 16) == 0
    return dst_ip[a] == dst_ip[b] and port[a] == port[b]


def send_burst(int fd, pool, idx, uint32_t addr=0, uint16_t dport=0, bint per_packet=False,
               Py_ssize_t gso_max=0, addr6=None):
    """Send the packets of idx as datagrams in order, with sendmmsg().

    Destination: the packet's dst_ip:port annotations when per_packet and its
    dst_ip is not 0; else addr:dport; else (both 0) the connected peer.  With
    addr6 (16 bytes: the socket is IPv6) the same with dst_ip6 and addr6 in
    place of dst_ip and addr.  Returns (n_sent, errno_at_stop) as the module
    docstring says.  Slots stay allocated either way.
    """
    cdef bint v6 = addr6 is not None
    cdef uint8_t fixed6[16]
    memset(fixed6, 0, 16)
    if v6:
        raw6 = bytes(addr6)
        if len(raw6) != 16:
            raise ValueError(f"addr6 must be 16 bytes, not {len(raw6)}")
        memcpy(fixed6, <const char*>raw6, 16)
    idx_arr = np.ascontiguousarray(idx, dtype=np.uint32)
    cdef uint32_t[::1] ix = idx_arr
    cdef Py_ssize_t n = ix.shape[0]
    if n == 0:
        return 0, 0
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint32_t[::1] dst_col = pool.dst_ip
    cdef uint8_t[:, ::1] dst6_col = pool.dst_ip6
    cdef uint16_t[::1] port_col = pool.port
    cdef Py_ssize_t slot_size = pool.slot_size
    _check_slots(ix, min(data.shape[0], off.shape[0], length.shape[0], dst_col.shape[0],
                         dst6_col.shape[0], port_col.shape[0]), slot_size, off, length)
    cdef uint8_t* base = &data[0, 0]
    cdef const uint32_t* dcol = &dst_col[0]
    cdef const uint8_t* d6col = &dst6_col[0, 0]
    cdef const uint16_t* pcol = &port_col[0]
    cdef const uint8_t* a6
    cdef Py_ssize_t chunk = n if n < _MAX_VLEN else _MAX_VLEN
    cdef size_t ctl_space = CMSG_SPACE(sizeof(uint16_t))
    cdef mmsghdr* msgs = <mmsghdr*>calloc(chunk, sizeof(mmsghdr))
    cdef iovec* iov = <iovec*>calloc(chunk, sizeof(iovec))
    cdef sockaddr_in6* names = <sockaddr_in6*>calloc(chunk, sizeof(sockaddr_in6))
    cdef sockaddr_in* name4
    cdef Py_ssize_t* segs = <Py_ssize_t*>calloc(chunk, sizeof(Py_ssize_t))
    cdef uint8_t* ctl = <uint8_t*>calloc(chunk, ctl_space)
    if msgs == NULL or iov == NULL or names == NULL or segs == NULL or ctl == NULL:
        free(msgs); free(iov); free(names); free(segs); free(ctl)
        raise MemoryError()
    cdef Py_ssize_t sent = 0, p, m, nmsg, k, q, total, i
    cdef uint32_t s, s0, a
    cdef uint16_t L, dp
    cdef int r, err = 0
    cdef bint gso = gso_max > 0
    cdef cmsghdr* c
    with nogil:
        while sent < n:
            # Build up to `chunk` packets' worth of messages starting at packet `sent`.
            p = sent
            m = 0
            k = 0           # iovecs used
            while p < n and k < chunk:
                s0 = ix[p]
                L = length[s0]
                q = 1
                total = L
                if gso and L <= gso_max:
                    while (p + q < n and k + q < chunk and q < _GSO_MAX_SEGS
                           and 0 < length[ix[p + q]] <= L
                           and total + length[ix[p + q]] <= _GSO_MAX_BYTES
                           and _same_dest(per_packet, v6, dcol, d6col, pcol, s0, ix[p + q])):
                        total += length[ix[p + q]]
                        q += 1
                        if length[ix[p + q - 1]] < L:
                            break       # a shorter datagram ends the run
                # (an empty one never joins: the kernel drops a 0-byte last segment)
                for i in range(q):
                    s = ix[p + i]
                    iov[k + i].iov_base = base + <size_t>s * slot_size + off[s]
                    iov[k + i].iov_len = length[s]
                memset(&msgs[m], 0, sizeof(mmsghdr))
                msgs[m].msg_hdr.msg_iov = &iov[k]
                msgs[m].msg_hdr.msg_iovlen = q
                if v6:
                    if per_packet and not _zero16(d6col + <size_t>s0 * 16):
                        a6 = d6col + <size_t>s0 * 16
                        dp = pcol[s0]
                    else:
                        a6 = fixed6
                        dp = dport
                    if dp != 0 or not _zero16(a6):
                        memset(&names[m], 0, sizeof(sockaddr_in6))
                        names[m].sin6_family = AF_INET6
                        memcpy(&names[m].sin6_addr, a6, 16)
                        names[m].sin6_port = htons(dp)
                        msgs[m].msg_hdr.msg_name = &names[m]
                        msgs[m].msg_hdr.msg_namelen = sizeof(sockaddr_in6)
                else:
                    if per_packet and dcol[s0] != 0:
                        a = dcol[s0]
                        dp = pcol[s0]
                    else:
                        a = addr
                        dp = dport
                    if a != 0 or dp != 0:
                        name4 = <sockaddr_in*>&names[m]
                        memset(name4, 0, sizeof(sockaddr_in))
                        name4.sin_family = AF_INET
                        name4.sin_addr.s_addr = htonl(a)
                        name4.sin_port = htons(dp)
                        msgs[m].msg_hdr.msg_name = name4
                        msgs[m].msg_hdr.msg_namelen = sizeof(sockaddr_in)
                if q > 1:
                    msgs[m].msg_hdr.msg_control = ctl + m * ctl_space
                    msgs[m].msg_hdr.msg_controllen = ctl_space
                    c = CMSG_FIRSTHDR(&msgs[m].msg_hdr)
                    c.cmsg_level = _SOL_UDP
                    c.cmsg_type = _UDP_SEGMENT
                    c.cmsg_len = CMSG_LEN(sizeof(uint16_t))
                    memcpy(CMSG_DATA(c), &L, sizeof(uint16_t))
                segs[m] = q
                m += 1
                k += q
                p += q
            nmsg = m
            m = 0
            while m < nmsg:
                r = sendmmsg(fd, &msgs[m], <unsigned int>(nmsg - m), MSG_DONTWAIT)
                if r < 0:
                    if errno == EINTR:
                        continue
                    err = errno
                    break
                for i in range(r):
                    sent += segs[m + i]
                m += r
            if err != 0:
                if segs[m] > 1 and (err == EINVAL or err == EIO):
                    # The kernel refused the run (path MTU, no UDP GSO): go on one by one.
                    gso = False
                    err = 0
                    continue
                break
    free(msgs)
    free(iov)
    free(names)
    free(segs)
    free(ctl)
    return sent, err


cdef class GROReceiver:
    """Receives from a socket with UDP_GRO on: datagrams the kernel coalesced
    (the sender's GSO runs, which then cross the receiving stack as one) are
    cut back into one slot each.

    A coalesced message is up to 64 KiB, more than a slot, so the messages
    land in this receiver's scratch buffers (n_msgs of 64 KiB each) and every
    datagram is copied once into its slot, in the same call: the copy costs
    far less than the per-datagram work in the kernel that GRO saves.
    `recv_burst` has the signature and results of the module's recv_burst;
    max_n bounds the messages read, a burst may hold more datagrams.
    """
    cdef Py_ssize_t n_msgs
    cdef size_t msg_size
    cdef size_t ctl_space
    cdef uint8_t* buf
    cdef uint8_t* ctl
    cdef mmsghdr* msgs
    cdef iovec* iov
    cdef sockaddr_in6* names
    cdef Py_ssize_t* seg_len

    def __cinit__(self, Py_ssize_t n_msgs=32, size_t msg_size=65536):
        if n_msgs < 1 or n_msgs > _MAX_VLEN or msg_size < 2048:
            raise ValueError("need 1 <= n_msgs <= 1024 and msg_size >= 2048")
        self.n_msgs = n_msgs
        self.msg_size = msg_size
        self.ctl_space = CMSG_SPACE(sizeof(int))
        self.buf = <uint8_t*>calloc(n_msgs, msg_size)
        self.ctl = <uint8_t*>calloc(n_msgs, self.ctl_space)
        self.msgs = <mmsghdr*>calloc(n_msgs, sizeof(mmsghdr))
        self.iov = <iovec*>calloc(n_msgs, sizeof(iovec))
        self.names = <sockaddr_in6*>calloc(n_msgs, sizeof(sockaddr_in6))
        self.seg_len = <Py_ssize_t*>calloc(n_msgs, sizeof(Py_ssize_t))
        if (self.buf == NULL or self.ctl == NULL or self.msgs == NULL or self.iov == NULL
                or self.names == NULL or self.seg_len == NULL):
            raise MemoryError()

    def __dealloc__(self):
        free(self.buf)
        free(self.ctl)
        free(self.msgs)
        free(self.iov)
        free(self.names)
        free(self.seg_len)

    def recv_burst(self, int fd, pool, Py_ssize_t max_n, headroom=None):
        """Receive up to max_n messages; returns (idx, n_dropped) as recv_burst does."""
        cdef Py_ssize_t slot_size = pool.slot_size
        cdef Py_ssize_t hr = pool.headroom if headroom is None else headroom
        if not 0 <= hr < slot_size:
            raise ValueError(f"headroom {hr} outside the {slot_size}-byte slot")
        cdef Py_ssize_t vlen = min(max_n, self.n_msgs)
        if vlen <= 0:
            return np.zeros(0, dtype=np.uint32), 0
        cdef Py_ssize_t i, j, r = 0, total = 0, dropped = 0, k, n_seg, L, pos
        cdef int err = 0, gso
        cdef cmsghdr* c
        with nogil:
            for i in range(vlen):
                self.iov[i].iov_base = self.buf + <size_t>i * self.msg_size
                self.iov[i].iov_len = self.msg_size
                memset(&self.msgs[i], 0, sizeof(mmsghdr))
                self.msgs[i].msg_hdr.msg_iov = &self.iov[i]
                self.msgs[i].msg_hdr.msg_iovlen = 1
                self.msgs[i].msg_hdr.msg_name = &self.names[i]
                self.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in6)
                self.msgs[i].msg_hdr.msg_control = self.ctl + <size_t>i * self.ctl_space
                self.msgs[i].msg_hdr.msg_controllen = self.ctl_space
            while True:
                r = recvmmsg(fd, self.msgs, <unsigned int>vlen, MSG_DONTWAIT, NULL)
                if r < 0 and errno == EINTR:
                    continue
                break
            if r < 0:
                err = errno
                r = 0
            for i in range(r):
                L = self.msgs[i].msg_len
                gso = 0
                c = CMSG_FIRSTHDR(&self.msgs[i].msg_hdr)
                while c != NULL:
                    if c.cmsg_level == _SOL_UDP and c.cmsg_type == _UDP_GRO:
                        memcpy(&gso, CMSG_DATA(c), sizeof(int))
                    c = CMSG_NXTHDR(&self.msgs[i].msg_hdr, c)
                if self.msgs[i].msg_hdr.msg_flags & MSG_TRUNC:
                    self.seg_len[i] = -1            # the whole message is lost
                    dropped += 1
                    continue
                self.seg_len[i] = gso if 0 < gso < L else L
                total += (L + self.seg_len[i] - 1) // self.seg_len[i] if L else 1
        if err != 0 and err != EAGAIN:
            raise OSError(err, os.strerror(err))
        if total == 0:
            return np.zeros(0, dtype=np.uint32), dropped
        idx_arr = pool.alloc_upto(total).idx
        cdef Py_ssize_t n_slots = idx_arr.shape[0]
        kept_arr = np.empty(n_slots, dtype=np.uint32)
        cdef uint32_t[::1] idx = idx_arr
        cdef uint32_t[::1] kept_out = kept_arr
        cdef uint8_t[:, ::1] data = pool.data
        cdef uint16_t[::1] off = pool.off
        cdef uint16_t[::1] length = pool.length
        cdef uint64_t[::1] ts = pool.ts_ns
        cdef uint32_t[::1] dst_ip = pool.dst_ip
        cdef uint8_t[:, ::1] dst_ip6 = pool.dst_ip6
        cdef uint16_t[::1] port = pool.port
        cdef uint8_t* base = &data[0, 0]
        cdef Py_ssize_t room = slot_size - hr, used = 0, kept = 0, seg
        cdef uint32_t s
        cdef uint8_t* msg
        cdef timespec now
        cdef uint64_t stamp
        with nogil:
            clock_gettime(CLOCK_REALTIME, &now)
            stamp = <uint64_t>now.tv_sec * 1000000000ULL + <uint64_t>now.tv_nsec
            for i in range(r):
                if self.seg_len[i] < 0:
                    continue
                L = self.msgs[i].msg_len
                msg = self.buf + <size_t>i * self.msg_size
                pos = 0
                while used < n_slots and (pos < L or (L == 0 and pos == 0)):
                    seg = min(self.seg_len[i], L - pos)
                    if seg > room:          # a datagram longer than a slot's room
                        pos += seg
                        continue
                    s = idx[used]
                    used += 1
                    memcpy(base + <size_t>s * slot_size + hr, msg + pos, seg)
                    off[s] = <uint16_t>hr
                    length[s] = <uint16_t>seg
                    ts[s] = stamp
                    _note_sender(&self.names[i], s, &dst_ip[0], &dst_ip6[0, 0], &port[0])
                    kept_out[kept] = s
                    kept += 1
                    pos += seg if seg > 0 else 1
        if used < n_slots:
            pool.free(idx_arr[used:])
        # lost: truncated messages, datagrams too long for a slot or without a free slot
        return kept_arr[:kept], dropped + total - kept


# -- tunnel headers ---------------------------------------------------------------

include "byteorder.pxi"
include "checksum.pxi"


cdef int _check_pool(pool, const uint32_t[::1] idx, Py_ssize_t n_out) except -1:
    cdef Py_ssize_t n_slots = min(pool.data.shape[0], pool.off.shape[0])
    if n_out < idx.shape[0]:
        raise ValueError(f"output array has {n_out} entries for a batch of {idx.shape[0]} packets")
    _check_slots(idx, n_slots, pool.slot_size, pool.off, pool.length)
    return 0


def push_header(pool, const uint32_t[::1] idx, const uint8_t[::1] header, uint8_t[::1] out_short):
    """Prepend the bytes of header to every packet of idx; returns how many had no room.

    A packet with less headroom than the header is left alone with
    out_short[i] = 1 (0 for the others).
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef Py_ssize_t i, n = idx.shape[0], k = header.shape[0], short = 0
    cdef uint32_t s
    _check_pool(pool, idx, out_short.shape[0])
    if k == 0:
        out_short[:n] = 0
        return 0
    with nogil:
        for i in range(n):
            s = idx[i]
            if off[s] < k or length[s] + k > 0xFFFF:
                out_short[i] = 1
                short += 1
                continue
            out_short[i] = 0
            off[s] -= k
            length[s] += k
            memcpy(&data[s, off[s]], &header[0], k)
    return short


cdef inline void _write_ip(uint8_t* ip, uint32_t total, uint8_t tos, uint32_t ip_id, bint df,
                           uint8_t ttl, uint8_t proto, uint32_t src, uint32_t dst) noexcept nogil:
    ip[0] = 0x45
    ip[1] = tos
    _store16(ip + 2, total)
    _store16(ip + 4, ip_id & 0xFFFF)
    ip[6] = 0x40 if df else 0
    ip[7] = 0
    ip[8] = ttl
    ip[9] = proto
    ip[10] = 0
    ip[11] = 0
    _store32(ip + 12, src)
    _store32(ip + 16, dst)
    _store16(ip + 10, _sum16(ip, 20) ^ 0xFFFF)


def push_ip(pool, const uint32_t[::1] idx, uint8_t proto, uint32_t src, uint32_t dst,
            uint8_t tos, uint8_t ttl, bint df, uint32_t ip_id, bint dst_anno,
            uint8_t[::1] out_short):
    """Prepend a 20-byte IPv4 header to every packet of idx (Click's IPEncap).

    The destination is dst, or each packet's dst_ip annotation with dst_anno;
    IP IDs count up from ip_id.  nh is set to the new header and dst_ip to its
    destination.  Returns the next IP ID; packets without 20 bytes of
    headroom are left alone and flagged in out_short.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef uint32_t[::1] dst_col = pool.dst_ip
    cdef Py_ssize_t i, n = idx.shape[0]
    cdef uint32_t s, d
    _check_pool(pool, idx, out_short.shape[0])
    with nogil:
        for i in range(n):
            s = idx[i]
            if off[s] < 20 or length[s] + 20 > 0xFFFF:
                out_short[i] = 1
                continue
            out_short[i] = 0
            off[s] -= 20
            length[s] += 20
            d = dst_col[s] if dst_anno else dst
            _write_ip(&data[s, off[s]], length[s], tos, ip_id, df, ttl, proto, src, d)
            ip_id += 1
            nh[s] = off[s]
            dst_col[s] = d
    return ip_id & 0xFFFF


def push_udp_ip(pool, const uint32_t[::1] idx, uint32_t src, uint32_t dst, uint16_t sport,
                uint16_t dport, uint8_t tos, uint8_t ttl, bint df, uint32_t ip_id,
                bint checksum, bint dst_anno, sports, uint8_t[::1] out_short):
    """Prepend IPv4 and UDP headers (28 bytes) to every packet of idx (UDPIPEncap).

    As push_ip with protocol 17; the UDP source port is sport, or sports[i]
    when a uint16 array is given (VXLAN's flow ports).  With checksum the UDP
    checksum is computed over the pseudo-header and the whole datagram (0
    goes out as 0xFFFF), else it is 0.  Returns the next IP ID.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef uint32_t[::1] dst_col = pool.dst_ip
    cdef const uint16_t[::1] sp
    cdef bint per_sport = sports is not None
    cdef Py_ssize_t i, n = idx.shape[0]
    cdef uint32_t s, d, ulen, c
    cdef uint8_t* ip
    cdef uint8_t* udp
    _check_pool(pool, idx, out_short.shape[0])
    if per_sport:
        sp = sports
        if sp.shape[0] < n:
            raise ValueError(f"sports has {sp.shape[0]} entries for a batch of {n} packets")
    else:
        sp = np.zeros(1, dtype=np.uint16)
    with nogil:
        for i in range(n):
            s = idx[i]
            if off[s] < 28 or length[s] + 28 > 0xFFFF:
                out_short[i] = 1
                continue
            out_short[i] = 0
            off[s] -= 28
            length[s] += 28
            d = dst_col[s] if dst_anno else dst
            ip = &data[s, off[s]]
            _write_ip(ip, length[s], tos, ip_id, df, ttl, 17, src, d)
            ip_id += 1
            udp = ip + 20
            ulen = length[s] - 20
            _store16(udp, sp[i] if per_sport else sport)
            _store16(udp + 2, dport)
            _store16(udp + 4, ulen)
            udp[6] = 0
            udp[7] = 0
            if checksum:
                c = _fold(_sum16(udp, ulen) + (src >> 16) + (src & 0xFFFF) + (d >> 16)
                          + (d & 0xFFFF) + 17 + ulen) ^ 0xFFFF
                _store16(udp + 6, c if c != 0 else 0xFFFF)
            nh[s] = off[s]
            dst_col[s] = d
    return ip_id & 0xFFFF


def push_udp_ip6(pool, const uint32_t[::1] idx, src6, dst6, uint16_t sport, uint16_t dport,
                 uint8_t tclass, uint8_t hlim, uint32_t flow_label, bint dst_anno, sports,
                 uint8_t[::1] out_short):
    """Prepend IPv6 and UDP headers (48 bytes) to every packet of idx (VXLANEncap over IPv6).

    src6 and dst6 are 16 network-order bytes; with dst_anno the destination
    is each packet's dst_ip6 annotation instead.  Traffic class tclass, flow
    label flow_label (20 bits), hop limit hlim.  The UDP source port is sport
    or sports[i] as in push_udp_ip.  The UDP checksum is always computed
    (over the IPv6 pseudo-header, RFC 8200 section 8.1; 0 goes out as
    0xFFFF): IPv6 receivers, Linux's VXLAN among them, drop a zero one by
    default (RFC 6935/6936 allow it only where the receiver opts in).  nh is
    set to the new header and dst_ip6 to its destination.  Packets without 48
    bytes of headroom are left alone and flagged in out_short.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef uint16_t[::1] nh = pool.nh
    cdef uint8_t[:, ::1] dst6_col = pool.dst_ip6
    cdef const uint16_t[::1] sp
    cdef bint per_sport = sports is not None
    cdef Py_ssize_t i, n = idx.shape[0]
    cdef uint32_t s, ulen, c, fixed_sum
    cdef uint8_t src_b[16]
    cdef uint8_t dst_b[16]
    cdef uint8_t* ip
    cdef uint8_t* udp
    raw_src, raw_dst = bytes(src6), bytes(dst6)
    if len(raw_src) != 16 or len(raw_dst) != 16:
        raise ValueError("src6 and dst6 must be 16 bytes each")
    memcpy(src_b, <const char*>raw_src, 16)
    memcpy(dst_b, <const char*>raw_dst, 16)
    _check_pool(pool, idx, out_short.shape[0])
    if dst6_col.shape[0] < pool.off.shape[0]:
        raise ValueError("the pool's dst_ip6 column is shorter than its slots")
    if per_sport:
        sp = sports
        if sp.shape[0] < n:
            raise ValueError(f"sports has {sp.shape[0]} entries for a batch of {n} packets")
    else:
        sp = np.zeros(1, dtype=np.uint16)
    fixed_sum = _sum16(src_b, 16) + 17
    with nogil:
        for i in range(n):
            s = idx[i]
            if off[s] < 48 or length[s] + 48 > 0xFFFF:
                out_short[i] = 1
                continue
            out_short[i] = 0
            off[s] -= 48
            length[s] += 48
            ip = &data[s, off[s]]
            udp = ip + 40
            ulen = length[s] - 40
            _store32(ip, (<uint32_t>6 << 28) | (<uint32_t>tclass << 20) | (flow_label & 0xFFFFF))
            _store16(ip + 4, ulen)
            ip[6] = 17
            ip[7] = hlim
            memcpy(ip + 8, src_b, 16)
            if dst_anno:
                memcpy(ip + 24, &dst6_col[s, 0], 16)
            else:
                memcpy(ip + 24, dst_b, 16)
                memcpy(&dst6_col[s, 0], dst_b, 16)
            _store16(udp, sp[i] if per_sport else sport)
            _store16(udp + 2, dport)
            _store16(udp + 4, ulen)
            udp[6] = 0
            udp[7] = 0
            c = _fold(_sum16(udp, ulen) + fixed_sum + _sum16(ip + 24, 16) + ulen) ^ 0xFFFF
            _store16(udp + 6, c if c != 0 else 0xFFFF)
            nh[s] = off[s]
    return None


def match_header(pool, const uint32_t[::1] idx, const uint8_t[::1] pattern,
                 const uint8_t[::1] mask, bint pop, uint8_t[::1] out):
    """Check the first k bytes of each packet: (byte & mask) == pattern (k = len(pattern)).

    out[i] = _MATCH_OK, MATCH_SHORT (shorter than k bytes) or the position of
    the first byte that differs.  With pop the k bytes are removed from the
    packets that match.  Returns the number that match.
    """
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef Py_ssize_t i, j, n = idx.shape[0], k = pattern.shape[0], good = 0
    cdef uint32_t s
    cdef const uint8_t* p
    if mask.shape[0] != k or k > 250:
        raise ValueError("pattern and mask must have the same length, at most 250 bytes")
    _check_pool(pool, idx, out.shape[0])
    with nogil:
        for i in range(n):
            s = idx[i]
            if length[s] < k:
                out[i] = _MATCH_SHORT
                continue
            p = &data[s, off[s]]
            out[i] = _MATCH_OK
            for j in range(k):
                if (p[j] & mask[j]) != pattern[j]:
                    out[i] = <uint8_t>j
                    break
            if out[i] == _MATCH_OK:
                good += 1
                if pop:
                    off[s] += k
                    length[s] -= k
    return good


cdef inline uint32_t _mix(uint32_t h, uint32_t v) noexcept nogil:
    v *= 0xCC9E2D51u
    v = (v << 15) | (v >> 17)
    v *= 0x1B873593u
    h ^= v
    h = (h << 13) | (h >> 19)
    return h * 5 + 0xE6546B64u


cdef inline uint32_t _final(uint32_t h) noexcept nogil:
    h ^= h >> 16
    h *= 0x85EBCA6Bu
    h ^= h >> 13
    h *= 0xC2B2AE35u
    h ^= h >> 16
    return h


cdef inline uint32_t _frame_hash(const uint8_t* f, Py_ssize_t n) noexcept nogil:
    """Flow hash of an Ethernet frame: addresses and type, then the IPv4
    addresses and protocol, then TCP/UDP ports of an unfragmented packet."""
    cdef uint32_t h = 0x5A17
    cdef Py_ssize_t hl
    if n < 14:
        return _final(_mix(h, <uint32_t>n))
    h = _mix(h, _load32(f))
    h = _mix(h, _load32(f + 4))
    h = _mix(h, _load32(f + 8))
    h = _mix(h, _load16(f + 12))
    if _load16(f + 12) == 0x0800 and n >= 34 and (f[14] >> 4) == 4:
        h = _mix(h, _load32(f + 26))
        h = _mix(h, _load32(f + 30))
        h = _mix(h, f[23])
        hl = (f[14] & 0x0F) * 4
        if ((f[23] == 6 or f[23] == 17) and (_load16(f + 20) & 0x3FFF) == 0
                and hl >= 20 and n >= 14 + hl + 4):
            h = _mix(h, _load32(f + 14 + hl))
    return _final(h)


def flow_ports(pool, const uint32_t[::1] idx, uint16_t lo, uint16_t hi, uint16_t[::1] out,
               Py_ssize_t skip=0):
    """A UDP source port in [lo, hi] for each packet, from a hash of the flow of
    the Ethernet frame `skip` bytes into it (RFC 7348 section 5; Linux's
    udp_flow_src_port scaling)."""
    cdef uint8_t[:, ::1] data = pool.data
    cdef uint16_t[::1] off = pool.off
    cdef uint16_t[::1] length = pool.length
    cdef Py_ssize_t i, n = idx.shape[0]
    cdef uint32_t s, h
    cdef uint64_t span
    if hi < lo:
        raise ValueError(f"port range {lo}-{hi} is empty")
    span = <uint64_t>hi - lo + 1
    if skip < 0:
        raise ValueError(f"skip must be 0 or more, not {skip}")
    _check_pool(pool, idx, out.shape[0])
    with nogil:
        for i in range(n):
            s = idx[i]
            if length[s] >= skip:
                h = _frame_hash(&data[s, off[s] + skip], length[s] - skip)
            else:
                h = _frame_hash(&data[s, off[s]], 0)
            out[i] = <uint16_t>(lo + ((<uint64_t>h * span) >> 32))
