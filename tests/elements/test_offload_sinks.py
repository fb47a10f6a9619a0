"""Elements that cannot pass offload state on finish it in software first.

A packet from a device with offloads may carry a partial checksum or be a
TCP super-frame (the pool's offload annotations).  An encapsulator, NAT and
IPFragmenter must see whole packets with complete checksums, or judge a
super-frame by its segments; these tests feed each such packets built the
way Linux hands them over and check what comes out.
"""
import struct

import pytest

from vforward.graph import build_graph
from vforward.packet import GSO_SLOT_SIZE, GSO_TCPV4, PacketPool
from vforward.runtime import Router

SRC, DST = bytes([10, 1, 0, 2]), bytes([10, 2, 0, 2])


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _sum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


def _super_packet(payload_len: int, df: bool = True) -> bytes:
    """IPv4 + TCP with the partial checksum Linux leaves (folded pseudo-header sum)."""
    tcp_len = 20 + payload_len
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, 7, 0x4000 if df else 0,
                               64, 6, 0, SRC, DST))
    ip[10:12] = struct.pack("!H", 0xFFFF - _fold(_sum(bytes(ip))))
    partial = _fold(_sum(SRC + DST) + 6 + tcp_len)
    tcp = struct.pack("!HHIIBBHHH", 40000, 80, 1, 0, 5 << 4, 0x18, 512, partial, 0)
    return bytes(ip) + tcp + bytes(i % 251 for i in range(payload_len))


def _tcp_checksum_ok(ip: bytes) -> bool:
    hl = (ip[0] & 15) * 4
    seg = ip[hl:struct.unpack("!H", ip[2:4])[0]]
    return _fold(_sum(ip[12:20]) + 6 + len(seg) + _sum(seg)) == 0xFFFF


@pytest.fixture
def make_router():
    """Routers whose pool has 64 KB slots, as behind a device with offloads."""
    made = []

    def make(text):
        made.append(Router(build_graph(text, "test.click"), PacketPool(256, GSO_SLOT_SIZE)))
        return made[-1]
    yield make
    for r in made:
        r.close()


def _feed(router, element, packets, gso_size):
    """Push IP packets carrying offload state into `element`; returns what each output sent."""
    pool = router.pool
    batch = pool.from_bytes(packets)
    for s in batch.idx:
        pool.nh[s] = pool.off[s]
        pool.csum_start[s] = pool.off[s] + 20
        pool.csum_offset[s] = 16
        pool.gso_type[s] = GSO_TCPV4 if gso_size else 0
        pool.gso_size[s] = gso_size
    e = router.element(element)
    out = {p: [] for p in range(e.n_outputs)}
    for p in out:
        e._out_push[p] = lambda port, b, p=p: (out[p].extend(b.to_bytes()), b.kill())
    e.push(0, batch)
    return out


def test_an_encapsulator_wraps_segments_not_a_super_frame(make_router):
    r = make_router("Idle -> e :: IPEncap(4, 192.0.2.1, 192.0.2.2) -> Discard;")
    out = _feed(r, "e", [_super_packet(10000)], 1000)[0]
    assert len(out) == 10
    for outer in out:
        inner = outer[20:]
        assert struct.unpack("!H", outer[2:4])[0] == len(outer) == 20 + 40 + 1000
        assert _tcp_checksum_ok(inner)
    assert r.pool.n_used == 0


def test_nat_rewrites_a_finished_checksum(make_router):
    r = make_router("Idle -> e :: IPRewriter(pattern 198.51.100.1 1024-65535 - - 0 1) -> Discard;"
                    "e[1] -> Discard;")
    out = _feed(r, "e", [_super_packet(300)], 0)[0]     # a partial checksum, not GSO
    assert len(out) == 1
    assert out[0][12:16] == bytes([198, 51, 100, 1])
    assert _tcp_checksum_ok(out[0])
    assert r.pool.n_used == 0


def test_ipfragmenter_passes_a_super_frame_whose_segments_fit(make_router):
    r = make_router("Idle -> e :: IPFragmenter(1500) -> Discard; e[1] -> Discard;")
    out = _feed(r, "e", [_super_packet(20000)], 1448)
    assert [len(p) for p in out[0]] == [20040] and not out[1]     # whole, for the device
    assert r.pool.n_used == 0


@pytest.mark.parametrize("df", [True, False])
def test_ipfragmenter_cuts_a_super_frame_whose_segments_do_not_fit(make_router, df):
    r = make_router("Idle -> e :: IPFragmenter(576) -> Discard; e[1] -> Discard;")
    out = _feed(r, "e", [_super_packet(4000, df=df)], 1000)
    if df:          # each 1040-byte segment is too big and may not be fragmented
        assert len(out[1]) == 4 and not out[0]
        assert all(len(p) == 1040 and _tcp_checksum_ok(p) for p in out[1])
    else:           # segmented, then each segment fragmented to 576 bytes
        assert not out[1] and all(len(p) <= 576 for p in out[0])
        assert sum(len(p) - 20 for p in out[0]) == 4 * 1020
    assert r.pool.n_used == 0
