"""The IPv6 header kernels (cext/ip6header.pyx) against their plain-Python twin."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.cext import ip6header, ip6header_reference as ref
from vforward.packet import PacketPool


def ip6(hlim=64, plen=None, payload=b"x" * 8, version=6, src=b"\x20\x01" + bytes(14),
        dst=b"\x20\x01\x0d\xb8" + bytes(11) + b"\x02"):
    n = len(payload) if plen is None else plen
    return (bytes([version << 4, 0, 0, 0]) + n.to_bytes(2, "big") + bytes([17, hlim]) + src + dst
            + payload)


frames = st.one_of(
    st.builds(ip6, hlim=st.integers(0, 255), plen=st.one_of(st.none(), st.integers(0, 80)),
              payload=st.binary(max_size=60), version=st.sampled_from([6, 6, 6, 4]),
              src=st.sampled_from([b"\x20\x01" + bytes(14), b"\xff\x02" + bytes(14)])),
    st.binary(max_size=50))


def _pools(data, frames, offset_pad):
    pools = []
    for _ in range(2):
        pool = PacketPool(len(frames) + 2, slot_size=256, headroom=32)
        batch = pool.from_bytes([bytes(offset_pad) + f[:200] for f in frames])
        pool.nh[batch.idx] = pool.off[batch.idx] + offset_pad
        pools.append((pool, batch.idx.copy()))
    return pools


def _columns(pool):
    return [pool.data.tobytes(), pool.off.tolist(), pool.length.tolist(), pool.nh.tolist(),
            pool.dst_ip6.tolist()]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames, min_size=1, max_size=20), st.sampled_from([0, 14]), st.data())
def test_compiled_kernels_match_the_reference_byte_for_byte(frames, pad, data):
    (p1, i1), (p2, i2) = _pools(data, frames, pad)
    r1, r2 = np.zeros(len(i1), np.uint8), np.zeros(len(i2), np.uint8)
    assert ip6header.check_ip6_header(p1, i1, pad, r1) == ref.check_ip6_header(p2, i2, pad, r2)
    assert r1.tolist() == r2.tolist()
    assert _columns(p1) == _columns(p2)
    assert ip6header.dec_ip6_hlim(p1, i1, r1) == ref.dec_ip6_hlim(p2, i2, r2)
    assert r1.tolist() == r2.tolist()
    assert _columns(p1) == _columns(p2)


@pytest.mark.parametrize("impl", [ip6header, ref], ids=["compiled", "reference"])
def test_reasons_and_annotations(impl):
    good = ip6(payload=b"abcd") + b"pad"        # link-layer padding is cut
    frames = [good, ip6(version=4), ip6(plen=99), ip6(src=b"\xff\x02" + bytes(14)), b"\x60" * 20]
    pool = PacketPool(8, slot_size=256, headroom=32)
    batch = pool.from_bytes(frames)
    out = np.zeros(len(frames), np.uint8)
    assert impl.check_ip6_header(pool, batch.idx, 0, out) == 1
    assert out.tolist() == [impl.OK, impl.BAD_VERSION, impl.BAD_LENGTH, impl.BAD_SADDR,
                            impl.TOO_SHORT]
    s = int(batch.idx[0])
    assert pool.length[s] == 44 and pool.nh[s] == pool.off[s]
    assert pool.dst_ip6[s].tobytes() == good[24:40]
    exp = np.zeros(1, np.uint8)
    assert impl.dec_ip6_hlim(pool, batch.idx[:1], exp) == 0
    assert pool.data[s, pool.off[s] + 7] == 63
    with pytest.raises(IndexError, match="out of range"):
        impl.check_ip6_header(pool, np.array([99], np.uint32), 0, out)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([b"\x20\x01" + bytes(14), b"\x20\x01" + bytes(13) + b"\x01",
                                 b"\xfe\x80" + bytes(14)]), max_size=12))
def test_same_dst_ip6_matches_the_reference(hops):
    pool = PacketPool(16, slot_size=128, headroom=32)
    batch = pool.from_bytes([b"x"] * len(hops))
    for s, hop in zip(batch.idx.tolist(), hops):
        pool.dst_ip6[s] = np.frombuffer(hop, np.uint8)
    want = bool(hops) and len(set(hops)) == 1
    assert ip6header.same_dst_ip6(pool, batch.idx) == ref.same_dst_ip6(pool, batch.idx) == want
    with pytest.raises(IndexError, match="out of range"):
        ip6header.same_dst_ip6(pool, np.array([0, 99], np.uint32))
