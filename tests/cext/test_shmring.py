"""Compiled shared-memory ring operations against their plain-Python reference,
on random sequences of puts and gets."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vforward.cext import shmring, shmring_reference
from vforward.packet import PacketPool

SLOTS, RING_SLOT = 8, 300


def _ring():
    return (np.zeros(1, np.uint64), np.zeros(1, np.uint64),
            np.zeros((SLOTS, shmring.DESC_WORDS), np.uint16), np.zeros((SLOTS, RING_SLOT), np.uint8))


def _packets(pool, specs):
    idx = pool.alloc(len(specs)).idx
    for s, (off, payload, nh, csum, gso) in zip(idx, specs):
        off = min(off, pool.slot_size - len(payload))
        pool.off[s], pool.length[s] = off, len(payload)
        pool.data[s, off:off + len(payload)] = np.frombuffer(payload, np.uint8)
        pool.nh[s] = off + nh if nh < 60 else 0
        pool.csum_start[s] = off + csum if csum < 60 else 0
        pool.csum_offset[s], pool.gso_type[s], pool.gso_size[s] = csum % 20, gso % 6, gso * 7
    return idx


def _received(pool, idx):
    return [(pool.packet_bytes(d), int(pool.nh[d]) - int(pool.off[d]) if pool.nh[d] else None,
             int(pool.csum_start[d]) - int(pool.off[d]) if pool.csum_start[d] else None,
             int(pool.csum_offset[d]), int(pool.gso_type[d]), int(pool.gso_size[d])) for d in idx]


_spec = st.tuples(st.integers(0, 200), st.binary(max_size=RING_SLOT), st.integers(0, 80),
                  st.integers(0, 80), st.integers(0, 50))
_ops = st.lists(st.one_of(st.tuples(st.just("put"), st.lists(_spec, max_size=12)),
                          st.tuples(st.just("get"), st.integers(0, 12))), max_size=25)


@settings(max_examples=150, deadline=None)
@given(_ops)
def test_compiled_and_reference_rings_agree_and_deliver_in_order(ops):
    runs = []
    for impl in (shmring, shmring_reference):
        ring = _ring()
        src, dst = PacketPool(64, slot_size=512, headroom=64), PacketPool(16, slot_size=400, headroom=32)
        sent, got = [], []
        for op, arg in ops:
            if op == "put":
                idx = _packets(src, arg)
                n = impl.put(*ring, src, idx)
                sent += _received(src, idx[:n])
                src.free(idx)
            else:
                out = impl.get(*ring, dst, arg)
                got += _received(dst, out)
                dst.free(out)
        assert got == sent[:len(got)]          # in order, bytes and offload state intact
        runs.append((got, [a.tobytes() for a in ring]))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("impl", [shmring, shmring_reference])
def test_a_full_ring_takes_no_more_and_a_get_makes_room(impl):
    ring = _ring()
    src, dst = PacketPool(32, slot_size=512), PacketPool(32, slot_size=512)
    idx = _packets(src, [(128, b"p" * 60, 99, 99, 0)] * 10)
    assert impl.put(*ring, src, idx) == SLOTS
    assert impl.put(*ring, src, idx[SLOTS:]) == 0
    assert len(impl.get(*ring, dst, 3)) == 3
    assert impl.put(*ring, src, idx[SLOTS:]) == 2


@pytest.mark.parametrize("impl", [shmring, shmring_reference])
def test_a_packet_longer_than_a_ring_slot_is_refused(impl):
    ring = _ring()
    src = PacketPool(4, slot_size=1024)
    idx = _packets(src, [(128, b"q" * (RING_SLOT + 1), 99, 99, 0)])
    with pytest.raises(ValueError, match="longer than the ring"):
        impl.put(*ring, src, idx)
    assert ring[0][0] == 0


@pytest.mark.parametrize("impl", [shmring, shmring_reference])
def test_a_receiver_sleeps_only_on_an_empty_ring_and_a_sender_rings_once_per_sleep(impl):
    ring = _ring()
    flags = np.zeros(2, np.uint32)
    src = PacketPool(8, slot_size=512)
    assert not impl.wake_needed(flags, 1)              # awake: no doorbell
    assert impl.sleep(flags, 1, ring[0], ring[1]) and flags[1] == 1
    impl.put(*ring, src, _packets(src, [(128, b"a" * 60, 99, 99, 0)]))
    assert impl.wake_needed(flags, 1) and flags[1] == 0
    assert not impl.wake_needed(flags, 1)              # rung already for this sleep
    assert not impl.sleep(flags, 1, ring[0], ring[1])  # packets wait: do not block, drain
    assert flags[1] == 0 and flags[0] == 0
