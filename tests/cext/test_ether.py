"""The compiled Ethernet receive classifier against its plain-Python twin."""
import numpy as np
from hypothesis import given, settings, strategies as st

from vforward.cext import ether, ether_reference
from vforward.packet import PacketPool

MAC = bytes.fromhex("020000000001")
addresses = st.sampled_from([MAC, b"\xff" * 6, bytes.fromhex("01005e000001"),
                             bytes.fromhex("020000000009")])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(addresses, addresses, st.integers(0, 30)), min_size=1, max_size=20),
       st.integers(0, 4), st.booleans(), st.booleans())
def test_classify_host_matches_the_reference(frames, offset, drop_own, drop_other):
    results = []
    for impl in (ether, ether_reference):
        pool = PacketPool(64)
        raw = [bytes(offset) + dst + src + b"\x08\x00" + bytes(extra)
               for dst, src, extra in frames]
        raw = [r[:max(0, len(r) - 16)] if extra == 0 else r for r, (_, _, extra) in zip(raw, frames)]
        b = pool.from_bytes(raw)
        pool.ptype[b.idx] = 9
        out = np.zeros(len(b.idx), dtype=np.uint8)
        n = impl.classify_host(pool, b.idx, offset, np.frombuffer(MAC, np.uint8), drop_own,
                               drop_other, out)
        results.append((n, out.tolist(), pool.ptype[b.idx].tolist()))
    assert results[0] == results[1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 3), st.sampled_from([128, 20, 14, 3])),
                min_size=1, max_size=24),
       st.lists(st.tuples(st.booleans(), st.floats(0, 100)), min_size=6, max_size=6),
       st.sampled_from([-np.inf, 40.0]), st.sampled_from([-np.inf, 60.0]))
def test_frame_known_matches_the_reference(packets, rows, fresh_after, poll_after):
    """Random next hops (some absent from the table), headrooms (some too small) and
    table states (unknown, expired, due for a poll): both push the same headers."""
    table_ips = np.array([10, 20, 30, 40, 50, 60], dtype=np.uint32)    # next hop i*10, row 5-i
    order = np.argsort(table_ips)
    sorted_rows = (5 - np.arange(6))[order].astype(np.intp)
    known = np.array([k for k, _ in rows], dtype=np.uint8)
    live = np.array([t for _, t in rows], dtype=np.float64)
    mac = np.arange(36, dtype=np.uint8).reshape(6, 6)
    src = np.frombuffer(MAC, np.uint8)
    results = []
    for impl in (ether, ether_reference):
        pool = PacketPool(64)
        b = pool.from_bytes([bytes(range(40 + extra)) for _, extra, _ in packets])
        for s, (hop, _, headroom) in zip(b.idx, packets):
            pool.dst_ip[s] = hop * 10                   # 0 and 70 are in no row
            n = int(pool.length[s])
            pool.data[s, headroom:headroom + n] = pool.data[s, pool.headroom:pool.headroom + n]
            pool.off[s] = headroom
        out = np.full(len(b.idx), 7, dtype=np.uint8)
        n = impl.frame_known(pool, b.idx, table_ips[order], sorted_rows, known, live, mac, src,
                             fresh_after, poll_after, out)
        results.append((n, out.tolist(), [pool.packet_bytes(int(s)) for s in b.idx]))
        for i, s in enumerate(b.idx):
            if out[i]:
                frame = pool.packet_bytes(int(s))
                row = 5 - (packets[i][0] - 1)
                assert frame[:6] == mac[row].tobytes() and frame[6:12] == MAC
                assert frame[12:14] == b"\x08\x00" and known[row]
                assert live[row] >= fresh_after and live[row] > poll_after
    assert results[0] == results[1]
    assert results[0][0] == sum(results[0][1])
