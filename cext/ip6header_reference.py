"""Plain-Python references for the IPv6 header kernels in cext/ip6header.pyx.

Same names, same signatures, same results, byte for byte; one packet at a
time, meant to be read.
"""
from __future__ import annotations

OK, TOO_SHORT, BAD_VERSION, BAD_LENGTH, BAD_SADDR = range(5)
REASONS = ("ok", "tiny packet", "bad IP version", "bad IP length", "bad source address")
IP6_HLEN = 40


def _check_batch(pool, idx, n_out):
    if n_out < len(idx):
        raise ValueError(f"output array has {n_out} entries for a batch of {len(idx)} packets")
    if len(idx) and int(max(idx)) >= pool.data.shape[0]:
        raise IndexError(f"slot {int(max(idx))} is out of range for a pool of "
                         f"{pool.data.shape[0]} slots")


def check_ip6_header(pool, idx, offset, out_reason):
    if offset < 0:
        raise ValueError(f"IPv6 header offset must be 0 or more, not {offset}")
    _check_batch(pool, idx, len(out_reason))
    row_size = pool.data.shape[1]
    good = 0
    for i, slot in enumerate(int(s) for s in idx):
        o = int(pool.off[slot])
        end = o + int(pool.length[slot])
        h = o + offset
        if end > row_size or h + IP6_HLEN > end:
            out_reason[i] = TOO_SHORT
            continue
        ip = pool.data[slot, h:h + IP6_HLEN].tobytes()
        if ip[0] >> 4 != 6:
            out_reason[i] = BAD_VERSION
            continue
        plen = int.from_bytes(ip[4:6], "big") or end - h - IP6_HLEN
        if h + IP6_HLEN + plen > end:
            out_reason[i] = BAD_LENGTH
            continue
        if ip[8] == 0xFF:
            out_reason[i] = BAD_SADDR
            continue
        out_reason[i] = OK
        good += 1
        pool.nh[slot] = h
        pool.dst_ip6[slot] = list(ip[24:40])
        pool.length[slot] = h + IP6_HLEN + plen - o
    return good


def dec_ip6_hlim(pool, idx, out_expired):
    _check_batch(pool, idx, len(out_expired))
    row_size = pool.data.shape[1]
    expired = 0
    for i, slot in enumerate(int(s) for s in idx):
        out_expired[i] = 0
        o, h = int(pool.off[slot]), int(pool.nh[slot])
        if h < o or h + IP6_HLEN > o + int(pool.length[slot]) or h + IP6_HLEN > row_size:
            continue
        if pool.data[slot, h + 7] <= 1:
            out_expired[i] = 1
            expired += 1
            continue
        pool.data[slot, h + 7] -= 1
    return expired


def same_dst_ip6(pool, idx):
    if not len(idx):
        return False
    _check_batch(pool, idx, len(idx))
    first = pool.dst_ip6[int(idx[0])].tobytes()
    return all(pool.dst_ip6[int(s)].tobytes() == first for s in idx)
