"""PacketPool and Batch: slot accounting, splitting without copies, the per-packet view."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vforward.packet import HEADROOM, Batch, PacketPool, PoolExhausted


def test_alloc_and_free_return_every_slot():
    pool = PacketPool(64)
    a = pool.alloc(40)
    assert pool.n_free == 24 and pool.n_used == 40
    a.kill()
    assert pool.n_free == 64


def test_alloc_beyond_capacity_names_the_fix():
    pool = PacketPool(8)
    pool.alloc(8)
    with pytest.raises(PoolExhausted, match="raise the pool size"):
        pool.alloc(1)


def test_double_free_is_detected():
    pool = PacketPool(8)
    b = pool.alloc(2)
    idx = b.idx.copy()
    pool.free(idx)
    with pytest.raises(RuntimeError, match="freed twice"):
        pool.free(idx)


def test_fresh_slots_start_at_headroom_with_clear_annotations():
    pool = PacketPool(4)
    b = pool.alloc(4)
    pool.paint[b.idx] = 7
    pool.off[b.idx] = 3
    b.kill()
    c = pool.alloc(4, length=60)
    assert (pool.paint[c.idx] == 0).all()
    assert (pool.off[c.idx] == HEADROOM).all()
    assert (pool.length[c.idx] == 60).all()


def test_from_bytes_and_to_bytes_round_trip():
    pool = PacketPool(16)
    frames = [b"abc", bytes(range(200)), b"x" * 1500]
    b = pool.from_bytes(frames)
    assert b.to_bytes() == frames
    assert b.byte_count() == sum(map(len, frames))


def test_split_moves_no_packet_bytes():
    pool = PacketPool(16)
    b = pool.from_bytes([bytes([i]) * 10 for i in range(10)])
    before = pool.data.copy()
    yes, no = b.split(np.arange(10) % 3 == 0)
    assert len(yes) == 4 and len(no) == 6
    assert (pool.data == before).all()
    assert [p[0] for p in yes.to_bytes()] == [0, 3, 6, 9]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=0, max_size=300))
def test_partition_keeps_order_per_port_and_loses_nothing(ports):
    pool = PacketPool(512)
    b = pool.alloc(len(ports))
    arr = np.array(ports, dtype=np.uint16)
    parts = b.partition(arr, 5)
    assert sum(len(p) for p in parts) == len(ports)
    for port, part in enumerate(parts):
        expected = b.idx[arr == port]
        assert (part.idx == expected).all()


def test_clone_copies_bytes_and_annotations():
    pool = PacketPool(8)
    b = pool.from_bytes([b"hello", b"world!"])
    pool.paint[b.idx] = 3
    c = pool.clone(b.idx)
    assert c.to_bytes() == [b"hello", b"world!"]
    assert (pool.paint[c.idx] == 3).all()
    assert set(c.idx).isdisjoint(set(b.idx))


def test_packet_view_push_pull_put_take():
    pool = PacketPool(4)
    b = pool.from_bytes([b"payload"])
    pkt = next(b.packets())
    hdr = pkt.push(4)
    hdr[:] = np.frombuffer(b"HDR:", np.uint8)
    assert pkt.bytes() == b"HDR:payload"
    pkt.pull(4)
    assert pkt.bytes() == b"payload"
    pkt.put(2)[:] = np.frombuffer(b"!!", np.uint8)
    assert pkt.bytes() == b"payload!!"
    pkt.take(2)
    assert pkt.bytes() == b"payload"
    pkt.paint = 9
    assert pkt.paint == 9 and pool.paint[b.idx[0]] == 9


def test_packet_view_refuses_to_overrun_headroom():
    pool = PacketPool(4, headroom=16)
    pkt = next(pool.from_bytes([b"x"]).packets())
    with pytest.raises(ValueError, match="headroom"):
        pkt.push(17)
    with pytest.raises(ValueError):
        pkt.pull(2)


def test_oversized_frame_is_refused_and_slots_returned():
    pool = PacketPool(4, slot_size=256, headroom=64)
    with pytest.raises(ValueError, match="does not fit"):
        pool.from_bytes([b"a", b"b" * 300])
    assert pool.n_free == 4


def test_double_free_within_one_call_is_detected_in_strict_mode():
    pool = PacketPool(8)
    b = pool.alloc(2)
    with pytest.raises(RuntimeError, match="freed twice"):
        pool.free(np.array([b.idx[0], b.idx[0]], dtype=np.uint32))


def test_a_deep_copy_is_an_independent_pool():
    import copy
    pool = PacketPool(8)
    b = pool.from_bytes([b"abc"])
    twin = copy.deepcopy(pool)
    assert twin.n_free == 7 and twin.packet_bytes(int(b.idx[0])) == b"abc"
    twin.alloc(7)
    assert pool.n_free == 7 and twin.n_free == 0


def test_a_big_slot_pool_without_huge_pages_keeps_a_page_per_used_slot_resident():
    import os

    from vforward.packet import GSO_SLOT_SIZE

    def rss_kb():
        with open(f"/proc/{os.getpid()}/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    before = rss_kb()
    pool = PacketPool(256, slot_size=GSO_SLOT_SIZE, huge_pages=False)
    batch = pool.alloc(256)
    pool.data[batch.idx, pool.headroom] = 1       # a small packet in every slot
    assert rss_kb() - before < 256 * 16            # 4 KB a slot, not a share of 2 MB pages
