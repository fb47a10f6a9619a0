"""Plain-Python reference of cext/poolops.pyx: the same SlotAllocator, in numpy."""
import numpy as np


class SlotAllocator:
    """The free stack of one pool (reference implementation)."""

    def __init__(self, pool):
        self.pool = pool
        self.n_free = pool.n_slots

    def alloc(self, n: int, length: int) -> np.ndarray:
        if n > self.n_free or n < 0:
            raise ValueError("not enough free slots")
        p = self.pool
        top = self.n_free
        idx = p._free[top - n:top].copy()
        self.n_free = top - n
        p._in_use[idx] = True
        p.off[idx] = p.headroom
        p.length[idx] = length
        for name in ("nh", "dst_ip", "port", "paint", "ptype", "ts_ns", "user",
                     "csum_start", "csum_offset", "gso_type", "gso_size"):
            getattr(p, name)[idx] = 0
        return idx

    def free_slots(self, idx: np.ndarray) -> None:
        p = self.pool
        k = len(idx)
        if k and ((idx >= p.n_slots).any() or not p._in_use[idx].all() or len(np.unique(idx)) != k):
            raise RuntimeError("packet slot freed twice (an element kept a packet it had sent on)")
        p._in_use[idx] = False
        p._free[self.n_free:self.n_free + k] = idx
        self.n_free += k

    def min_offset(self, idx: np.ndarray) -> int:
        return int(self.pool.off[idx].min()) if len(idx) else self.pool.slot_size

    def push_header(self, idx: np.ndarray, header: np.ndarray) -> None:
        p = self.pool
        k = header.shape[1]
        if header.shape[0] not in (1, len(idx)):
            raise ValueError("header needs one row, or one per packet")
        for s in idx:
            if int(p.off[s]) < k or int(p.length[s]) + k > 0xFFFF:
                raise ValueError("a packet lacks the headroom for the header")
        for i, s in enumerate(idx):
            p.off[s] -= k
            p.length[s] += k
            o = int(p.off[s])
            p.data[s, o:o + k] = header[i if header.shape[0] > 1 else 0]

    def push_ether(self, idx: np.ndarray, dst_table: np.ndarray, row: int,
                   src_type: np.ndarray) -> None:
        if dst_table.ndim != 2 or dst_table.shape[1] != 6:
            raise ValueError("dst_table must be a contiguous (rows, 6) uint8 array")
        if not 0 <= row < len(dst_table):
            raise IndexError(f"row {row} outside the table of {len(dst_table)}")
        if src_type.size != 8:
            raise ValueError("src_type must be 8 contiguous uint8 bytes")
        header = np.concatenate((dst_table[row], src_type.reshape(-1))).reshape(1, 14)
        self.push_header(idx, header)

    def max_length(self, idx: np.ndarray) -> int:
        return int(self.pool.length[idx].max()) if len(idx) else 0

    def byte_count(self, idx: np.ndarray) -> int:
        return int(self.pool.length[idx].sum(dtype=np.uint64))

    def fill(self, idx: np.ndarray, payload: np.ndarray) -> None:
        p = self.pool
        n = len(payload)
        for s in idx:
            o = int(p.off[s])
            if o + n <= p.slot_size:
                p.data[s, o:o + n] = payload

    def strip(self, idx: np.ndarray, n: int) -> None:
        p = self.pool
        for s in idx:
            k = min(int(p.length[s]), n)
            p.off[s] += k
            p.length[s] -= k

    def unstrip(self, idx: np.ndarray, n: int):
        p = self.pool
        short = np.array([int(p.off[s]) < n or int(p.length[s]) + n > 0xFFFF for s in idx],
                         dtype=bool)
        if short.any():
            return short
        for s in idx:
            p.off[s] -= n
            p.length[s] += n
        return None


    def copy_from(self, src, src_idx: np.ndarray, dst_idx: np.ndarray) -> None:
        p, q = self.pool, src.pool
        if len(src_idx) != len(dst_idx):
            raise ValueError("src_idx and dst_idx differ in length")
        for s, d in zip(src_idx, dst_idx):
            if s >= q.n_slots or d >= p.n_slots:
                raise ValueError("slot index out of range")
            if p.headroom + int(q.length[s]) > p.slot_size:
                raise ValueError("a packet is longer than this pool's slots hold")
        for s, d in zip(src_idx, dst_idx):
            o, n = int(q.off[s]), int(q.length[s])
            do = o if o + n <= p.slot_size else p.headroom
            p.data[d, do:do + n] = q.data[s, o:o + n]
            p.off[d], p.length[d] = do, n
            for name in ("nh", "csum_start"):
                v = int(getattr(q, name)[s])
                moved = v + do - o
                getattr(p, name)[d] = moved if v and 0 <= moved < p.slot_size else 0
            for name in ("dst_ip", "port", "paint", "ptype", "ts_ns", "user",
                         "csum_offset", "gso_type", "gso_size"):
                getattr(p, name)[d] = getattr(q, name)[s]


def partition(idx: np.ndarray, ports: np.ndarray, n_ports: int):
    """Indices grouped by port (stable) and the n_ports + 1 group offsets."""
    if len(ports) and int(ports.max()) >= n_ports:
        raise ValueError(f"output port {int(ports.max())} out of range 0..{n_ports - 1}")
    order = np.argsort(ports, kind="stable")
    bounds = np.searchsorted(ports[order], np.arange(n_ports + 1))
    return idx[order].astype(np.uint32), bounds
