"""Checksum completion and GSO segmentation (cext/gso.pyx) against its plain-Python
reference (cext/gso_reference.py), and both against an independent checker.

Super-frames are built as Linux hands them to a TAP reader with IFF_VNET_HDR:
Ethernet + IPv4/IPv6 + TCP/UDP, the checksum field holding the folded
(uncomplemented) pseudo-header sum over the whole super-frame's L4 length.
"""
from __future__ import annotations

import copy
import struct

import dpkt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.cext import gso as kern
from vforward.cext import gso_reference as ref
from vforward.packet import (ANNOTATIONS, GSO_ECN, GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP,
                             GSO_UDP_L4, OFFLOAD_ANNOTATIONS, PacketPool)

IMPLS = pytest.mark.parametrize("impl", [pytest.param(kern, id="kernel"),
                                         pytest.param(ref, id="reference")])
SRC4, DST4 = bytes([10, 0, 0, 1]), bytes([192, 0, 2, 7])
SRC6, DST6 = bytes.fromhex("20010db8" + "00" * 11 + "01"), bytes.fromhex("fe80" + "11" * 14)
ETHER4 = bytes.fromhex("020000000001020000000002") + b"\x08\x00"
ETHER6 = ETHER4[:12] + b"\x86\xdd"
COPIED = [n for n in ANNOTATIONS if n not in OFFLOAD_ANNOTATIONS]
FIN, PSH, CWR = 0x01, 0x08, 0x80

few = settings(max_examples=40, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# -- an independent checksum and frame builder ------------------------------------------
def csum_sum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def pseudo(v6: bool, src: bytes, dst: bytes, proto: int, l4len: int) -> bytes:
    if v6:
        return src + dst + struct.pack("!IxxxB", l4len, proto)
    return src + dst + struct.pack("!xBH", proto, l4len)


def build(v6=False, tcp=True, payload=b"x" * 100, ip_opts=b"", tcp_opts=b"", flags=0x18,
          seq=1000, ident=7, sport=40000, dport=80):
    """(frame, IP header length, L4 header length): an Ethernet frame with a partial checksum."""
    if tcp:
        l4h = struct.pack("!HHIIBBHHH", sport, dport, seq, 99, (5 + len(tcp_opts) // 4) << 4,
                          flags, 65535, 0, 0) + tcp_opts
    else:
        l4h = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    l4len = len(l4h) + len(payload)
    proto = 6 if tcp else 17
    if v6:
        ip = struct.pack("!IHBB", 0x60000000, l4len, proto, 64) + SRC6 + DST6
    else:
        hl = 20 + len(ip_opts)
        ip = struct.pack("!BBHHHBBH", 0x40 | hl // 4, 0, hl + l4len, ident, 0x4000, 64, proto,
                         0) + SRC4 + DST4 + ip_opts
        ip = ip[:10] + struct.pack("!H", ~csum_sum(ip) & 0xFFFF) + ip[12:]
    src, dst = (SRC6, DST6) if v6 else (SRC4, DST4)
    field = 16 if tcp else 6
    ph = csum_sum(pseudo(v6, src, dst, proto, l4len))
    l4h = l4h[:field] + struct.pack("!H", ph) + l4h[field + 2:]
    return (ETHER6 if v6 else ETHER4) + ip + l4h + payload, len(ip), len(l4h)


def load(frames, n_slots=None, slot_size=2048, headroom=128):
    pool = PacketPool(n_slots or len(frames) + 2, slot_size=slot_size, headroom=headroom)
    return pool, pool.from_bytes(frames).idx


def mark(pool, slot, iphl, tcp=True, v6=False, gso_size=0, gso_type=None, ecn=False):
    """The offload annotations a TAP reader sets (nh after a 14-byte Ethernet header)."""
    nh = int(pool.off[slot]) + 14
    pool.nh[slot] = nh
    pool.csum_start[slot] = nh + iphl
    pool.csum_offset[slot] = 16 if tcp else 6
    if gso_type is None:
        gso_type = (GSO_TCPV6 if v6 else GSO_TCPV4) if tcp else GSO_UDP_L4
    pool.gso_type[slot] = (gso_type | (GSO_ECN if ecn else 0)) if gso_size else GSO_NONE
    pool.gso_size[slot] = gso_size


def pull(pool, slot, n):
    pool.off[slot] += n
    pool.length[slot] -= n


def random_annotations(pool, seed):
    rng = np.random.default_rng(seed)
    for name in COPIED:
        col = getattr(pool, name)
        if name != "nh":
            col[:] = rng.integers(0, np.iinfo(col.dtype).max, col.shape, dtype=col.dtype,
                                  endpoint=True)


def l4_checksum_ok(seg: bytes, v6: bool, proto: int) -> bool:
    ip = seg[14:]
    hl = 40 if v6 else (ip[0] & 0x0F) * 4
    src, dst = (ip[8:24], ip[24:40]) if v6 else (ip[12:16], ip[16:20])
    l4 = ip[hl:]
    return csum_sum(pseudo(v6, src, dst, proto, len(l4)) + l4) == 0xFFFF


# -- segmentation ------------------------------------------------------------------------
@st.composite
def super_frames(draw):
    v6, tcp = draw(st.booleans()), draw(st.booleans())
    ip_opts = b"" if v6 else draw(st.sampled_from([b"", b"\x94\x04\x00\x00", b"\x01" * 40]))
    tcp_opts = draw(st.sampled_from([b"", b"\x02\x04\x05\xb4",
                                     b"\x01\x01\x08\x0a" + bytes(range(8)), b"\x01" * 40]))
    room = 16384 - 128 - 14 - 60 - 60 - 7      # 7: the longest lead below
    n = draw(st.one_of(st.integers(0, 3000), st.integers(0, room)))
    payload = np.random.default_rng(draw(st.integers(0, 2**32))).bytes(n)
    gso_size = draw(st.one_of(st.integers(max(1, n // 40), max(1, n // 2 + 1)),
                              st.integers(max(1, n // 40), 0xFFFF)))
    frame, iphl, l4hl = build(v6, tcp, payload, ip_opts, tcp_opts if tcp else b"",
                              flags=draw(st.integers(0, 255)), seq=draw(st.integers(0, 2**32 - 1)),
                              ident=draw(st.integers(0, 0xFFFF)))
    return dict(v6=v6, tcp=tcp, frame=frame, iphl=iphl, l4hl=l4hl, payload=payload,
                gso_size=gso_size, ecn=draw(st.booleans()), seed=draw(st.integers(0, 2**32)),
                lead=draw(st.sampled_from([0, 0, 2, 7])))


def check_segments(pool, orig_slot, sf, segs, before):
    """Every segment against the super-frame it came from (before: annotation values)."""
    frame, v6, tcp, gs = sf["frame"], sf["v6"], sf["tcp"], sf["gso_size"]
    hdr = 14 + sf["iphl"] + sf["l4hl"]
    cs = 14 + sf["iphl"]
    chunks = []
    for i, s in enumerate(segs):
        seg = pool.packet_bytes(int(s))
        chunk = seg[hdr:]
        chunks.append(chunk)
        assert 0 < len(chunk) <= gs and (len(chunk) == gs or i == len(segs) - 1)
        assert seg[:14] == frame[:14]
        assert pool.off[s] == before["off"]
        for name in COPIED:
            assert np.array_equal(getattr(pool, name)[s], before[name]), name
        for name in OFFLOAD_ANNOTATIONS:
            assert getattr(pool, name)[s] == 0, name
        eth = dpkt.ethernet.Ethernet(seg)
        if v6:
            assert eth.data.plen == len(seg) - 54
            assert seg[14:18] == frame[14:18] and seg[20:cs] == frame[20:cs]
        else:
            ip = seg[14:cs]
            assert csum_sum(ip) == 0xFFFF
            assert eth.data.len == len(seg) - 14
            assert eth.data.id == (struct.unpack_from("!H", frame, 18)[0] + i) & 0xFFFF
            assert ip[:2] == frame[14:16] and ip[6:10] == frame[20:24] and ip[12:] == frame[26:cs]
        assert l4_checksum_ok(seg, v6, 6 if tcp else 17)
        l4, orig_l4 = seg[cs:hdr], frame[cs:hdr]
        if tcp:
            th = eth.data.data
            assert th.seq == (struct.unpack_from("!I", orig_l4, 4)[0] + i * gs) % 2**32
            want = orig_l4[13]
            if i < len(segs) - 1:
                want &= ~(FIN | PSH)
            if i > 0:
                want &= ~CWR
            assert l4[13] == want
            assert l4[:4] == orig_l4[:4] and l4[8:13] == orig_l4[8:13] and l4[14:16] == orig_l4[14:16]
            assert l4[18:] == orig_l4[18:]
        else:
            assert struct.unpack_from("!H", l4, 4)[0] == 8 + len(chunk)
            assert l4[6:8] != b"\0\0" and l4[:4] == orig_l4[:4]
    assert b"".join(chunks) == sf["payload"]


@IMPLS
@few
@given(super_frames())
def test_super_frame_segments_are_valid_packets(impl, sf):
    nseg = max(1, -(-len(sf["payload"]) // sf["gso_size"]))
    pool, idx = load([b"\xee" * sf["lead"] + sf["frame"]], n_slots=nseg + 1, slot_size=16384)
    s = int(idx[0])
    pull(pool, s, sf["lead"])          # off is not the headroom new slots start with
    random_annotations(pool, sf["seed"])
    mark(pool, s, sf["iphl"], sf["tcp"], sf["v6"], sf["gso_size"], ecn=sf["ecn"])
    before = {n: np.copy(getattr(pool, n)[s]) for n in ("off", *COPIED)}
    out, bad, short = impl.resolve(pool, idx)
    assert (bad, short) == (0, 0)
    assert len(out) == nseg and pool.n_used == nseg
    if nseg == 1:       # fits one segment: finished in place, headers untouched
        assert list(out) == [s]
        seg = pool.packet_bytes(s)
        cs = 14 + sf["iphl"]
        assert seg[:cs + (16 if sf["tcp"] else 6)] == sf["frame"][:cs + (16 if sf["tcp"] else 6)]
        assert l4_checksum_ok(seg, sf["v6"], 6 if sf["tcp"] else 17)
        assert pool.gso_size[s] == pool.csum_start[s] == pool.gso_type[s] == 0
    else:
        assert s not in out.tolist()
        check_segments(pool, s, sf, out, before)


@IMPLS
def test_tcp_segments_known_answer(impl):
    payload = bytes(range(250))
    frame, iphl, l4hl = build(payload=payload, flags=0x80 | 0x10 | PSH | FIN, seq=2**32 - 150,
                              ident=0xFFFF)
    pool, idx = load([frame], n_slots=4)
    pool.paint[idx] = 9
    mark(pool, idx[0], iphl, gso_size=100)
    out, bad, short = impl.resolve(pool, idx)
    assert (len(out), bad, short) == (3, 0, 0)
    ips = [dpkt.ethernet.Ethernet(pool.packet_bytes(s)).data for s in out]
    assert [ip.id for ip in ips] == [0xFFFF, 0, 1]
    assert [ip.data.seq for ip in ips] == [2**32 - 150, 2**32 - 50, 50]
    assert [ip.data.flags for ip in ips] == [0x90, 0x10, 0x10 | PSH | FIN]
    assert [len(ip.data.data) for ip in ips] == [100, 100, 50]
    assert list(pool.paint[out]) == [9, 9, 9]
    # dpkt recomputes both checksums from scratch: the ones we wrote must match
    for ip in ips:
        sums = ip.sum, ip.data.sum
        ip.sum = ip.data.sum = 0
        ip = dpkt.ip.IP(bytes(ip))
        assert (ip.sum, ip.data.sum) == sums


# -- partial checksum completion ------------------------------------------------------
@IMPLS
@few
@given(st.booleans(), st.booleans(), st.binary(max_size=1500), st.integers(0, 255))
def test_partial_checksum_is_finished_like_a_full_one(impl, v6, tcp, payload, flags):
    frame, iphl, _ = build(v6, tcp, payload, flags=flags)
    pool, idx = load([frame, frame])
    s = int(idx[0])
    mark(pool, s, iphl, tcp, v6)
    pool.gso_type[s] = GSO_TCPV4     # ignored without a gso_size
    out, bad, short = impl.resolve(pool, idx[:1])
    assert list(out) == [s] and (bad, short) == (0, 0)
    for name in OFFLOAD_ANNOTATIONS:
        assert getattr(pool, name)[s] == 0
    got = pool.packet_bytes(s)
    field = 14 + iphl + (16 if tcp else 6)
    assert got[:field] == frame[:field] and got[field + 2:] == frame[field + 2:]
    # dpkt computes the checksum from scratch (zero sent as 0xFFFF, as Linux does)
    eth = dpkt.ethernet.Ethernet(frame)
    eth.data.data.sum = 0
    if not v6:
        eth.data.sum = 0
    want = struct.unpack_from("!H", bytes(eth), field)[0] or 0xFFFF
    assert struct.unpack_from("!H", got, field)[0] == want
    assert l4_checksum_ok(got, v6, 6 if tcp else 17)


@IMPLS
def test_partial_checksum_needs_no_ip_header(impl):
    pool, idx = load([bytes([1, 2, 3, 4, 0xAB, 0xCD, 5])])
    s = int(idx[0])
    pool.csum_start[s] = pool.off[s] + 2
    pool.csum_offset[s] = 2
    pool.nh[s] = 0
    out, bad, _ = impl.resolve(pool, idx)
    assert bad == 0
    # ~(0x0304 + 0xABCD + 0x0500) = ~0xB3D1 = 0x4C2E
    assert pool.packet_bytes(s) == bytes([1, 2, 3, 4, 0x4C, 0x2E, 5])


# -- malformed offload state ----------------------------------------------------------
def _set(frame, pos, raw):
    return frame[:pos] + raw + frame[pos + len(raw):]


def _malformed_cases():
    t4, h4, _ = build(payload=b"p" * 30)
    t6, h6, _ = build(v6=True, payload=b"p" * 30)
    u4, _, _ = build(tcp=False, payload=b"p" * 30)
    u6, _, _ = build(v6=True, tcp=False, payload=b"p" * 30)
    cs4, cs6 = 14 + h4, 14 + h6
    return {
        # name: (frame, tcp, v6, annotation overrides relative to off, or absolute)
        "csum_start before off": (t4, True, False, {"csum_start": -1}),
        "csum field past the end": (t4, True, False, {"csum_start": len(t4) - 17}),
        "nh before off": (t4, True, False, {"nh": -1}),
        "nh at csum_start": (t4, True, False, {"nh": cs4}),
        "IPv6 header, TCPV4 type": (t6, True, True, {"gso_type": GSO_TCPV4}),
        "IPv4 header, TCPV6 type": (t4, True, False, {"gso_type": GSO_TCPV6}),
        "IP version 5": (_set(t4, 14, b"\x55"), True, False, {}),
        "UFO": (u4, False, False, {"gso_type": GSO_UDP}),
        "NONE with a size": (t4, True, False, {"gso_type": GSO_NONE}),
        "unknown type": (t4, True, False, {"gso_type": 7}),
        "unknown flag bit": (t4, True, False, {"gso_type": GSO_TCPV4 | 0x40}),
        "TCP data offset 4": (_set(t4, cs4 + 12, b"\x40"), True, False, {}),
        "TCP header past the end": (_set(t4, cs4 + 12, b"\xf0"), True, False, {}),
        "IPv4 proto UDP for TCPV4": (_set(t4, 23, b"\x11"), True, False, {}),
        "IPv4 proto TCP for UDP_L4": (_set(u4, 23, b"\x06"), False, False, {}),
        "IPv6 next header UDP for TCPV6": (_set(t6, 20, b"\x11"), True, True, {}),
        "IPv6 next header TCP for UDP_L4": (_set(u6, 20, b"\x06"), False, True, {}),
        "IPv6 header cut by csum_start": (u6, False, True, {"csum_start": cs6 - 20}),
        "csum_offset 6 for TCP": (t4, True, False, {"csum_offset": 6}),
        "csum_offset 16 for UDP": (u4, False, False, {"csum_offset": 16}),
        "IHL 4": (_set(t4, 14, b"\x44"), True, False, {}),
        "IHL past csum_start": (_set(t4, 14, b"\x4f"), True, False, {}),
        "length past the slot": (t4, True, False, {"length": 2048 - 128 + 1}),
    }


MALFORMED = _malformed_cases()


@IMPLS
@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_offload_state_is_counted_and_freed(impl, case):
    frame, tcp, v6, changes = MALFORMED[case]
    pool, idx = load([frame])
    s = int(idx[0])
    mark(pool, s, 40 if v6 else 20, tcp, v6, gso_size=10)
    o = int(pool.off[s])
    for name, v in changes.items():
        getattr(pool, name)[s] = v + o if name in ("csum_start", "nh") else v
    out, bad, short = impl.resolve(pool, idx)
    assert (len(out), bad, short) == (0, 1, 0)
    assert pool.n_used == 0


@IMPLS
def test_a_partial_checksum_past_the_packet_is_malformed(impl):
    pool, idx = load([b"abcdef"])
    s = int(idx[0])
    pool.csum_start[s] = pool.off[s] + 4
    pool.csum_offset[s] = 1
    out, bad, _ = impl.resolve(pool, idx)
    assert (len(out), bad, pool.n_used) == (0, 1, 0)


# -- batches: order, exhaustion, leaks --------------------------------------------------
@IMPLS
def test_mixed_batch_keeps_its_order(impl):
    sf, h, _ = build(payload=b"s" * 250)
    part, hp, _ = build(tcp=False, payload=b"u" * 20)
    bad, hb, _ = build(v6=True, payload=b"b" * 50)
    frames = [b"plain one", part, sf, bad, b"plain two"]
    pool, idx = load(frames, n_slots=8)
    mark(pool, idx[1], hp, tcp=False)
    mark(pool, idx[2], h, gso_size=100)
    mark(pool, idx[3], hb, v6=True, gso_size=20, gso_type=GSO_TCPV4)
    out, n_bad, short = impl.resolve(pool, idx)
    assert (n_bad, short) == (1, 0)
    assert len(out) == 6 and pool.n_used == 6
    assert list(out[:2]) == list(idx[:2]) and out[-1] == idx[4]
    assert [len(pool.packet_bytes(s)) - 54 for s in out[2:5]] == [100, 100, 50]


@IMPLS
def test_exhausted_super_frame_is_dropped_and_a_smaller_one_still_fits(impl):
    big, h, _ = build(payload=b"B" * 500)          # 5 segments
    small, _, _ = build(payload=b"s" * 200)        # 2 segments
    pool, idx = load([big, b"plain", small], n_slots=3 + 3)
    mark(pool, idx[0], h, gso_size=100)
    mark(pool, idx[2], h, gso_size=100)
    out, bad, short = impl.resolve(pool, idx)
    assert (bad, short) == (0, 1)
    assert len(out) == 3 and out[0] == idx[1]
    assert pool.n_used == 3


@IMPLS
def test_empty_pool_drops_every_super_frame_without_raising(impl):
    f, h, _ = build(payload=b"x" * 300)
    pool, idx = load([f, f], n_slots=2)
    for s in idx:
        mark(pool, s, h, gso_size=100)
    out, bad, short = impl.resolve(pool, idx)
    assert (len(out), bad, short, pool.n_used) == (0, 0, 2, 0)


@IMPLS
def test_empty_batch(impl):
    pool, _ = load([b"x"])
    out, bad, short = impl.resolve(pool, np.zeros(0, np.uint32))
    assert (len(out), bad, short, pool.n_used) == (0, 0, 0, 1)
    assert out.dtype == np.uint32


@IMPLS
def test_slot_out_of_range_raises_index_error(impl):
    pool, _ = load([b"x"])
    bad = np.array([pool.n_slots], np.uint32)
    with pytest.raises(IndexError):
        impl.resolve(pool, bad)
    with pytest.raises(IndexError):
        impl.needs_resolve(pool, bad)


# -- needs_resolve ----------------------------------------------------------------------
@IMPLS
def test_needs_resolve(impl):
    pool, idx = load([b"a", b"b", b"c"])
    assert impl.needs_resolve(pool, idx) is False
    assert impl.needs_resolve(pool, idx[:0]) is False
    pool.gso_type[idx[0]] = GSO_TCPV4          # a type alone is no offload state
    pool.csum_offset[idx[0]] = 16
    assert impl.needs_resolve(pool, idx) is False
    pool.csum_start[idx[1]] = 200
    assert impl.needs_resolve(pool, idx) is True
    assert impl.needs_resolve(pool, idx[[0, 2]]) is False
    assert impl.needs_resolve(pool, idx[::-2]) is False     # strided view
    pool.gso_size[idx[2]] = 1
    assert impl.needs_resolve(pool, idx[2:]) is True
    assert impl.needs_resolve(pool, [int(idx[2])]) is True


# -- kernel == reference on random input -------------------------------------------------
@st.composite
def scenarios(draw):
    slot_size, headroom = draw(st.sampled_from([(2048, 128), (1600, 64), (4096, 32)]))
    room = slot_size - headroom
    frames, marks = [], []
    for _ in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from(["gso", "gso", "gso", "partial", "plain", "garbage"]))
        if kind == "garbage":
            frames.append(draw(st.binary(max_size=120)))
            marks.append(None)
            continue
        v6, tcp = draw(st.booleans()), draw(st.booleans())
        n = draw(st.integers(0, room - 14 - 60 - 60))
        frame, iphl, _ = build(v6, tcp, np.random.default_rng(n).bytes(n),
                               ip_opts=draw(st.sampled_from([b"", b"\x01" * 8])) if not v6 else b"",
                               tcp_opts=draw(st.sampled_from([b"", b"\x01" * 12])) if tcp else b"",
                               flags=draw(st.integers(0, 255)))
        if draw(st.integers(0, 3)) == 0:           # a header byte gone wrong
            pos = draw(st.integers(0, min(len(frame), 120) - 1))
            frame = _set(frame, pos, bytes([draw(st.integers(0, 255))]))
        if kind == "plain":
            marks.append(None)
        else:
            gs = draw(st.integers(1, max(1, n))) if kind == "gso" else 0
            marks.append((iphl, tcp, v6, gs, draw(st.sampled_from([None, GSO_UDP_L4, GSO_UDP])),
                          draw(st.booleans())))
        frames.append(frame[:room])
    leads = [draw(st.integers(0, 3)) for _ in frames]
    frames = [(b"\xee" * k + f)[:room] for k, f in zip(leads, frames)]
    extra = draw(st.integers(0, 40))
    pool, idx = load(frames, n_slots=len(frames) + extra, slot_size=slot_size, headroom=headroom)
    random_annotations(pool, draw(st.integers(0, 2**32)))
    for s, m, k in zip(idx.tolist(), marks, leads):
        pull(pool, s, min(k, int(pool.length[s])))
        if m is not None:
            iphl, tcp, v6, gs, gtype, ecn = m
            mark(pool, s, iphl, tcp, v6, gs, gtype if draw(st.integers(0, 4)) == 0 else None, ecn)
        if draw(st.integers(0, 4)) == 0:           # garbage offload annotations
            for name in OFFLOAD_ANNOTATIONS + ("nh",):
                col = getattr(pool, name)
                col[s] = draw(st.integers(0, np.iinfo(col.dtype).max))
        if draw(st.integers(0, 9)) == 0:
            pool.length[s] = draw(st.integers(room - 20, 0xFFFF))
    order = draw(st.permutations(idx.tolist())) if len(idx) else []
    batch = order[:draw(st.integers(0, len(order)))] if draw(st.booleans()) else order
    return pool, np.array(batch, dtype=np.uint32)


def assert_same_pool(a, b):
    np.testing.assert_array_equal(a.data, b.data, err_msg="packet bytes differ")
    for name in ("off", "length", "_in_use", *ANNOTATIONS):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.n_free == b.n_free
    np.testing.assert_array_equal(a._free[:a.n_free], b._free[:b.n_free], err_msg="free stack")


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(scenarios())
def test_kernel_and_reference_agree_on_random_input(sc):
    pool, idx = sc
    other = copy.deepcopy(pool)
    used = pool.n_used
    assert kern.needs_resolve(pool, idx) == ref.needs_resolve(other, idx)
    out_k, bad_k, short_k = kern.resolve(pool, idx)
    out_r, bad_r, short_r = ref.resolve(other, idx)
    np.testing.assert_array_equal(out_k, out_r)
    assert (bad_k, short_k) == (bad_r, short_r)
    assert_same_pool(pool, other)
    assert pool.n_used == used - len(idx) + len(out_k)     # no slot leaked
    assert not kern.needs_resolve(pool, out_k)
