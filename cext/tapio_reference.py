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
    hr = pool.headroom if headroom is None else headroom
    if not 0 <= hr < pool.slot_size:
        raise ValueError(f"headroom {hr} outside the {pool.slot_size}-byte slot")
    if max_n <= 0:
        return np.zeros(0, dtype=np.uint32)
    idx = pool.alloc_upto(max_n).idx
    room = pool.slot_size - hr
    stamp = time.time_ns()
    k = 0
    error = None
    while k < len(idx):
        try:
            frame = os.read(fd, room)
        except InterruptedError:
            continue
        except OSError as e:
            error = e
            break
        if not frame:
            break
        slot = idx[k]
        pool.data[slot, hr:hr + len(frame)] = np.frombuffer(frame, np.uint8)
        pool.off[slot] = hr
        pool.length[slot] = len(frame)
        pool.ts_ns[slot] = stamp
        k += 1
    if k < len(idx):
        pool.free(idx[k:])
    if k == 0 and error is not None and error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
        raise error
    return idx[:k]


def write_burst(fd: int, pool, idx) -> tuple[int, int]:
    """Write the packets of idx to fd in order; returns (n_sent, errno_at_stop)."""
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
        try:
            os.write(fd, pool.data[slot, o:o + int(pool.length[slot])])
        except InterruptedError:
            continue
        except OSError as e:
            return k, e.errno
        k += 1
    return k, 0


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
