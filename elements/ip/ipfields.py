"""Vectorised access to IPv4 header fields at the nh annotation, for whole batches.

The IP elements that do not need a compiled kernel of their own (DecIPTTL's
multicast test, IPFragmenter's size test, SetIPChecksum's header test) read
and write header fields of every packet of a batch with one numpy fancy index
each, never a Python loop.  Positions are absolute
positions in the slot row, as the nh annotation is.

`ipheader` is the module of compiled header kernels (cext/ipheader.pyx), or
its plain-Python reference when the extension is not built.
"""
from __future__ import annotations

import numpy as np

from vforward import kernels

ipheader = kernels.load("ipheader")

IP_MIN_HLEN = 20
PROTO_ICMP = 1
IP_DF = 0x4000
IP_MF = 0x2000
IP_OFFMASK = 0x1FFF


def gather(pool, idx: np.ndarray, pos: np.ndarray, n: int) -> np.ndarray:
    """(len(idx), n) uint8: n bytes of each packet starting at absolute row position pos.

    Positions past the end of the row are clamped to its last byte, so the
    read never fails; callers only trust the bytes of packets they checked.
    """
    cols = pos.astype(np.int64)[:, None] + np.arange(n, dtype=np.int64)
    np.minimum(cols, pool.slot_size - 1, out=cols)
    return pool.data[idx[:, None], cols]


def be16(b: np.ndarray, at: int = 0) -> np.ndarray:
    """Big-endian 16-bit values from columns at, at+1 of a gathered byte matrix."""
    return (b[:, at].astype(np.uint32) << 8) | b[:, at + 1]


def be32(b: np.ndarray, at: int = 0) -> np.ndarray:
    return ((b[:, at].astype(np.uint32) << 24) | (b[:, at + 1].astype(np.uint32) << 16)
            | (b[:, at + 2].astype(np.uint32) << 8) | b[:, at + 3])


def put16(pool, idx: np.ndarray, pos: np.ndarray, values: np.ndarray) -> None:
    """Store big-endian 16-bit values at absolute row positions."""
    values = values.astype(np.uint32)
    pool.data[idx, pos] = (values >> 8).astype(np.uint8)
    pool.data[idx, pos + 1] = (values & 0xFF).astype(np.uint8)


def packet_bounds(pool, idx: np.ndarray):
    """(start, end, nh) of each packet as int64 arrays."""
    start = pool.off[idx].astype(np.int64)
    end = start + pool.length[idx]
    return start, end, pool.nh[idx].astype(np.int64)


def ip_header_mask(pool, idx: np.ndarray) -> np.ndarray:
    """True where a whole IP header (IHL words, at least 20 bytes) lies at nh inside
    the packet, and the packet inside its slot: what the kernels call a header at nh."""
    start, end, h = packet_bounds(pool, idx)
    ok = (end <= pool.slot_size) & (h >= start) & (h + IP_MIN_HLEN <= end)
    hlen = (pool.data[idx, np.minimum(h, pool.slot_size - 1)].astype(np.int64) & 0x0F) * 4
    return ok & (hlen >= IP_MIN_HLEN) & (h + hlen <= end)
