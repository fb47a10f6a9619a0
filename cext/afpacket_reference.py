"""Plain-Python twins of cext/afpacket.pyx: one recvmsg or send per packet.

`RxSocket` and `TxSocket` offer the methods of the compiled `RxRing` and
`TxRing` (receive, discard, send, flush, and the same counters) over a plain
AF_PACKET socket without rings: the obvious way to move packets, one system
call each.  They are the reference the ring walkers are tested against, the
per-packet baseline of bench/bench_afpacket.py, and what FromDevice and
ToDevice use with RING false or when a ring cannot be set up.

Conventions shared with the compiled classes:
- receive(pool, slots) fills slots[0:n] in arrival order: bytes at the
  pool's headroom, off = headroom, length, ts_ns (kernel receive time,
  CLOCK_REALTIME ns) and ptype (sll_pkttype); returns n.
- a frame the kernel sent out of the device (PACKET_OUTGOING) is skipped and
  counted in `outgoing` when ignore_outgoing is true; a frame longer than
  `max_len` or than a slot's room is skipped and counted in `too_long`.
- with vnet_hdr (PACKET_VNET_HDR on the socket) a frame whose TCP/UDP
  checksum was left to the device (CHECKSUM_PARTIAL, as on veth) gets it
  filled in and is counted in `checksummed`; with keep_offload as well the
  header's state goes into the pool's offload annotations instead.  A
  sender with vnet_hdr puts a header made from them in front of each frame.
- send(pool, idx, start=0) -> (consumed, queued): consumed packets of
  idx[start:] were taken (fewer than offered means "try again when the socket
  is writable"), queued of them were handed to the kernel.
"""
from __future__ import annotations

import errno
import socket
import struct

from vforward.cext.tapio_reference import take_vnet, vnet_header
from vforward.packet import OUTGOING

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_TIMESPEC = struct.Struct("@qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
# struct virtio_net_hdr: flags, gso_type, hdr_len, gso_size, csum_start, csum_offset
_VNET = struct.Struct("<BBHHHH")
_NEEDS_CSUM = 1


def complete_checksum(frame, start: int, offset: int) -> None:
    """Fill in the checksum at start + offset of a CHECKSUM_PARTIAL frame
    (a writable buffer): the ones' complement of the 16-bit sum from start
    to the end, the field holding the pseudo-header sum; 0 goes out as 0xFFFF."""
    n = len(frame)
    if start + offset + 2 > n:
        return
    tail = bytes(frame[start:])
    if len(tail) % 2:
        tail += b"\0"
    s = sum(struct.unpack(f">{len(tail) // 2}H", tail))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    c = ~s & 0xFFFF or 0xFFFF
    frame[start + offset] = c >> 8
    frame[start + offset + 1] = c & 0xFF



class RxSocket:
    """Per-packet receive from a plain AF_PACKET socket (non-blocking reads)."""

    def __init__(self, sock: socket.socket, ignore_outgoing: bool = True, vnet_hdr: bool = False):
        self.sock = sock
        self.ignore_outgoing = ignore_outgoing
        self.vnet_hdr = vnet_hdr
        self.max_len = 0xFFFF
        self.outgoing = 0
        self.too_long = 0
        self.checksummed = 0
        self.keep_offload = False
        self._vnet = bytearray(_VNET.size)
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def close(self) -> None:
        pass

    def receive(self, pool, slots) -> int:
        sock = self.sock
        h = pool.headroom
        room = pool.slot_size - h
        limit = min(room, self.max_len)
        n = 0
        while n < len(slots):
            slot = int(slots[n])
            view = pool.data[slot, h:h + room]
            buffers = [self._vnet, view] if self.vnet_hdr else [view]
            try:
                nbytes, anc, flags, addr = sock.recvmsg_into(buffers, _ANCILLARY,
                                                             socket.MSG_DONTWAIT | socket.MSG_TRUNC)
            except (BlockingIOError, InterruptedError):
                break
            if self.vnet_hdr:
                nbytes -= _VNET.size
            pkttype = addr[2]
            if pkttype == OUTGOING and self.ignore_outgoing:
                self.outgoing += 1
                continue
            if nbytes > limit:
                self.too_long += 1
                continue
            ts = 0
            for level, kind, payload in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = _TIMESPEC.unpack_from(payload)
                    ts = sec * 1_000_000_000 + nsec
            pool.length[slot] = nbytes
            if self.vnet_hdr and self.keep_offload:
                take_vnet(pool, slot, self._vnet, h, 14)
            elif self.vnet_hdr:
                vflags, _, _, _, csum_start, csum_offset = _VNET.unpack(self._vnet)
                if vflags & _NEEDS_CSUM:
                    complete_checksum(view[:nbytes], csum_start, csum_offset)
                    self.checksummed += 1
            pool.off[slot] = h
            pool.length[slot] = nbytes
            pool.ts_ns[slot] = ts
            pool.ptype[slot] = pkttype
            n += 1
        return n

    def ready(self, max_n: int) -> int:
        """0 when no frame waits, else max_n: a plain socket cannot count its
        frames without reading them, so receive() finds out how many there are."""
        if max_n <= 0:
            return 0
        try:
            # (room for the virtio_net_hdr, which a shorter buffer is refused for)
            self.sock.recv(64, socket.MSG_DONTWAIT | socket.MSG_PEEK)
        except (BlockingIOError, InterruptedError):
            return 0
        return max_n

    def discard(self, max_n: int) -> int:
        n = 0
        while n < max_n:
            try:
                self.sock.recv(1, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            n += 1
        return n


class TxSocket:
    """Per-packet send on a plain AF_PACKET socket (non-blocking writes)."""

    def __init__(self, sock: socket.socket, vnet_hdr: bool = False):
        self.sock = sock
        self.vnet_hdr = vnet_hdr
        self.too_long = 0
        self.rejected = 0
        self.last_errno = 0

    def close(self) -> None:
        pass

    def flush(self) -> int:
        return 0   # nothing is held back: every send() goes out at once

    def send(self, pool, idx, start: int = 0) -> tuple[int, int]:
        """Send idx[start:] one by one until the socket buffer is full (EAGAIN)."""
        sock = self.sock
        data, off, length = pool.data, pool.off, pool.length
        i, end, queued = start, len(idx), 0
        while i < end:
            slot = int(idx[i])
            o = int(off[slot])
            frame = data[slot, o:o + int(length[slot])]
            if self.vnet_hdr:
                hdr = vnet_header(frame, int(pool.csum_start[slot]), o,
                                  int(pool.csum_offset[slot]), int(pool.gso_type[slot]),
                                  int(pool.gso_size[slot]))
                if hdr is None:     # offload state that cannot be sent: dropped
                    i += 1
                    self.rejected += 1
                    continue
                frame = hdr + frame.tobytes()
            try:
                sock.send(frame, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                self.last_errno = errno.EAGAIN
                break
            except OSError as e:
                # The device refused the packet (ENOBUFS: its queue dropped it;
                # EMSGSIZE: longer than the MTU; ENETDOWN ...): it is gone.
                i += 1
                self.last_errno = e.errno
                if e.errno == errno.EMSGSIZE:
                    self.too_long += 1
                else:
                    self.rejected += 1
                continue
            i += 1
            queued += 1
        else:
            self.last_errno = 0
        return i - start, queued
