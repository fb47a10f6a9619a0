"""Plain-Python references for the burst I/O loops in cext/tapio.pyx.

Same names, same signatures, same results: one `os.read` or `os.write` per
packet, the obvious loop that a per-packet forwarder in Python would run.
The module docstring of tapio.pyx states the conventions both follow.
"""
from __future__ import annotations

import errno
import os
import time

import numpy as np


def read_burst(fd: int, pool, max_n: int, headroom: int | None = None) -> np.ndarray:
    """Read up to max_n frames from fd into fresh pool slots; returns their indices."""
    return _read_frames(fd, pool, max_n, headroom, None)


def write_burst(fd: int, pool, idx) -> tuple[int, int]:
    """Write the packets of idx to fd in order; returns (n_sent, errno_at_stop)."""
    return _write_frames(fd, pool, idx, False)


def drain(fd: int, max_n: int) -> int:
    """Read and throw away up to max_n frames; returns how many."""
    k = 0
    while k < max_n:
        try:
            if not os.read(fd, 65536):
                break
        except InterruptedError:
            continue
        except OSError:
            break
        k += 1
    return k


VNET_HDR_LEN = 10
_NEEDS_CSUM = 1
_GSO_TCP = (1, 4)
_GSO_UDP_L4 = 5


def read_burst_vnet(fd: int, pool, max_n: int, l2_len: int = 14,
                    headroom: int | None = None) -> np.ndarray:
    """read_burst for a device with a virtio_net_hdr in front of every frame."""
    return _read_frames(fd, pool, max_n, headroom, l2_len)


def _read_frames(fd: int, pool, max_n: int, headroom, vnet_l2_len) -> np.ndarray:
    """The read loop of both; with vnet_l2_len (not None) each frame has a header."""
    hr = pool.headroom if headroom is None else headroom
    if not 0 <= hr < pool.slot_size:
        raise ValueError(f"headroom {hr} outside the {pool.slot_size}-byte slot")
    if max_n <= 0:
        return np.zeros(0, dtype=np.uint32)
    idx = pool.alloc_upto(max_n).idx
    room = pool.slot_size - hr
    stamp = time.time_ns()
    hdr = bytearray(VNET_HDR_LEN)
    hlen = 0 if vnet_l2_len is None else VNET_HDR_LEN
    k = 0
    error = None
    while k < len(idx):
        slot = idx[k]
        body = memoryview(pool.data[slot, hr:hr + room])
        try:
            r = os.readv(fd, [hdr, body] if hlen else [body])
        except InterruptedError:
            continue
        except OSError as e:
            error = e
            break
        if r <= 0:
            break
        if r < hlen:
            continue
        pool.off[slot] = hr
        pool.length[slot] = r - hlen
        pool.ts_ns[slot] = stamp
        if hlen:
            take_vnet(pool, slot, hdr, hr, vnet_l2_len)
        k += 1
    if k < len(idx):
        pool.free(idx[k:])
    if k == 0 and error is not None and error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
        raise error
    return idx[:k]


def take_vnet(pool, slot: int, hdr, start: int, l2_len: int) -> None:
    """The offload annotations of the frame at `start` in slot, from its virtio_net_hdr."""
    flags, gtype = hdr[0], hdr[1]
    if not (flags & _NEEDS_CSUM or gtype & 0x7F):
        return
    if flags & _NEEDS_CSUM:
        pool.csum_start[slot] = min(start + int.from_bytes(hdr[6:8], "little"), 0xFFFF)
        pool.csum_offset[slot] = min(int.from_bytes(hdr[8:10], "little"), 0xFF)
    if gtype & 0x7F:
        pool.gso_type[slot] = gtype
        pool.gso_size[slot] = int.from_bytes(hdr[4:6], "little")
    l2 = l2_len
    if l2 == 14 and pool.length[slot] >= 18 and \
            bytes(pool.data[slot, start + 12:start + 14]) == b"\x81\x00":
        l2 = 18
    pool.nh[slot] = start + l2


def vnet_header(frame, cs_abs: int, offset: int, co: int, gtype: int, gsize: int):
    """The virtio_net_hdr for one frame, or None when its annotations cannot be sent."""
    length = len(frame)
    if cs_abs == 0:
        return None if gsize else bytes(VNET_HDR_LEN)
    cs = cs_abs - offset
    if cs < 0 or cs + co + 2 > length:
        return None
    hdr_len = cs + co + 2
    if gsize:
        if gtype & 0x7F in _GSO_TCP:
            if cs + 13 > length:
                return None
            hdr_len = cs + (int(frame[cs + 12]) >> 4) * 4
        elif gtype & 0x7F == _GSO_UDP_L4:
            hdr_len = cs + 8
        else:
            return None
        if hdr_len > length:
            return None
    else:
        gtype = 0
    return bytes([_NEEDS_CSUM, gtype]) + b"".join(
        v.to_bytes(2, "little") for v in (hdr_len, gsize, cs, co))


def write_burst_vnet(fd: int, pool, idx) -> tuple[int, int]:
    """write_burst for a device with a virtio_net_hdr in front of every frame."""
    return _write_frames(fd, pool, idx, True)


def _write_frames(fd: int, pool, idx, vnet: bool) -> tuple[int, int]:
    """The write loop of both; with vnet each frame goes behind its header."""
    idx = np.ascontiguousarray(idx, dtype=np.uint32)
    for s in idx:
        if s >= pool.n_slots:
            raise IndexError(f"slot {s} outside the pool of {pool.n_slots}")
        if int(pool.off[s]) + int(pool.length[s]) > pool.slot_size:
            raise ValueError(f"packet in slot {s} runs past the end of its slot")
    k = 0
    while k < len(idx):
        slot = idx[k]
        o = int(pool.off[slot])
        frame = pool.data[slot, o:o + int(pool.length[slot])]
        parts = [frame]
        if vnet:
            hdr = vnet_header(frame, int(pool.csum_start[slot]), o, int(pool.csum_offset[slot]),
                              int(pool.gso_type[slot]), int(pool.gso_size[slot]))
            if hdr is None:
                return k, errno.EINVAL
            parts = [hdr, frame]
        try:
            os.writev(fd, parts)
        except InterruptedError:
            continue
        except OSError as e:
            return k, e.errno
        k += 1
    return k, 0
