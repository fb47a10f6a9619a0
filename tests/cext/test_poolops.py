"""Compiled slot allocator against its plain-Python reference, on random operation sequences."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vforward.cext import poolops, poolops_reference
from vforward.packet import ANNOTATIONS, Batch, PacketPool


def _pool(impl):
    pool = PacketPool(64, slot_size=256, headroom=32)
    pool._slots = impl.SlotAllocator(pool)
    return pool


def _state(pool):
    return (pool.n_free, pool._free[:pool.n_free].tolist(), pool._in_use.tolist(),
            pool.off.tolist(), pool.length.tolist(), pool.data.tobytes(),
            [getattr(pool, n).tolist() for n in ANNOTATIONS])


ops = st.lists(st.tuples(st.sampled_from(["alloc", "free", "fill", "dirty"]),
                         st.integers(0, 40), st.integers(0, 300)), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(ops)
def test_compiled_and_reference_allocators_agree(sequence):
    pools = [_pool(poolops), _pool(poolops_reference)]
    held = [[], []]
    for op, n, length in sequence:
        for pool, mine in zip(pools, held):
            if op == "alloc" and n <= pool.n_free:
                mine.append(pool.alloc(n, length).idx)
            elif op == "free" and mine:
                pool.free(mine.pop(n % len(mine)))
            elif op == "fill" and mine:
                pool._slots.fill(mine[-1], np.full(length % 240, n, np.uint8))
            elif op == "dirty" and mine:
                idx = mine[-1]
                pool.paint[idx] = n
                pool.ts_ns[idx] = length
                pool.off[idx] = 1
        assert _state(pools[0]) == _state(pools[1])
        assert [len(h) for h in held[0]] == [len(h) for h in held[1]]


@pytest.mark.parametrize("impl", [poolops, poolops_reference])
def test_double_free_raises_and_frees_nothing(impl):
    pool = _pool(impl)
    a = pool.alloc(3).idx
    with pytest.raises(RuntimeError, match="freed twice"):
        pool.free(np.array([a[0], a[1], a[0]], dtype=np.uint32))
    assert pool.n_free == 61 and pool._in_use[a].all()
    pool.free(a)
    assert pool.n_free == 64


@pytest.mark.parametrize("impl", [poolops, poolops_reference])
def test_byte_count(impl):
    pool = _pool(impl)
    b = pool.from_bytes([b"a" * 10, b"b" * 200])
    assert pool._slots.byte_count(b.idx) == 210


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 200)), min_size=1, max_size=20),
       st.integers(0, 80), st.booleans())
def test_strip_and_unstrip_agree(packets, n, do_strip):
    pools = [_pool(poolops), _pool(poolops_reference)]
    results = []
    for pool in pools:
        b = pool.alloc(len(packets))
        pool.off[b.idx] = [min(o, 255) for o, _ in packets]
        pool.length[b.idx] = [min(ln, 256 - min(o, 255)) for o, ln in packets]
        if do_strip:
            results.append(pool._slots.strip(b.idx, n))
        else:
            r = pool._slots.unstrip(b.idx, n)
            results.append(None if r is None else r.tolist())
    assert results[0] == results[1]
    assert _state(pools[0]) == _state(pools[1])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.integers(0, 6), max_size=300), st.integers(7, 9))
def test_partition_kernel_matches_reference(ports, n_ports):
    idx = np.random.default_rng(len(ports)).permutation(1000)[:len(ports)].astype(np.uint32)
    p = np.array(ports, dtype=np.uint16)
    out_c, b_c = poolops.partition(idx, p, n_ports)
    out_r, b_r = poolops_reference.partition(idx, p, n_ports)
    assert out_c.tolist() == out_r.tolist() and list(b_c) == list(b_r)


@pytest.mark.parametrize("impl", [poolops, poolops_reference])
def test_partition_refuses_a_port_out_of_range(impl):
    with pytest.raises(ValueError, match="out of range"):
        impl.partition(np.arange(3, dtype=np.uint32), np.array([0, 5, 1], np.uint16), 3)


@pytest.mark.parametrize("impl", [poolops, poolops_reference])
def test_max_length(impl):
    pool = _pool(impl)
    b = pool.from_bytes([b"a" * 10, b"b" * 200, b"c"])
    assert pool._slots.max_length(b.idx) == 200
    assert pool._slots.max_length(b.idx[:0]) == 0


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 100)), min_size=1, max_size=12),
       st.integers(1, 20), st.booleans())
def test_push_header_and_min_offset_agree(packets, k, per_packet):
    pools = [_pool(poolops), _pool(poolops_reference)]
    results = []
    rng = np.random.default_rng(k)
    header = rng.integers(0, 256, (len(packets) if per_packet else 1, k), dtype=np.uint8)
    for pool in pools:
        b = pool.alloc(len(packets))
        pool.off[b.idx] = [o for o, _ in packets]
        pool.length[b.idx] = [ln for _, ln in packets]
        results.append(pool._slots.min_offset(b.idx))
        try:
            pool._slots.push_header(b.idx, header)
            results.append("ok")
        except ValueError:
            results.append("short")
    assert results[:2] == results[2:]
    assert _state(pools[0]) == _state(pools[1])


def _filled_pool(impl, n_slots, slot_size, headroom, packets):
    pool = PacketPool(n_slots, slot_size=slot_size, headroom=headroom)
    pool._slots = impl.SlotAllocator(pool)
    idx = pool.alloc(len(packets)).idx
    for s, (off, payload, nh, csum, ann) in zip(idx, packets):
        off = min(off, slot_size - len(payload))
        pool.off[s], pool.length[s] = off, len(payload)
        pool.data[s, off:off + len(payload)] = np.frombuffer(payload, np.uint8)
        pool.nh[s], pool.csum_start[s] = nh % slot_size, csum % slot_size
        for name, v in zip(("dst_ip", "port", "paint", "gso_size", "gso_type", "ts_ns"), ann):
            getattr(pool, name)[s] = v % 200
    return pool, idx


_copy_packets = st.lists(st.tuples(st.integers(0, 300), st.binary(max_size=200), st.integers(0, 400),
                                   st.integers(0, 400), st.lists(st.integers(0, 255), min_size=6,
                                                                 max_size=6)),
                         max_size=20)


@settings(max_examples=150, deadline=None)
@given(_copy_packets, st.sampled_from([(256, 32), (400, 64), (512, 16)]))
def test_compiled_and_reference_copies_between_pools_agree(packets, dst_shape):
    results = []
    for impl in (poolops, poolops_reference):
        src, idx = _filled_pool(impl, 32, 320, 48, packets)
        dst = PacketPool(32, slot_size=dst_shape[0], headroom=dst_shape[1])
        dst._slots = impl.SlotAllocator(dst)
        out = dst.copy_in(Batch(src, idx)).idx
        assert [dst.packet_bytes(d) for d in out] == [src.packet_bytes(s) for s in idx]
        results.append(_state(dst))
    assert results[0] == results[1]


@pytest.mark.parametrize("impl", [poolops, poolops_reference])
def test_copy_moves_header_positions_with_the_packet(impl):
    src, idx = _filled_pool(impl, 4, 320, 48, [(200, b"x" * 100, 214, 234, [0] * 6)])
    dst = PacketPool(4, slot_size=256, headroom=32)
    dst._slots = impl.SlotAllocator(dst)
    d = dst.copy_in(Batch(src, idx)).idx[0]
    assert (dst.off[d], dst.nh[d], dst.csum_start[d]) == (32, 46, 66)


@pytest.mark.parametrize("impl", [poolops, poolops_reference])
def test_copy_refuses_a_packet_longer_than_the_slots(impl):
    src, idx = _filled_pool(impl, 4, 320, 48, [(48, b"y" * 250, 0, 0, [0] * 6)])
    dst = PacketPool(4, slot_size=256, headroom=32)
    dst._slots = impl.SlotAllocator(dst)
    with pytest.raises(ValueError, match="longer than"):
        dst.copy_in(Batch(src, idx))
    assert dst.n_free == 4


def test_slot_methods_take_strided_index_views_and_refuse_other_index_types():
    # A batch's contiguous uint32 index vector goes in by its data pointer; any
    # other uint32 view is copied first, and other types are refused by name.
    pool = _pool(poolops)
    b = pool.from_bytes([b"x" * 20] * 4)
    pool._slots.strip(b.idx[::2], 5)
    assert pool.length[b.idx].tolist() == [15, 20, 15, 20]
    assert pool._slots.max_length(b.idx[1::2]) == 20
    with pytest.raises(ValueError, match="uint32"):
        pool._slots.strip(b.idx.astype(np.int64), 1)
    with pytest.raises(ValueError, match="uint32"):
        pool._slots.free_slots([int(s) for s in b.idx])
    pool._slots.free_slots(b.idx[::-1])
    assert pool.n_used == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(0, 100)), min_size=1, max_size=8),
       st.integers(0, 3), st.binary(min_size=24, max_size=24), st.binary(min_size=8, max_size=8))
def test_push_ether_agrees_and_writes_the_rows_address_before_source_and_type(
        packets, row, table, src_type):
    macs = np.frombuffer(table, np.uint8).reshape(4, 6).copy()
    tail = np.frombuffer(src_type, np.uint8).copy()
    results = []
    for impl in (poolops, poolops_reference):
        pool = _pool(impl)
        b = pool.from_bytes([bytes([i]) * ln for i, (ln, _) in enumerate(packets)])
        pool.off[b.idx] = [max(14, o) if i % 2 == 0 else o for i, (_, o) in enumerate(packets)]
        if (pool.off[b.idx] < 14).any():
            with pytest.raises(ValueError, match="headroom"):
                pool._slots.push_ether(b.idx, macs, row, tail)
            results.append(_state(pool))
            continue
        pool._slots.push_ether(b.idx, macs, row, tail)
        for s in b.idx:
            assert pool.packet_bytes(int(s))[:14] == table[row * 6:row * 6 + 6] + src_type
        results.append(_state(pool))
    assert results[0] == results[1]


@pytest.mark.parametrize("impl", [poolops, poolops_reference])
def test_push_ether_refuses_a_row_outside_the_table(impl):
    pool = _pool(impl)
    b = pool.from_bytes([b"x" * 20])
    with pytest.raises(IndexError, match="row 4"):
        pool._slots.push_ether(b.idx, np.zeros((4, 6), np.uint8), 4, np.zeros(8, np.uint8))
