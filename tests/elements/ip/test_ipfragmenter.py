"""IPFragmenter: fragments fit the MTU, carry right offsets, flags, options and
checksums, and reassemble (payloads concatenated by offset) to the original;
DF packets go to output 1; small packets pass untouched."""
import socket

import dpkt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError, build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router


class _Frames(Element):
    """_IFFrames -- test source: pushes IP frames after an optional link header,
    nh set, with paint and dst_ip annotations"""
    CLASS_NAME = "_IFFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, link=0):
        batch = self.router.pool.from_bytes(frames)
        pool = batch.pool
        pool.nh[batch.idx] = pool.off[batch.idx] + link
        pool.paint[batch.idx] = 7
        pool.dst_ip[batch.idx] = 0x0A0A0A0A
        self.emit(0, batch)


class _Sink(Element):
    """_IFSink -- test sink keeping bytes from nh, and paint and dst_ip"""
    CLASS_NAME = "_IFSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.frames, self.whole, self.annos = [], [], []

    def push(self, port, batch):
        pool = batch.pool
        for slot in batch.idx.tolist():
            end = int(pool.off[slot]) + int(pool.length[slot])
            self.frames.append(pool.data[slot, pool.nh[slot]:end].tobytes())
            self.whole.append(pool.packet_bytes(slot))
            self.annos.append((int(pool.paint[slot]), int(pool.dst_ip[slot])))
        batch.kill()


register(_Frames)
register(_Sink)

FR = "src :: _IFFrames -> fr :: IPFragmenter({}) -> out :: _IFSink; fr[1] -> df :: _IFSink"

NOPS = b"\x01\x01\x01\x00"
ROUTER_ALERT = b"\x94\x04\x00\x00"                       # copy flag set
RECORD_ROUTE = b"\x07\x07\x04\x00\x00\x00\x00\x00"        # copy flag clear, then EOL
BOTH = b"\x07\x07\x04\x00\x00\x00\x00" + b"\x94\x04\x00\x00" + b"\x00"


def ip_packet(payload, opts=b"", df=0, mf=0, offset=0, ident=4321) -> bytes:
    ip = dpkt.ip.IP(src=socket.inet_aton("10.0.0.1"), dst=socket.inet_aton("10.0.0.2"), p=17,
                    ttl=33, tos=0x10, id=ident, data=payload)
    ip.df, ip.mf, ip.offset = df, mf, offset
    if opts:
        ip.opts = opts
        ip.hl = 5 + len(opts) // 4
    return bytes(ip)


def copied(opts: bytes) -> bytes:
    """The options RFC 791 copies into later fragments (copy flag), padded to 4."""
    out, i = b"", 0
    while i < len(opts) and opts[i] != 0:
        if opts[i] == 1:
            i += 1
            continue
        if opts[i] & 0x80:
            out += opts[i:i + opts[i + 1]]
        i += opts[i + 1]
    return out + bytes(-len(out) % 4)


def check_fragments(original: bytes, frags: list[bytes], mtu: int, same_id=True):
    """Every fragment well formed, and together they are the original."""
    orig = dpkt.ip.IP(original)
    hl = orig.hl * 4
    pieces = []
    for i, f in enumerate(frags):
        ip = dpkt.ip.IP(f)
        assert len(f) <= mtu and ip.len == len(f)
        assert dpkt.in_cksum(f[:ip.hl * 4]) == 0
        assert (ip.src, ip.dst, ip.p, ip.ttl, ip.tos) == \
            (orig.src, orig.dst, orig.p, orig.ttl, orig.tos)
        assert ip.id == orig.id or not same_id
        assert ip.df == 0
        assert ip.opts == (orig.opts if i == 0 else copied(orig.opts))
        last = i == len(frags) - 1
        assert ip.mf == (orig.mf if last else 1)
        data = f[ip.hl * 4:]
        if not last:
            assert len(data) % 8 == 0
        pieces.append((ip.offset * 8, data))        # dpkt's offset is in 8-byte units
    assert pieces[0][0] == orig.offset * 8
    at = orig.offset * 8
    for offset, data in pieces:
        assert offset == at
        at += len(data)
    assert b"".join(d for _, d in pieces) == original[hl:orig.len]


def run(args, frames, link=0, n_slots=2048):
    router = Router(build_graph(FR.format(args)), PacketPool(n_slots))
    try:
        router.initialize()
        router.element("src").send(frames, link=link)
        assert router.pool.n_used == 0
        return router
    finally:
        router.close()


def split_by_packet(frames: list[bytes]) -> list[list[bytes]]:
    """Group an output stream into datagrams: a group ends with a fragment whose
    offset is followed by a fragment at a smaller or equal offset (a new packet)."""
    groups = []
    for f in frames:
        ip = dpkt.ip.IP(f)
        if groups and ip.offset > dpkt.ip.IP(groups[-1][-1]).offset:
            groups[-1].append(f)
        else:
            groups.append([f])
    return groups


packets = st.builds(ip_packet,
                    payload=st.integers(0, 1800).map(lambda n: bytes(i % 251 for i in range(n))),
                    opts=st.sampled_from([b"", NOPS, ROUTER_ALERT, RECORD_ROUTE, BOTH]),
                    ident=st.integers(0, 0xFFFF))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(packets, min_size=1, max_size=8), st.integers(68, 1500))
def test_fragments_reassemble_to_the_original(frames, mtu):
    r = run(str(mtu), frames)
    groups = split_by_packet(r.element("out").frames)
    assert len(groups) == len(frames)
    n_frags = 0
    for original, frags in zip(frames, groups):
        if len(original) <= mtu:
            assert frags == [original]
        else:
            check_fragments(original, frags, mtu)
            n_frags += len(frags)
    assert r.element("fr").read("fragments") == str(n_frags)
    assert r.element("out").annos == [(7, 0x0A0A0A0A)] * len(r.element("out").frames)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(1, 1400).map(lambda n: bytes(n % 251 for n in range(n))),
       st.integers(0, 100), st.booleans(), st.integers(68, 600))
def test_a_fragment_is_fragmented_further_correctly(payload, offset, mf, mtu):
    original = ip_packet(payload, mf=int(mf), offset=offset)
    frags = run(str(mtu), [original]).element("out").frames
    if len(original) <= mtu:
        assert frags == [original]
    else:
        check_fragments(original, frags, mtu)


def test_df_packets_go_to_output_1_unchanged_and_count_as_drops(capfd):
    big, small = ip_packet(bytes(1000), df=1), ip_packet(bytes(100), df=1)
    r = run("576", [big, small, big])
    assert r.element("df").frames == [big, big]
    assert r.element("out").frames == [small]
    assert r.element("fr").read("drops") == "2"
    assert "IPFragmenter(576) DF 10.0.0.1 10.0.0.2 len=1020" in capfd.readouterr().err


def test_honor_df_false_fragments_df_packets_with_a_new_id():
    big = ip_packet(bytes(1000), df=1, ident=1)
    frags = run("576, HONOR_DF false", [big]).element("out").frames
    check_fragments(big, frags, 576, same_id=False)
    assert len({dpkt.ip.IP(f).id for f in frags}) == 1


def test_df_packets_are_dropped_when_output_1_is_unconnected(make_router):
    r = make_router("src :: _IFFrames -> fr :: IPFragmenter(576) -> out :: _IFSink")
    r.initialize()
    r.element("src").send([ip_packet(bytes(1000), df=1)])
    assert r.element("out").frames == [] and r.element("fr").read("drops") == "1"
    assert r.pool.n_used == 0


def test_the_first_fragment_keeps_the_link_header_and_later_ones_start_at_ip():
    link = b"L" * 14
    big = ip_packet(bytes(1000))
    out = run("576", [link + big], link=14).element("out")
    assert out.whole[0][:14] == link and out.whole[0][14:] == out.frames[0]
    assert all(w == f for w, f in zip(out.whole[1:], out.frames[1:]))
    check_fragments(big, out.frames, 576)


def test_link_padding_alone_does_not_fragment():
    p = ip_packet(bytes(60))
    out = run("100", [p + bytes(60)]).element("out")
    assert out.frames == [p]
    assert run("100", [p + bytes(60)]).element("fr").read("fragments") == "0"


def test_header_too_big_for_the_mtu_goes_to_output_1():
    p = ip_packet(bytes(40), opts=NOPS * 10)                # 60-byte header
    r = run("64", [p])
    assert r.element("df").frames == [p]


def test_a_full_pool_drops_the_packet_and_counts_it():
    r = run("576", [ip_packet(bytes(1500))], n_slots=2)
    assert r.element("out").frames == []
    assert r.element("fr").read("drops") == "1"


@pytest.mark.parametrize("args, message", [
    ("", "missing argument MTU"),
    ("20", "argument MTU: 20 is out of range"),
    ("1500, HONOR_DF perhaps", "argument HONOR_DF"),
])
def test_bad_arguments_are_graph_errors(make_router, args, message):
    with pytest.raises(GraphError, match=message):
        make_router(f"Idle -> IPFragmenter({args}) -> Discard")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 200), st.integers(0, 3000), st.integers(0, 260),
                          st.integers(0, 255), st.integers(0, 255),
                          st.sampled_from([0, 0, 600, 1448, 9000]), st.sampled_from([1, 4, 5, 0x81]),
                          st.integers(0, 300)), min_size=1, max_size=4),
       st.integers(28, 2000))
def test_short_batches_are_judged_one_by_one_as_the_array_test_judges_them(packets, mtu):
    from vforward.elements.ip.ipfragmenter import needs_fragmenting, none_too_big
    pool = PacketPool(8, slot_size=4096)
    idx = pool.alloc(len(packets)).idx
    for s, (off, length, nh, first, doff, gso, gtype, cstart) in zip(idx.tolist(), packets):
        pool.off[s] = off
        pool.length[s] = length
        pool.nh[s] = off + nh
        pool.data[s, min(off + nh, pool.slot_size - 1)] = first
        pool.gso_size[s] = gso
        pool.gso_type[s] = gtype
        pool.csum_start[s] = off + nh + cstart
        pool.data[s, min(off + nh + cstart + 12, pool.slot_size - 1)] = doff
    assert none_too_big(pool, idx, mtu) == (not needs_fragmenting(pool, idx, mtu).any())
