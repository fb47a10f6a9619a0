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
