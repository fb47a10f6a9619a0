"""Plain-Python reference of cext/gso.pyx: checksum completion and GSO segmentation.

Same names, same signatures, same results byte for byte (the tests run both on
copies of one pool).  One packet at a time, in two passes around a single
`pool.alloc_upto` for every segment of the batch:

1. classify each packet (nothing to do, malformed, finish in place, or k
   segments) and finish the in-place ones;
2. hand the new slots out to the super-frames in order; one that no longer
   fits is dropped as exhausted, a later smaller one may still fit.

Then one `pool.free` takes back, in this order, the consumed, malformed and
exhausted packets of idx, then the new slots nobody used.  Slots in idx must
be distinct and in use, as in any batch.

Rules worth knowing (every malformed check is in `_classify`):
- a finished checksum of 0 is stored as 0xFFFF for TCP too, as Linux's
  skb_checksum_help does; both verify the same;
- a partial checksum without gso_size needs only csum_start/csum_offset
  inside the packet (no nh: a bridge graph never sets it); its gso_type is
  ignored and cleared;
- a super-frame (gso_size > 0) is checked in full even when its payload fits
  one segment, so whether it is malformed never depends on its size;
- segment checksums are computed from the IP addresses, not from the field;
- a packet with offload state whose length runs past its slot is malformed.
"""
from __future__ import annotations

import numpy as np

from vforward.packet import (ANNOTATIONS, GSO_ECN, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4,
                             OFFLOAD_ANNOTATIONS)

_MALFORMED = -1
_COPIED = tuple(n for n in ANNOTATIONS if n not in OFFLOAD_ANNOTATIONS)
_FIN, _PSH, _CWR = 0x01, 0x08, 0x80


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _sum16(b) -> int:
    """Folded ones' complement sum of big-endian words; an odd last byte is padded."""
    b = bytes(b)
    if len(b) % 2:
        b += b"\0"
    return _fold(sum(int.from_bytes(b[i:i + 2], "big") for i in range(0, len(b), 2)))


def _get16(row, p: int) -> int:
    return (int(row[p]) << 8) | int(row[p + 1])


def _put16(row, p: int, v: int) -> None:
    row[p] = (v >> 8) & 0xFF
    row[p + 1] = v & 0xFF


def _finish(row, cs: int, co: int, end: int) -> None:
    """Sum from cs to end (the field as it is) into the field; 0 goes out as 0xFFFF (Linux)."""
    _put16(row, cs + co, (~_sum16(row[cs:end]) & 0xFFFF) or 0xFFFF)


def needs_resolve(pool, idx) -> bool:
    """Whether any packet of idx has a partial checksum or is a GSO super-frame."""
    idx = np.asarray(idx)
    return bool(((pool.csum_start[idx] != 0) | (pool.gso_size[idx] != 0)).any())


def _classify(pool, s: int):
    """(k, header end): k is _MALFORMED, 0 (no offload state), 1 (finish in place) or segments."""
    o = int(pool.off[s])
    end = o + int(pool.length[s])
    cs, co = int(pool.csum_start[s]), int(pool.csum_offset[s])
    gs, kind = int(pool.gso_size[s]), int(pool.gso_type[s]) & ~GSO_ECN
    if cs == 0 and gs == 0:
        return 0, 0
    if end > pool.data.shape[1] or cs < o or cs + co + 2 > end:
        return _MALFORMED, 0
    if gs == 0:
        return 1, 0
    if kind in (GSO_TCPV4, GSO_TCPV6):
        proto = 6
    elif kind == GSO_UDP_L4:
        proto = 17
    else:                                   # NONE with a size, UFO, unknown
        return _MALFORMED, 0
    if co != (16 if proto == 6 else 6):
        return _MALFORMED, 0
    row = pool.data[s]
    h = int(pool.nh[s])
    if not o <= h < cs:
        return _MALFORMED, 0
    version = int(row[h]) >> 4
    if version == 4 and kind != GSO_TCPV6:
        hl = (int(row[h]) & 0x0F) * 4
        if hl < 20 or h + hl > cs or row[h + 9] != proto:
            return _MALFORMED, 0
    elif version == 6 and kind != GSO_TCPV4:
        nxt = int(row[h + 6]) if h + 40 <= cs else -1
        if nxt < 0 or (nxt in (6, 17) and nxt != proto):
            return _MALFORMED, 0
    else:
        return _MALFORMED, 0
    l4 = (int(row[cs + 12]) >> 4) * 4 if proto == 6 else 8   # co checked: cs + 18 <= end
    if l4 < (20 if proto == 6 else 8) or cs + l4 > end:
        return _MALFORMED, 0
    payload = end - cs - l4
    return (1 if payload <= gs else -(-payload // gs)), cs + l4


def _finish_in_place(pool, s: int) -> None:
    o = int(pool.off[s])
    _finish(pool.data[s], int(pool.csum_start[s]), int(pool.csum_offset[s]),
            o + int(pool.length[s]))
    for name in OFFLOAD_ANNOTATIONS:
        getattr(pool, name)[s] = 0


def _segment(pool, s: int, dst, hdr_end: int) -> None:
    """Write the len(dst) segments of super-frame s into the slots dst."""
    src = pool.data[s]
    o = int(pool.off[s])
    end = o + int(pool.length[s])
    cs, co, gs, h = (int(pool.csum_start[s]), int(pool.csum_offset[s]),
                     int(pool.gso_size[s]), int(pool.nh[s]))
    tcp = int(pool.gso_type[s]) & ~GSO_ECN != GSO_UDP_L4
    proto = 6 if tcp else 17
    v4 = int(src[h]) >> 4 == 4
    hl = (int(src[h]) & 0x0F) * 4
    ident = _get16(src, h + 4)
    seq = int.from_bytes(bytes(src[cs + 4:cs + 8]), "big")
    flags = int(src[cs + 13])
    k = len(dst)
    for i, d in enumerate(int(x) for x in dst):
        lo = hdr_end + i * gs
        chunk = min(gs, end - lo)
        seg_end = hdr_end + chunk
        r = pool.data[d]
        r[o:hdr_end] = src[o:hdr_end]
        r[hdr_end:seg_end] = src[lo:lo + chunk]
        pool.off[d] = o
        pool.length[d] = seg_end - o
        for name in _COPIED:
            col = getattr(pool, name)
            col[d] = col[s]
        for name in OFFLOAD_ANNOTATIONS:
            getattr(pool, name)[d] = 0
        if v4:
            _put16(r, h + 2, seg_end - h)
            _put16(r, h + 4, (ident + i) & 0xFFFF)
            _put16(r, h + 10, 0)
            _put16(r, h + 10, ~_sum16(r[h:h + hl]) & 0xFFFF)
            ph = _sum16(r[h + 12:h + 20])
        else:
            _put16(r, h + 4, seg_end - h - 40)
            ph = _sum16(r[h + 8:h + 40])
        if tcp:
            r[cs + 4:cs + 8] = np.frombuffer(((seq + i * gs) & 0xFFFFFFFF).to_bytes(4, "big"),
                                             np.uint8)
            f = flags
            if i < k - 1:
                f &= ~(_FIN | _PSH)
            if i > 0:
                f &= ~_CWR
            r[cs + 13] = f
        else:
            _put16(r, cs + 4, seg_end - cs)
        _put16(r, cs + co, _fold(ph + proto + seg_end - cs))   # pseudo-header, then finish
        _finish(r, cs, co, seg_end)


def resolve(pool, idx):
    """Finish partial checksums and segment GSO super-frames (see the module docstring).

    Returns (out_idx, n_malformed, n_exhausted); out_idx keeps the order of idx
    with each super-frame replaced by its segments.
    """
    idx = np.asarray(idx, dtype=np.uint32)
    if len(idx) and int(idx.max()) >= pool.data.shape[0]:
        raise IndexError(f"slot {int(idx.max())} is out of range for a pool of "
                         f"{pool.data.shape[0]} slots")
    plan = []
    for s in idx.tolist():
        k, hdr_end = _classify(pool, s)
        if k == 1:
            _finish_in_place(pool, s)
        plan.append((s, k, hdr_end))
    total = sum(k for _, k, _ in plan if k >= 2)
    new = pool.alloc_upto(total).idx if total else np.zeros(0, np.uint32)
    out, to_free = [], []
    pos = n_malformed = n_exhausted = 0
    for s, k, hdr_end in plan:
        if k < 2 and k != _MALFORMED:
            out.append(s)
            continue
        to_free.append(s)
        if k == _MALFORMED:
            n_malformed += 1
        elif pos + k > len(new):
            n_exhausted += 1
        else:
            _segment(pool, s, new[pos:pos + k], hdr_end)
            out.extend(new[pos:pos + k].tolist())
            pos += k
    to_free.extend(new[pos:].tolist())
    pool.free(np.array(to_free, dtype=np.uint32))
    return np.array(out, dtype=np.uint32), n_malformed, n_exhausted
