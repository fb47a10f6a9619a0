"""The IPv4 header kernels (cext/ipheader.pyx) against their plain-Python
references (cext/ipheader_reference.py), and both against known answers.

The differential tests build one pool of random packets (valid ones from dpkt,
then mutated), copy it, run the kernel on one copy and the reference on the
other, and demand the same return value, the same out array and the same
pool, byte for byte and column for column.
"""
from __future__ import annotations

import copy
import socket
import struct

import dpkt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.cext import ipheader as kern
from vforward.cext import ipheader_reference as ref
from vforward.packet import ANNOTATIONS, PacketPool

BOTH = pytest.mark.parametrize("impl", [kern, ref], ids=["kernel", "reference"])
ETHER = bytes.fromhex("0200000000010200000000020800")       # 14-byte Ethernet header, IPv4

differential = settings(max_examples=150, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- helpers ------------------------------------------------------------------
def inet(a: str) -> bytes:
    return socket.inet_aton(a)


def full_checksum(header: bytes) -> int:
    """The IP header checksum computed from scratch (checksum field taken as zero)."""
    h = header[:10] + b"\0\0" + header[12:]
    return dpkt.in_cksum(h)


def build_ip(src="10.0.0.1", dst="10.0.0.2", ttl=64, proto=17, payload=b"hello",
             opts=b"", ident=0, df=0, mf=0, frag_offset=0, sport=1234, dport=80) -> bytes:
    """A valid IPv4 packet from dpkt, checksums (IP and TCP/UDP) filled in."""
    if proto == dpkt.ip.IP_PROTO_TCP:
        data = dpkt.tcp.TCP(sport=sport, dport=dport, seq=7, ack=9, data=payload)
    elif proto == dpkt.ip.IP_PROTO_UDP:
        data = dpkt.udp.UDP(sport=sport, dport=dport, ulen=8 + len(payload), data=payload)
    else:
        data = payload
    ip = dpkt.ip.IP(src=inet(src) if isinstance(src, str) else src,
                    dst=inet(dst) if isinstance(dst, str) else dst,
                    ttl=ttl, p=proto, id=ident, data=data)
    ip.df, ip.mf, ip.offset = df, mf, frag_offset
    if opts:
        ip.opts = opts
        ip.hl = 5 + len(opts) // 4
    return bytes(ip)


def _with(p: bytes, pos: int, raw: bytes, fix_checksum=True) -> bytes:
    """p with raw written at pos, and its IP header checksum made right again."""
    p = p[:pos] + raw + p[pos + len(raw):]
    if fix_checksum:
        hl = (p[0] & 0x0F) * 4
        p = p[:10] + struct.pack("!H", full_checksum(p[:hl])) + p[12:]
    return p


def load(frames, slot_size=2048, headroom=128, n_slots=None):
    """A pool holding the frames; returns (pool, idx of the frames in order)."""
    pool = PacketPool(n_slots or max(len(frames), 1) + 2, slot_size=slot_size, headroom=headroom)
    batch = pool.from_bytes(frames)
    return pool, batch.idx


def assert_same_pool(a: PacketPool, b: PacketPool) -> None:
    np.testing.assert_array_equal(a.data, b.data, err_msg="packet bytes differ")
    for name in ("off", "length", *ANNOTATIONS):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name),
                                      err_msg=f"column {name} differs")


def run(impl, name, pool, idx, *args):
    """Call impl.name; returns (return value, out array or None)."""
    fn = getattr(impl, name)
    if name in ("check_ip_header", "dec_ip_ttl", "udp_tcp_checksum_ok", "icmp_echo_reply"):
        out = np.full(len(idx), 0xAA, dtype=np.uint8)
        if name == "check_ip_header" and len(args) > 2:     # the address lists come last
            return fn(pool, idx, *args[:2], out, *args[2:]), out
        return fn(pool, idx, *args, out), out
    if name == "get_ip_address":                             # (offset, annotation name)
        offset, anno = args
        return fn(pool, idx, offset, getattr(pool, anno)), None
    return fn(pool, idx, *args), None


# -- random packets ---------------------------------------------------------------
addresses = st.one_of(
    st.binary(min_size=4, max_size=4),
    st.sampled_from([inet(a) for a in ("10.0.0.1", "0.0.0.0", "255.255.255.255", "224.0.0.5",
                                       "239.255.255.250", "240.0.0.1", "223.255.255.255")]))
ip_options = st.sampled_from([b"", b"\x01\x01\x01\x00", b"\x94\x04\x00\x00",
                              b"\x07\x07\x04\x00\x00\x00\x00\x00", b"\x01" * 40])


def icmp_echo(icmp_type: int, code: int, rest: bytes) -> bytes:
    """An ICMP message (8-byte header: type, code, checksum, id and sequence in rest)
    with a right checksum."""
    msg = bytes([icmp_type, code]) + b"\0\0" + rest
    return msg[:2] + struct.pack("!H", dpkt.in_cksum(msg)) + msg[4:]


@st.composite
def valid_ip(draw) -> bytes:
    proto = draw(st.sampled_from([6, 17, 17, 1, 1, 47]))
    payload = draw(st.one_of(st.binary(max_size=40), st.binary(min_size=1000, max_size=1400)))
    if proto == 1 and draw(st.integers(0, 2)):
        # an echo request (sometimes one whose reply checksums to zero, or a reply)
        kind = draw(st.sampled_from([8, 8, 8, 0, 3]))
        code = draw(st.sampled_from([0, 0, 1]))
        rest = payload if draw(st.integers(0, 3)) else bytes(draw(st.integers(0, 40)))
        payload = icmp_echo(kind, code, rest)
    frag = draw(st.sampled_from([(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 5), (0, 1, 3)]))
    return build_ip(src=draw(addresses), dst=draw(st.binary(min_size=4, max_size=4)),
                    ttl=draw(st.sampled_from([0, 1, 2, 3, 64, 128, 255])), proto=proto,
                    payload=payload, opts=draw(ip_options), ident=draw(st.integers(0, 0xFFFF)),
                    df=frag[0], mf=frag[1], frag_offset=frag[2],
                    sport=draw(st.integers(0, 0xFFFF)), dport=draw(st.integers(0, 0xFFFF)))


def _set_byte(b: bytes, pos: int, value: int) -> bytes:
    if pos >= len(b):
        return b
    return b[:pos] + bytes([value]) + b[pos + 1:]


@st.composite
def mutated_ip(draw) -> bytes:
    p = draw(valid_ip())
    kind = draw(st.sampled_from(["none", "none", "truncate", "version", "ihl", "total_length",
                                 "checksum", "flip", "udp_length", "udp_zero", "padding",
                                 "trailer", "random"]))
    if kind == "truncate":
        p = p[:draw(st.integers(0, len(p)))]
    elif kind == "version":
        p = _set_byte(p, 0, (draw(st.integers(0, 15)) << 4) | (p[0] & 0x0F))
    elif kind == "ihl":
        p = _set_byte(p, 0, 0x40 | draw(st.integers(0, 15)))
    elif kind == "total_length":
        n = draw(st.one_of(st.integers(0, 0xFFFF), st.integers(max(0, len(p) - 30), len(p) + 4)))
        p = p[:2] + struct.pack("!H", n) + p[4:]
    elif kind == "checksum":
        p = _set_byte(p, 10, p[10] ^ draw(st.integers(1, 255)))
    elif kind == "flip" and p:
        pos = draw(st.integers(0, len(p) - 1))
        p = _set_byte(p, pos, p[pos] ^ draw(st.integers(1, 255)))
    elif kind == "udp_length" and len(p) > 28 and p[9] == 17:
        hl = (p[0] & 0x0F) * 4
        ulen = struct.unpack_from("!H", p, hl + 4)[0]
        ulen = draw(st.one_of(st.integers(0, 0xFFFF), st.integers(0, ulen)))
        p = p[:hl + 4] + struct.pack("!H", ulen) + p[hl + 6:]
    elif kind == "udp_zero" and len(p) > 28 and p[9] == 17:
        hl = (p[0] & 0x0F) * 4
        p = p[:hl + 6] + b"\0\0" + p[hl + 8:]
    elif kind == "trailer" and len(p) >= 20:
        # bytes inside the IP datagram after the TCP/UDP segment; IP header kept valid
        p += draw(st.binary(min_size=1, max_size=8))
        p = _with(p, 2, struct.pack("!H", len(p)))
    elif kind == "random":
        p = draw(st.binary(max_size=80))
        if p and draw(st.booleans()):
            p = bytes([0x45]) + p[1:]
    if draw(st.integers(0, 3)) == 0:
        p += draw(st.binary(min_size=1, max_size=24))      # link-layer padding or junk
    return p


@st.composite
def scenario(draw):
    """A pool of random packets, a batch over it, and the CheckIPHeader offset."""
    offset = draw(st.sampled_from([0, 14]))
    packets = draw(st.lists(mutated_ip(), min_size=0, max_size=12))
    frames = []
    for p in packets:
        with_ether = draw(st.integers(0, 5)) > 0 if offset else draw(st.integers(0, 5)) == 0
        frames.append((ETHER if with_ether else b"") + p)
    slot_size, headroom = draw(st.sampled_from([(2048, 128), (2048, 128), (1600, 64)]))
    room = slot_size - headroom
    frames = [f[:room] for f in frames]
    pool, idx = load(frames, slot_size=slot_size, headroom=headroom, n_slots=len(frames) + 3)
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    for name, dtype in ANNOTATIONS.items():
        col = getattr(pool, name)
        col[:] = rng.integers(0, np.iinfo(col.dtype).max, size=col.shape, dtype=col.dtype,
                              endpoint=True)
    # nh where a link layer would leave it, sometimes anywhere at all
    for k, slot in enumerate(idx):
        prefix = len(ETHER) if frames[k][:len(ETHER)] == ETHER else 0
        pool.nh[slot] = pool.off[slot] + prefix
        where = draw(st.integers(0, 19))
        if where == 0:
            pool.nh[slot] = draw(st.integers(0, slot_size + 40))
        elif where == 1:                            # close to the packet's end
            pool.nh[slot] = max(0, int(pool.off[slot]) + int(pool.length[slot])
                                - draw(st.integers(0, 24)))
        elif where == 2:                            # just before the packet's start
            pool.nh[slot] = int(pool.off[slot]) - draw(st.integers(1, 3))
        if draw(st.integers(0, 19)) == 0:          # a length that runs off the slot
            pool.length[slot] = draw(st.one_of(st.just(room + 1),
                                               st.integers(room - 20, 0xFFFF)))
    if draw(st.booleans()):
        # as after CheckIPHeader: good packets get nh, dst_ip and trimmed lengths
        ref.check_ip_header(pool, idx, offset, True, np.zeros(len(idx), np.uint8))
    order = draw(st.permutations(range(len(idx)))) if len(idx) else []
    batch = [int(idx[k]) for k in order]
    if batch and draw(st.integers(0, 4)) == 0:
        batch.append(batch[draw(st.integers(0, len(batch) - 1))])    # a slot listed twice
    if batch and draw(st.booleans()):
        batch = batch[:draw(st.integers(0, len(batch)))]
    return pool, np.array(batch, dtype=np.uint32), offset


def _same_results(name, pool, idx, *args):
    other = copy.deepcopy(pool)
    got_k, out_k = run(kern, name, pool, idx, *args)
    got_r, out_r = run(ref, name, other, idx, *args)
    assert got_k == got_r
    if out_k is not None:
        np.testing.assert_array_equal(out_k, out_r, err_msg="out arrays differ")
    assert_same_pool(pool, other)


# -- kernel == reference on random packets -------------------------------------------
@differential
@given(scenario(), st.booleans())
def test_check_ip_header_matches_reference(sc, verify):
    pool, idx, offset = sc
    _same_results("check_ip_header", pool, idx, offset, verify)


@differential
@given(scenario())
def test_dec_ip_ttl_matches_reference(sc):
    pool, idx, _ = sc
    _same_results("dec_ip_ttl", pool, idx)


@differential
@given(scenario())
def test_set_ip_checksum_matches_reference(sc):
    pool, idx, _ = sc
    _same_results("set_ip_checksum", pool, idx)


@differential
@given(scenario())
def test_ip_dst_to_anno_matches_reference(sc):
    pool, idx, _ = sc
    _same_results("ip_dst_to_anno", pool, idx)


@differential
@given(scenario(), st.sampled_from([0, 12, 16, 30, 2000]), st.sampled_from(["dst_ip", "user"]))
def test_get_ip_address_matches_reference(sc, offset, anno):
    pool, idx, _ = sc
    _same_results("get_ip_address", pool, idx, offset, anno)


address_lists = st.lists(st.sampled_from([0, 0xFFFFFFFF, 0x0A000001, 0x0A0000FF, 0xC0000201,
                                          0x7F000001]) | st.integers(0, 0xFFFFFFFF),
                         max_size=5).map(lambda v: np.unique(np.array(v, dtype=np.uint32)))


@differential
@given(scenario(), st.booleans(), address_lists, st.one_of(st.none(), address_lists))
def test_check_ip_header_with_address_lists_matches_reference(sc, verify, bad, good):
    pool, idx, offset = sc
    # list some of the pool's own sources and destinations, so that the lists hit
    slots = idx[:2].astype(np.int64)
    at = pool.off[slots].astype(np.int64) + offset
    for k, base in enumerate(at.tolist()):
        if base + 20 <= pool.slot_size:
            row = pool.data[int(slots[k])]
            bad = np.union1d(bad, [int.from_bytes(row[base + 12:base + 16].tobytes(), "big")])
            if good is not None and k:
                good = np.union1d(good, [int.from_bytes(row[base + 16:base + 20].tobytes(),
                                                        "big")])
    bad = bad.astype(np.uint32)
    good = None if good is None else good.astype(np.uint32)
    _same_results("check_ip_header", pool, idx, offset, verify, bad, good)


@differential
@given(scenario())
def test_icmp_echo_reply_matches_reference(sc):
    pool, idx, _ = sc
    _same_results("icmp_echo_reply", pool, idx)


@differential
@given(scenario())
def test_udp_tcp_checksum_ok_matches_reference(sc):
    pool, idx, _ = sc
    _same_results("udp_tcp_checksum_ok", pool, idx)


@differential
@given(scenario())
def test_set_transport_checksum_matches_reference(sc):
    pool, idx, _ = sc
    _same_results("set_transport_checksum", pool, idx)


@differential
@given(scenario(), st.lists(st.sampled_from(["dec_ip_ttl", "set_ip_checksum", "ip_dst_to_anno",
                                              "udp_tcp_checksum_ok", "set_transport_checksum",
                                              "icmp_echo_reply", "get_ip_address"]),
                            max_size=6))
def test_a_chain_of_kernels_matches_the_chain_of_references(sc, steps):
    pool, idx, offset = sc
    other = copy.deepcopy(pool)
    for name in ["check_ip_header", *steps]:
        args = ((offset, True) if name == "check_ip_header" else
                (offset + 16, "dst_ip") if name == "get_ip_address" else ())
        got_k, out_k = run(kern, name, pool, idx, *args)
        got_r, out_r = run(ref, name, other, idx, *args)
        assert got_k == got_r, name
        if out_k is not None:
            np.testing.assert_array_equal(out_k, out_r, err_msg=name)
        assert_same_pool(pool, other)


# -- constants --------------------------------------------------------------------
def test_kernel_and_reference_export_the_same_constants():
    for name in ("OK", "TOO_SHORT", "BAD_VERSION", "BAD_HLEN", "BAD_LENGTH", "BAD_CHECKSUM",
                 "BAD_SADDR", "REASONS", "CKSUM_BAD", "CKSUM_OK", "CKSUM_NOT_CHECKED"):
        assert getattr(kern, name) == getattr(ref, name), name


def test_reason_texts_are_clicks():
    assert kern.REASONS[kern.TOO_SHORT] == "tiny packet"
    assert kern.REASONS[kern.BAD_VERSION] == "bad IP version"
    assert kern.REASONS[kern.BAD_HLEN] == "bad IP header length"
    assert kern.REASONS[kern.BAD_LENGTH] == "bad IP length"
    assert kern.REASONS[kern.BAD_CHECKSUM] == "bad IP checksum"
    assert kern.REASONS[kern.BAD_SADDR] == "bad source address"


# -- CheckIPHeader known answers ---------------------------------------------------------
@BOTH
def test_good_packet_after_ethernet_gets_nh_dst_and_loses_padding(impl):
    ip = build_ip(dst="192.0.2.77", payload=b"x" * 10)
    pool, idx = load([ETHER + ip + b"\0" * 9])
    out = np.zeros(1, np.uint8)
    assert impl.check_ip_header(pool, idx, 14, True, out) == 1
    slot = idx[0]
    assert out[0] == impl.OK
    assert pool.nh[slot] == pool.off[slot] + 14
    assert pool.dst_ip[slot] == 0xC000024D
    assert pool.packet_bytes(slot) == ETHER + ip


GOOD = build_ip(payload=b"y" * 30)
BAD_CASES = {
    "empty": (b"", ref.TOO_SHORT),
    "19 bytes": (GOOD[:19], ref.TOO_SHORT),
    "version 6": (_with(GOOD, 0, b"\x65"), ref.BAD_VERSION),
    "version 0": (_with(GOOD, 0, b"\x05"), ref.BAD_VERSION),
    "IHL 4": (_with(GOOD, 0, b"\x44", fix_checksum=False), ref.BAD_HLEN),
    "header longer than packet": (_with(GOOD[:40], 0, b"\x4f", fix_checksum=False), ref.BAD_HLEN),
    "total length past the end": (_with(GOOD, 2, struct.pack("!H", len(GOOD) + 1)), ref.BAD_LENGTH),
    "total length below header": (_with(GOOD, 2, struct.pack("!H", 19)), ref.BAD_LENGTH),
    "bad checksum": (_with(GOOD, 10, b"\x12\x34", fix_checksum=False), ref.BAD_CHECKSUM),
    "broadcast source": (_with(GOOD, 12, inet("255.255.255.255")), ref.BAD_SADDR),
    "multicast source": (_with(GOOD, 12, inet("224.0.0.1")), ref.BAD_SADDR),
    "multicast source 239/8": (_with(GOOD, 12, inet("239.1.2.3")), ref.BAD_SADDR),
}


@BOTH
@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_packets_get_their_reason_and_are_left_alone(impl, case):
    packet, reason = BAD_CASES[case]
    pool, idx = load([packet])
    before = copy.deepcopy(pool)
    out = np.zeros(1, np.uint8)
    assert impl.check_ip_header(pool, idx, 0, True, out) == 0
    assert out[0] == reason
    assert_same_pool(pool, before)


@BOTH
@pytest.mark.parametrize("src", ["0.0.0.0", "240.0.0.1", "223.255.255.255", "10.1.2.3"])
def test_other_sources_pass(impl, src):
    pool, idx = load([build_ip(src=src)])
    out = np.zeros(1, np.uint8)
    assert impl.check_ip_header(pool, idx, 0, True, out) == 1


@BOTH
def test_checksum_is_not_checked_when_told_not_to(impl):
    packet = BAD_CASES["bad checksum"][0]
    pool, idx = load([packet, packet])
    out = np.zeros(2, np.uint8)
    assert impl.check_ip_header(pool, idx[:1], 0, False, out) == 1
    assert impl.check_ip_header(pool, idx[1:], 0, True, out[1:]) == 0
    assert list(out) == [impl.OK, impl.BAD_CHECKSUM]


@BOTH
def test_a_batch_mixes_good_and_bad_packets_in_order(impl):
    frames = [GOOD, b"\x45" * 10, GOOD + b"pad", BAD_CASES["version 6"][0]]
    pool, idx = load(frames)
    out = np.zeros(4, np.uint8)
    assert impl.check_ip_header(pool, idx[::-1].copy(), 0, True, out) == 2
    assert list(out) == [impl.BAD_VERSION, impl.OK, impl.TOO_SHORT, impl.OK]
    assert pool.length[idx[2]] == len(GOOD)


@BOTH
def test_a_length_that_overruns_the_slot_is_too_short_and_untouched_elsewhere(impl):
    pool, idx = load([GOOD], slot_size=256, headroom=64)
    pool.nh[idx] = pool.off[idx]
    pool.length[idx] = 256 - 64 + 1
    before = copy.deepcopy(pool)
    out = np.zeros(1, np.uint8)
    assert impl.check_ip_header(pool, idx, 0, True, out) == 0
    assert out[0] == impl.TOO_SHORT
    assert impl.dec_ip_ttl(pool, idx, out) == 0
    assert impl.set_ip_checksum(pool, idx) == 0
    assert impl.ip_dst_to_anno(pool, idx) == 0
    assert impl.udp_tcp_checksum_ok(pool, idx, out) == 0 and out[0] == impl.CKSUM_NOT_CHECKED
    assert impl.set_transport_checksum(pool, idx) == 0
    assert_same_pool(pool, before)


@BOTH
def test_address_lists_make_bad_sources_unless_to_a_good_destination(impl):
    bad = np.array(sorted([0x0A0000FF, 0, 0xFFFFFFFF]), dtype=np.uint32)
    good = np.array([0x0A000001], dtype=np.uint32)
    frames = [build_ip(src="10.0.0.255") + b"pad", build_ip(src="10.0.0.255", dst="10.0.0.1"),
              build_ip(src="0.0.0.0"), build_ip(src="10.0.0.7")]
    pool, idx = load(frames)
    before = copy.deepcopy(pool)
    out = np.zeros(4, np.uint8)
    assert impl.check_ip_header(pool, idx, 0, True, out, bad, good) == 2
    assert list(out) == [impl.BAD_SADDR, impl.OK, impl.BAD_SADDR, impl.OK]
    for k in (0, 2):        # bad packets are left alone: padding, nh and dst_ip as they were
        s = idx[k]
        assert pool.packet_bytes(s) == frames[k]
        assert (pool.nh[s], pool.dst_ip[s]) == (before.nh[s], before.dst_ip[s])
    out[:] = 0
    assert impl.check_ip_header(pool, idx, 0, True, out, bad) == 1     # no good destinations
    assert list(out) == [impl.BAD_SADDR, impl.BAD_SADDR, impl.BAD_SADDR, impl.OK]


@BOTH
def test_unsorted_address_lists_raise_value_error(impl):
    pool, idx = load([GOOD])
    with pytest.raises(ValueError):
        impl.check_ip_header(pool, idx, 0, True, np.zeros(1, np.uint8),
                             np.array([5, 1], dtype=np.uint32))


@BOTH
def test_get_ip_address_reads_four_bytes_at_an_offset_from_the_packet_start(impl):
    frame = ETHER + build_ip(src="192.0.2.1", dst="198.51.100.9")
    pool, idx = load([frame, frame[:33], frame[:34]])
    pool.user[idx] = 7
    assert impl.get_ip_address(pool, idx, 26, pool.user) == 3
    assert list(pool.user[idx]) == [0xC0000201] * 3
    assert impl.get_ip_address(pool, idx, 30, pool.dst_ip) == 2      # frame[:33] is too short
    assert pool.dst_ip[idx[0]] == pool.dst_ip[idx[2]] == 0xC6336409
    assert pool.dst_ip[idx[1]] == 0
    with pytest.raises(ValueError):
        impl.get_ip_address(pool, idx, -1, pool.dst_ip)


def echo_request(payload=b"abcdefgh", code=0, ident=0x1234, seq=1, opts=b"", **kw) -> bytes:
    return build_ip(proto=1, opts=opts, payload=icmp_echo(8, code, struct.pack("!HH", ident, seq)
                                                          + payload), **kw)


@BOTH
@pytest.mark.parametrize("opts", [b"", b"\x94\x04\x00\x00"])
def test_icmp_echo_reply_gives_what_dpkt_computes(impl, opts):
    request = echo_request(src="10.1.0.2", dst="10.1.0.1", ttl=9, df=1, ident=77, opts=opts)
    pool, idx = load([ETHER + request])
    pool.nh[idx] = pool.off[idx] + 14
    out = np.full(1, 9, np.uint8)
    assert impl.icmp_echo_reply(pool, idx, out) == 0 and out[0] == 0
    reply = dpkt.ip.IP(pool.packet_bytes(idx[0])[14:])
    assert (reply.src, reply.dst, reply.ttl, reply.df, reply.mf, reply.offset) == \
        (inet("10.1.0.1"), inet("10.1.0.2"), 255, 0, 0, 0)
    assert reply.sum == full_checksum(bytes(reply)[:reply.hl * 4])
    icmp = bytes(reply)[reply.hl * 4:]
    assert icmp[0] == 0 and dpkt.in_cksum(icmp) == 0
    assert icmp[4:] == request[(request[0] & 15) * 4 + 4:]
    assert pool.dst_ip[idx[0]] == 0x0A010002


@BOTH
def test_an_echo_reply_summing_to_zero_gets_checksum_0xffff(impl):
    # type 8 and a zero message: the request's checksum is 0xF7FF, the reply's
    # incremental update gives 0x0000 but only 0xFFFF checks
    pool, idx = load([build_ip(proto=1, payload=icmp_echo(8, 0, bytes(12)))])
    pool.nh[idx] = pool.off[idx]
    assert impl.icmp_echo_reply(pool, idx, np.zeros(1, np.uint8)) == 0
    icmp = pool.packet_bytes(idx[0])[20:]
    assert icmp[2:4] == b"\xff\xff" and icmp[:2] == b"\0\0" and not any(icmp[4:])


@BOTH
def test_non_echo_packets_are_left_alone(impl):
    frames = [build_ip(proto=1, payload=icmp_echo(0, 0, bytes(8))),     # a reply
              build_ip(proto=17, payload=icmp_echo(8, 0, bytes(8))),    # not ICMP
              echo_request(mf=1), echo_request(frag_offset=3),          # fragments
              echo_request()[:27],                                      # 7 ICMP bytes
              echo_request()]
    pool, idx = load(frames)
    pool.nh[idx] = pool.off[idx]
    pool.length[idx[4]] = 27
    before = copy.deepcopy(pool)
    out = np.zeros(6, np.uint8)
    assert impl.icmp_echo_reply(pool, idx, out) == 5
    assert list(out) == [1, 1, 1, 1, 1, 0]
    pool.data[idx[5]] = before.data[idx[5]]
    pool.dst_ip[idx[5]] = before.dst_ip[idx[5]]
    assert_same_pool(pool, before)


# -- argument errors ------------------------------------------------------------------
@BOTH
def test_slot_out_of_range_raises_index_error(impl):
    pool, _ = load([GOOD])
    idx = np.array([pool.n_slots], dtype=np.uint32)
    with pytest.raises(IndexError):
        impl.dec_ip_ttl(pool, idx, np.zeros(1, np.uint8))


@BOTH
def test_short_out_array_raises_value_error(impl):
    pool, idx = load([GOOD, GOOD])
    with pytest.raises(ValueError):
        impl.check_ip_header(pool, idx, 0, True, np.zeros(1, np.uint8))


@BOTH
def test_negative_offset_raises_value_error(impl):
    pool, idx = load([GOOD])
    with pytest.raises(ValueError):
        impl.check_ip_header(pool, idx, -1, True, np.zeros(1, np.uint8))


def test_kernel_takes_read_only_and_empty_batches():
    pool, idx = load([GOOD])
    idx.setflags(write=False)
    out = np.zeros(1, np.uint8)
    assert kern.check_ip_header(pool, idx, 0, True, out) == 1
    empty = np.zeros(0, np.uint32)
    assert kern.dec_ip_ttl(pool, empty, np.zeros(0, np.uint8)) == 0


# -- DecIPTTL known answers -------------------------------------------------------------
@BOTH
@pytest.mark.parametrize("ttl", [2, 3, 64, 255])
@pytest.mark.parametrize("opts", [b"", b"\x94\x04\x00\x00"])
def test_dec_ip_ttl_gives_dpkts_recomputed_checksum(impl, ttl, opts):
    packet = build_ip(ttl=ttl, opts=opts, ident=0x1234, payload=b"abc")
    pool, idx = load([packet])
    pool.nh[idx] = pool.off[idx]
    out = np.full(1, 9, np.uint8)
    assert impl.dec_ip_ttl(pool, idx, out) == 0
    assert out[0] == 0
    got = pool.packet_bytes(idx[0])
    expect = dpkt.ip.IP(packet)
    expect.ttl -= 1
    expect.sum = 0
    assert got == bytes(expect)
    assert got[8] == ttl - 1


@BOTH
@pytest.mark.parametrize("ttl", [0, 1])
def test_ttl_0_and_1_expire_untouched(impl, ttl):
    pool, idx = load([build_ip(ttl=ttl), build_ip(ttl=5)])
    pool.nh[idx] = pool.off[idx]
    before = [pool.packet_bytes(s) for s in idx]
    out = np.zeros(2, np.uint8)
    assert impl.dec_ip_ttl(pool, idx, out) == 1
    assert list(out) == [1, 0]
    assert pool.packet_bytes(idx[0]) == before[0]
    assert pool.packet_bytes(idx[1])[8] == 4


def _header_with_sum(ttl: int, target: int) -> bytes:
    """A 20-byte header at the given TTL whose checksum field is `target` when correct."""
    base = bytearray(build_ip(ttl=ttl, proto=1, payload=b"")[:20])
    base[4:6] = b"\0\0"
    base[10:12] = b"\0\0"
    s = 0xFFFF - dpkt.in_cksum(bytes(base))          # the folded sum without the id field
    # pick the id that makes the ones' complement sum ~target
    want = ~target & 0xFFFF
    ident = (want - s) % 0xFFFF
    base[4:6] = struct.pack("!H", ident)
    base[10:12] = struct.pack("!H", full_checksum(bytes(base)))
    assert full_checksum(bytes(base)) == target
    return bytes(base)


@BOTH
def test_rfc1624_example_gives_0x0000(impl):
    # RFC 1624 section 4: m 0x5555 -> 0x3285 under HC 0xDD2F; eqn. 2 would give 0xFFFF.
    assert impl.incremental_checksum_update(0xDD2F, 0x5555, 0x3285) == 0x0000


@BOTH
def test_dec_ip_ttl_reaches_a_checksum_of_0x0000(impl):
    after = _header_with_sum(63, 0x0000)
    before = bytearray(after)
    before[8] = 64
    before[10:12] = struct.pack("!H", full_checksum(bytes(before)))
    pool, idx = load([bytes(before)])
    pool.nh[idx] = pool.off[idx]
    impl.dec_ip_ttl(pool, idx, np.zeros(1, np.uint8))
    got = pool.packet_bytes(idx[0])
    assert got[10:12] == b"\0\0"
    assert got == after


@BOTH
def test_dec_ip_ttl_leaves_a_checksum_of_0x0000(impl):
    before = _header_with_sum(64, 0x0000)
    pool, idx = load([before])
    pool.nh[idx] = pool.off[idx]
    impl.dec_ip_ttl(pool, idx, np.zeros(1, np.uint8))
    got = pool.packet_bytes(idx[0])
    assert got[8] == 63
    assert struct.unpack("!H", got[10:12])[0] == full_checksum(got) == 0x0100


@st.composite
def valid_headers(draw) -> bytes:
    opts = draw(ip_options)
    head = bytearray(draw(st.binary(min_size=20 + len(opts), max_size=20 + len(opts))))
    head[0] = 0x40 | (5 + len(opts) // 4)
    head[8] = draw(st.integers(2, 255))
    head[20:] = opts
    head[10:12] = struct.pack("!H", full_checksum(bytes(head)))
    return bytes(head)


@settings(max_examples=300, deadline=None)
@given(valid_headers())
def test_dec_ip_ttl_always_equals_a_full_recomputation(header):
    for impl in (kern, ref):
        pool, idx = load([header])
        pool.nh[idx] = pool.off[idx]
        impl.dec_ip_ttl(pool, idx, np.zeros(1, np.uint8))
        got = pool.packet_bytes(idx[0])
        assert got[8] == header[8] - 1
        assert struct.unpack("!H", got[10:12])[0] == full_checksum(got)


@settings(max_examples=300, deadline=None)
@given(valid_headers(), st.integers(0, 9).filter(lambda w: w != 5), st.integers(0, 0xFFFF),
       st.sampled_from([12, 16]), st.integers(0, 0xFFFFFFFF))
def test_incremental_updates_equal_a_full_recomputation(header, word, new16, addr_pos, new32):
    old_cksum = struct.unpack("!H", header[10:12])[0]
    h16 = bytearray(header)
    old16 = struct.unpack_from("!H", h16, 2 * word)[0]
    struct.pack_into("!H", h16, 2 * word, new16)
    h32 = bytearray(header)
    old32 = struct.unpack_from("!I", h32, addr_pos)[0]
    struct.pack_into("!I", h32, addr_pos, new32)
    for impl in (kern, ref):
        assert impl.incremental_checksum_update(old_cksum, old16, new16) == full_checksum(h16)
        assert impl.incremental_checksum_update32(old_cksum, old32, new32) == full_checksum(h32)


# -- SetIPChecksum, GetIPAddress known answers ---------------------------------------------
@BOTH
def test_set_ip_checksum_repairs_a_header(impl):
    good = build_ip(opts=b"\x01\x01\x01\x00", ident=77)
    pool, idx = load([_with(good, 10, b"\xde\xad", fix_checksum=False), ETHER + good])
    pool.nh[idx] = pool.off[idx] + np.array([0, 14], np.uint16)
    assert impl.set_ip_checksum(pool, idx) == 2
    assert pool.packet_bytes(idx[0]) == good
    assert pool.packet_bytes(idx[1]) == ETHER + good


@BOTH
def test_nh_outside_the_packet_is_left_alone(impl):
    pool, idx = load([GOOD, GOOD])
    pool.nh[idx] = [pool.off[idx[0]] - 1, pool.off[idx[1]] + len(GOOD) - 19]
    before = copy.deepcopy(pool)
    assert impl.set_ip_checksum(pool, idx) == 0
    assert impl.ip_dst_to_anno(pool, idx) == 0
    out = np.zeros(2, np.uint8)
    assert impl.dec_ip_ttl(pool, idx, out) == 0 and list(out) == [0, 0]
    assert_same_pool(pool, before)


@BOTH
def test_ip_dst_to_anno_copies_the_destination(impl):
    pool, idx = load([ETHER + build_ip(dst="198.51.100.9")])
    pool.nh[idx] = pool.off[idx] + 14
    assert impl.ip_dst_to_anno(pool, idx) == 1
    assert pool.dst_ip[idx[0]] == 0xC6336409


# -- TCP/UDP checksums known answers --------------------------------------------------------
@BOTH
@pytest.mark.parametrize("proto", [6, 17])
@pytest.mark.parametrize("payload", [b"", b"a", b"odd!!", b"x" * 1001])
def test_transport_checksums_agree_with_dpkt(impl, proto, payload):
    packet = build_ip(proto=proto, payload=payload, opts=b"\x01\x01\x01\x00")
    pool, idx = load([packet, packet])
    pool.nh[idx] = pool.off[idx]
    out = np.zeros(2, np.uint8)
    assert impl.udp_tcp_checksum_ok(pool, idx, out) == 0
    assert list(out) == [impl.CKSUM_OK] * 2
    # zero the checksum of the second copy, then let set_transport_checksum restore it
    hl = 24
    pos = hl + (16 if proto == 6 else 6)
    pool.data[idx[1], pool.off[idx[1]] + pos:pool.off[idx[1]] + pos + 2] = 0
    assert impl.set_transport_checksum(pool, idx) == 2
    assert pool.packet_bytes(idx[0]) == packet
    assert pool.packet_bytes(idx[1]) == packet


@BOTH
@pytest.mark.parametrize("proto", [6, 17])
def test_a_corrupt_segment_fails_its_checksum(impl, proto):
    packet = bytearray(build_ip(proto=proto, payload=b"payload"))
    packet[-1] ^= 0x01
    pool, idx = load([bytes(packet)])
    pool.nh[idx] = pool.off[idx]
    out = np.zeros(1, np.uint8)
    assert impl.udp_tcp_checksum_ok(pool, idx, out) == 1
    assert out[0] == impl.CKSUM_BAD


@BOTH
def test_udp_checksum_zero_means_none(impl):
    packet = bytearray(build_ip(proto=17, payload=b"payload"))
    packet[26:28] = b"\0\0"
    packet[-1] ^= 0xFF
    pool, idx = load([bytes(packet)])
    pool.nh[idx] = pool.off[idx]
    out = np.zeros(1, np.uint8)
    assert impl.udp_tcp_checksum_ok(pool, idx, out) == 0
    assert out[0] == impl.CKSUM_OK


@BOTH
def test_a_udp_checksum_of_zero_is_sent_as_0xffff(impl):
    # choose the last two payload bytes so that the datagram sums to 0xFFFF
    probe = build_ip(proto=17, payload=b"zz\0\0")
    fill = struct.unpack("!H", probe[26:28])[0]      # dpkt's checksum with the word at 0
    packet = build_ip(proto=17, payload=b"zz" + struct.pack("!H", fill))
    assert packet[26:28] == b"\xff\xff"               # dpkt agrees: 0 goes out as 0xFFFF
    pool, idx = load([packet])
    pool.nh[idx] = pool.off[idx]
    pool.data[idx[0], pool.off[idx[0]] + 26:pool.off[idx[0]] + 28] = [0x12, 0x34]
    assert impl.set_transport_checksum(pool, idx) == 1
    assert pool.packet_bytes(idx[0]) == packet
    out = np.zeros(1, np.uint8)
    assert impl.udp_tcp_checksum_ok(pool, idx, out) == 0 and out[0] == impl.CKSUM_OK


@BOTH
def test_non_tcp_udp_and_fragments_are_not_checked_nor_touched(impl):
    frames = [build_ip(proto=1, payload=b"\x08\x00\0\0\0\0\0\0"),
              build_ip(proto=17, mf=1, payload=b"first fragment"),
              build_ip(proto=6, frag_offset=3, payload=b"x" * 40)]
    pool, idx = load(frames)
    pool.nh[idx] = pool.off[idx]
    before = copy.deepcopy(pool)
    out = np.zeros(3, np.uint8)
    assert impl.udp_tcp_checksum_ok(pool, idx, out) == 0
    assert list(out) == [impl.CKSUM_NOT_CHECKED] * 3
    assert impl.set_transport_checksum(pool, idx) == 0
    assert_same_pool(pool, before)


@BOTH
def test_segments_too_short_for_their_header_are_bad_and_untouched(impl):
    tcp = build_ip(proto=6, payload=b"")
    short_tcp = _with(tcp[:39], 2, struct.pack("!H", 39))
    udp = build_ip(proto=17, payload=b"abc")
    udp_len_past_end = _with(udp, 24, struct.pack("!H", 12), fix_checksum=False)
    udp_len_below_8 = _with(udp, 24, struct.pack("!H", 7), fix_checksum=False)
    pool, idx = load([short_tcp, udp_len_past_end, udp_len_below_8])
    pool.nh[idx] = pool.off[idx]
    before = copy.deepcopy(pool)
    out = np.zeros(3, np.uint8)
    assert impl.udp_tcp_checksum_ok(pool, idx, out) == 3
    assert list(out) == [impl.CKSUM_BAD] * 3
    assert impl.set_transport_checksum(pool, idx) == 0
    assert_same_pool(pool, before)


@BOTH
def test_udp_checksum_covers_the_udp_length_not_the_trailing_bytes(impl):
    udp = build_ip(proto=17, payload=b"abcd")
    # extend the IP datagram by 3 junk bytes past the UDP datagram
    packet = _with(udp + b"xyz", 2, struct.pack("!H", len(udp) + 3))
    pool, idx = load([packet])
    pool.nh[idx] = pool.off[idx]
    out = np.zeros(1, np.uint8)
    assert impl.udp_tcp_checksum_ok(pool, idx, out) == 0 and out[0] == impl.CKSUM_OK


def test_a_pool_column_of_the_wrong_type_is_named_in_the_error():
    # The kernels take the pool's columns by their data pointers: a column that is
    # not what PacketPool makes must be refused, not misread.
    pool, idx = load([GOOD])
    pool.off = pool.off.astype(np.uint32)
    with pytest.raises(TypeError, match="pool.off must be a C-contiguous array of uint16"):
        kern.check_ip_header(pool, idx, 0, True, np.zeros(1, np.uint8))
    pool, idx = load([GOOD])
    pool.nh = pool.nh.reshape(-1, 1)[::2, 0]           # a strided view of the column
    with pytest.raises(TypeError, match="pool.nh"):
        kern.dec_ip_ttl(pool, idx, np.zeros(1, np.uint8))
