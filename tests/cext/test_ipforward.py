"""The compiled fused forwarding pass against its plain-Python twin."""
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vforward.cext import ipforward, ipforward_reference
from vforward.packet import PacketPool

SRC = np.frombuffer(bytes.fromhex("020000000001"), np.uint8)
# next-hop index -> (port, gateway); index 3 leads nowhere (port 0xFFFF)
NH_PORT = np.array([1, 1, 2, 0xFFFF], dtype=np.uint16)
NH_GW = np.array([0, 50, 0, 0], dtype=np.uint32)


def ip_header(ttl: int, length: int) -> bytes:
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, length, 1, 0, ttl, 17, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    s = sum(struct.unpack("!10H", head))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return head[:10] + struct.pack("!H", ~s & 0xFFFF) + head[12:]


packets = st.lists(st.tuples(st.integers(0, 3),             # next-hop index
                             st.sampled_from([0, 1, 2, 64, 255]),   # TTL
                             st.sampled_from([40, 60, 600, 1400]),  # IP length
                             st.sampled_from([10, 20, 30, 40, 70]),  # dst_ip annotation
                             st.sampled_from([128, 14, 3]),          # headroom
                             st.sampled_from([(0, 0), (500, 1), (1448, 1), (1200, 5)])),  # GSO
                   min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(packets, st.sampled_from([1, 2]), st.sampled_from([600, 1500]),
       st.lists(st.tuples(st.booleans(), st.floats(0, 100)), min_size=6, max_size=6),
       st.sampled_from([-np.inf, 40.0]), st.sampled_from([-np.inf, 60.0]), st.booleans())
def test_forward_to_port_matches_the_reference(pkts, port, mtu, rows, fresh_after, poll_after,
                                               dec_ttl):
    """Random next hops (some to another port, some without a route), TTLs,
    lengths over and under the MTU, super-frames whose segments do or do not
    fit it, headrooms, and ARP rows (unknown,
    expired, due for a poll): both forward the same batches, byte for byte,
    and leave a refused batch untouched."""
    table_ips = np.array([10, 20, 30, 40, 50, 60], dtype=np.uint32)
    order = np.argsort(table_ips)
    sorted_rows = (5 - np.arange(6))[order].astype(np.intp)
    known = np.array([k for k, _ in rows], dtype=np.bool_)
    live = np.array([t for _, t in rows], dtype=np.float64)
    mac = np.arange(36, dtype=np.uint8).reshape(6, 6)
    results = []
    for impl in (ipforward, ipforward_reference):
        pool = PacketPool(64, slot_size=2048)
        raw = [ip_header(ttl, length) + bytes(12) + b"\x50" + bytes(length - 33)
               for _, ttl, length, _, _, _ in pkts]
        b = pool.from_bytes(raw)
        nhs = np.zeros(len(b.idx) + 3, dtype=np.uint16)
        for i, (s, (k, _, _, dst, headroom, (gso, gso_type))) in enumerate(zip(b.idx, pkts)):
            pool.gso_size[s], pool.gso_type[s] = gso, gso_type
            pool.csum_start[s] = headroom + 20
            nhs[i] = k
            pool.dst_ip[s] = dst
            n = int(pool.length[s])
            pool.data[s, headroom:headroom + n] = pool.data[s, pool.headroom:pool.headroom + n]
            pool.off[s] = pool.nh[s] = headroom
        done = impl.forward_to_port(pool, b.idx, nhs, NH_PORT, NH_GW, port, dec_ttl, mtu,
                                    table_ips[order], sorted_rows, known, live, mac, SRC,
                                    fresh_after, poll_after)
        results.append((done, [pool.packet_bytes(int(s)) for s in b.idx],
                        pool.dst_ip[b.idx].tolist(), pool.port[b.idx].tolist(),
                        pool.off[b.idx].tolist()))
    assert results[0] == results[1]
    if not results[0][0]:
        assert results[0][1] == raw
        assert results[0][4] == [p[4] for p in pkts]


def test_a_batch_with_a_slot_outside_the_pool_is_refused_with_a_clear_error():
    pool = PacketPool(8)
    with pytest.raises(IndexError, match="outside the pool"):
        ipforward.forward_to_port(pool, np.array([9], np.uint32), np.zeros(1, np.uint16), NH_PORT,
                                  NH_GW, 1, True, 1500, np.zeros(0, np.uint32),
                                  np.zeros(0, np.intp), np.zeros(0, np.bool_),
                                  np.zeros(0, np.float64), np.zeros((0, 6), np.uint8), SRC,
                                  0.0, 0.0)


class _Counted:
    """An element's counts, as a skipped Counter or LinkEmulator keeps them."""
    def __init__(self):
        self.count = 0
        self.byte_count = 0


link_frames = st.lists(st.tuples(st.sampled_from([0x0800, 0x0806, 0x88B5, 0x86DD, 0x88B6]),
                                 st.sampled_from([60, 98, 1514, 13, 3])),
                       min_size=1, max_size=10)


@settings(max_examples=300, deadline=None)
@given(link_frames, st.lists(st.sampled_from([0x88B5, 0x0806, 0x0800]), max_size=2),
       st.integers(0, 3))
def test_link_step_matches_the_reference(frames_, ethertypes, n_tallies):
    """Random EtherTypes (some guarded), lengths (some too short to tell the
    EtherType): both kernels send the same batches the same way (on, or
    back to the first element before counting anything) and leave the
    same counts."""
    results = []
    for impl in (ipforward, ipforward_reference):
        pool = PacketPool(64, slot_size=2048)
        raw = [(bytes(12) + struct.pack("!H", t) + bytes(length))[:length] for t, length in frames_]
        b = pool.from_bytes(raw)
        calls = []
        a, e = _Counted(), _Counted()
        tallied = []
        step = impl.LinkStep(lambda port, batch: calls.append(("push", port, batch.idx.tolist())),
                             3,
                             lambda port, batch: calls.append(("back", port, batch.idx.tolist())),
                             1,
                             [(a, "count", False), (a, "byte_count", True), (e, "count", False)],
                             [lambda batch: tallied.append(len(batch.idx))] * n_tallies,
                             ethertypes)
        step(0, b)
        results.append((calls, a.count, a.byte_count, e.count, tallied))
    assert results[0] == results[1]
    (kind, port, _), = results[0][0]
    guarded = bool(ethertypes) and any(length < 14 or t in ethertypes for t, length in frames_)
    assert (kind, port) == (("back", 1) if guarded else ("push", 3))
    if not guarded:
        assert results[0][1:4] == (len(frames_), sum(length for _, length in frames_), len(frames_))


def test_link_step_refuses_a_slot_outside_the_pool_before_counting():
    pool = PacketPool(8, slot_size=256)
    b = pool.from_bytes([bytes(60)])
    b.idx[0] = 99
    a = _Counted()
    for impl in (ipforward, ipforward_reference):
        step = impl.LinkStep(lambda port, batch: None, 0, lambda port, batch: None, 0,
                             [(a, "count", False)])
        with pytest.raises(IndexError):
            step(0, b)
    assert a.count == 0
