"""The compiled fused IPv6 forwarding pass against its plain-Python twin."""
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vforward.cext import ip6forward, ip6forward_reference
from vforward.packet import PacketPool

SRC = np.frombuffer(bytes.fromhex("020000000001"), np.uint8)
# next-hop index -> (port, gateway); index 3 leads nowhere (port 0xFFFF)
NH_PORT = np.array([1, 1, 2, 0xFFFF], dtype=np.uint16)
NH_VIA = np.array([False, True, False, False])
NH_GW = np.zeros((4, 2), dtype=np.uint64)
NH_GW[1] = np.frombuffer(bytes.fromhex("20010db8000000000000000000000050"), np.uint64)


def addr(k: int) -> bytes:
    return bytes.fromhex("20010db8000000000000000000000000")[:15] + bytes([k])


packets = st.lists(st.tuples(st.integers(0, 3),                     # next-hop index
                             st.sampled_from([0, 1, 2, 64, 255]),   # hop limit
                             st.sampled_from([30, 48, 600, 1400]),  # payload length
                             st.sampled_from([0x10, 0x20, 0x30, 0x40, 0x70]),  # dst_ip6 tail
                             st.sampled_from([128, 14, 3]),          # headroom
                             st.sampled_from([0, 500])),             # GSO segment size
                   min_size=1, max_size=12)


@settings(max_examples=300, deadline=None)
@given(packets, st.sampled_from([1, 2]), st.sampled_from([600, 1500]), st.booleans(),
       st.lists(st.tuples(st.booleans(), st.floats(0, 100)), min_size=6, max_size=6),
       st.sampled_from([-np.inf, 40.0]), st.booleans())
def test_forward6_to_port_matches_the_reference(pkts, port, max_length, segments, rows,
                                                fresh_after, dec_hlim):
    """Random next hops (some to another port, some without a route), hop
    limits, lengths over and under the limit, super-frames, headrooms and
    neighbour rows (unknown, expired): both forward the same batches, byte
    for byte, and leave a refused batch untouched."""
    table_ips = np.frombuffer(b"".join(addr(k) for k in (0x10, 0x50, 0x30, 0x40, 0x20, 0x60)),
                              dtype="V16")
    order = np.argsort(table_ips, kind="stable")
    sorted_rows = (5 - np.arange(6))[order].astype(np.intp)
    known = np.array([k for k, _ in rows], dtype=np.bool_)
    live = np.array([t for _, t in rows], dtype=np.float64)
    mac = np.arange(36, dtype=np.uint8).reshape(6, 6)
    results = []
    for impl in (ip6forward, ip6forward_reference):
        pool = PacketPool(64, slot_size=2048)
        raw = [struct.pack("!IHBB", 6 << 28, plen, 17, hlim) + addr(1) + addr(dst) + bytes(plen)
               for _, hlim, plen, dst, _, _ in pkts]
        b = pool.from_bytes(raw)
        nhs = np.zeros(len(b.idx) + 3, dtype=np.uint16)
        for i, (s, (k, _, _, dst, headroom, gso)) in enumerate(zip(b.idx, pkts)):
            pool.gso_size[s], pool.gso_type[s] = gso, 1 if gso else 0
            nhs[i] = k
            pool.dst_ip6[s] = np.frombuffer(addr(dst), np.uint8)
            n = int(pool.length[s])
            pool.data[s, headroom:headroom + n] = pool.data[s, pool.headroom:pool.headroom + n]
            pool.off[s] = pool.nh[s] = headroom
        done = impl.forward6_to_port(pool, b.idx, nhs, NH_PORT, NH_VIA, NH_GW, port, dec_hlim,
                                     max_length, segments, table_ips[order], sorted_rows, known,
                                     live, mac, SRC, fresh_after)
        results.append((done, [pool.packet_bytes(int(s)) for s in b.idx],
                        pool.dst_ip6[b.idx].tobytes(), pool.port[b.idx].tolist(),
                        pool.off[b.idx].tolist()))
    assert results[0] == results[1]
    if not results[0][0]:
        assert results[0][1] == raw
        assert results[0][4] == [p[4] for p in pkts]


def test_a_resolved_batch_gets_its_neighbours_mac_and_one_less_hop_limit():
    pool = PacketPool(8, slot_size=2048)
    b = pool.from_bytes([struct.pack("!IHBB", 6 << 28, 8, 17, 64) + addr(1) + addr(0x10)
                         + bytes(8)])
    s = int(b.idx[0])
    pool.nh[s] = pool.off[s]
    pool.dst_ip6[s] = np.frombuffer(addr(0x10), np.uint8)
    keys = np.frombuffer(addr(0x10), dtype="V16")
    mac = np.frombuffer(bytes.fromhex("0200000000aa"), np.uint8).reshape(1, 6)
    assert ip6forward.forward6_to_port(pool, b.idx, np.zeros(1, np.uint16), NH_PORT, NH_VIA,
                                       NH_GW, 1, True, 1500, False, keys,
                                       np.zeros(1, np.intp), np.ones(1, np.bool_),
                                       np.zeros(1), mac, SRC, -np.inf)
    frame = pool.packet_bytes(s)
    assert frame[:14] == bytes.fromhex("0200000000aa" "020000000001" "86dd")
    assert frame[14 + 7] == 63


def test_a_batch_with_a_slot_outside_the_pool_is_refused_with_a_clear_error():
    pool = PacketPool(8)
    with pytest.raises(IndexError, match="outside the pool"):
        ip6forward.forward6_to_port(pool, np.array([9], np.uint32), np.zeros(1, np.uint16),
                                    NH_PORT, NH_VIA, NH_GW, 1, True, 1500, False,
                                    np.zeros(0, "V16"), np.zeros(0, np.intp),
                                    np.zeros(0, np.bool_), np.zeros(0, np.float64),
                                    np.zeros((0, 6), np.uint8), SRC, 0.0)
