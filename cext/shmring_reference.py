"""Plain-Python reference of cext/shmring.pyx: the same ring operations, per packet.

The doorbell protocol (sleep, wake_needed) follows the same order of steps;
numpy stores are not fenced, so this twin states the logic and serves the
tests in one process, while two processes use the compiled one."""
import numpy as np

NONE = 0xFFFF
DESC_WORDS = 8


def put(head, tail, desc, data, pool, idx) -> int:
    n_slots, ring_slot = desc.shape[0], data.shape[1]
    for s in idx:
        if int(pool.length[s]) > ring_slot:
            raise ValueError("a packet is longer than the ring's slots")
    h, t = int(head[0]), int(tail[0])
    n = min(len(idx), n_slots - (h - t))
    for i in range(n):
        s = int(idx[i])
        k = (h + i) % n_slots
        o, length = int(pool.off[s]), int(pool.length[s])
        data[k, :length] = pool.data[s, o:o + length]
        nh, cs = int(pool.nh[s]), int(pool.csum_start[s])
        desc[k] = (length & 0xFFFF, length >> 16, nh - o if nh and nh >= o else NONE,
                   cs - o if cs and cs >= o else NONE, pool.csum_offset[s], pool.gso_type[s],
                   pool.gso_size[s], 0)
    head[0] = h + n
    return n


def get(head, tail, desc, data, pool, max_n: int) -> np.ndarray:
    n_slots = desc.shape[0]
    t, h = int(tail[0]), int(head[0])
    n = min(h - t, max_n, pool.n_free)
    if n <= 0:
        return np.empty(0, dtype=np.uint32)
    out = pool.alloc(n).idx
    hr, room = pool.headroom, pool.slot_size - pool.headroom
    for i, d in enumerate(out):
        k = (t + i) % n_slots
        row = [int(v) for v in desc[k]]
        length = row[0] | (row[1] << 16)
        if length > room:
            length = 0
        pool.data[d, hr:hr + length] = data[k, :length]
        pool.off[d], pool.length[d] = hr, length
        pool.nh[d] = hr + row[2] if row[2] != NONE else 0
        pool.csum_start[d] = hr + row[3] if row[3] != NONE else 0
        pool.csum_offset[d], pool.gso_type[d], pool.gso_size[d] = row[4], row[5], row[6]
    tail[0] = t + n
    return out


def sleep(flags, side: int, head, tail) -> bool:
    flags[side] = 1
    if int(head[0]) == int(tail[0]):
        return True
    flags[side] = 0
    return False


def wake_needed(flags, side: int) -> bool:
    was = int(flags[side])
    flags[side] = 0
    return was != 0
