"""The NAT kernels (cext/rewriter.pyx) against their plain-Python reference
(cext/rewriter_reference.py), and both against dpkt.

The differential tests install the same random mappings in a compiled and a
reference FlowTable, build one pool of random TCP, UDP and ICMP packets
(matching the mappings either way, quoting them in ICMP errors, or not;
some truncated, fragmented or broken), copy it, run each implementation on
its copy and demand the same return value, outputs, flow columns and pool,
byte for byte.  Every rewritten packet must also carry checksums that dpkt
finds right.
"""
from __future__ import annotations

import copy
import random
import struct

import dpkt
import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from vforward.cext import rewriter as kern
from vforward.cext import rewriter_reference as ref
from vforward.packet import ANNOTATIONS, PacketPool

BOTH = pytest.mark.parametrize("impl", [kern, ref], ids=["kernel", "reference"])
differential = settings(max_examples=200, deadline=None,
                        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

TCP, UDP, ICMP = 6, 17, 1
ADDRS = [0x0A000002, 0x0A000003, 0xC6336401, 0x08080808, 0xFFFF0000, 0x0000FFFF]
PORTS = [0, 53, 80, 1024, 5000, 0xFFFF, 0xFFFE]


def ip_bytes(a: int) -> bytes:
    return struct.pack("!I", a)


# -- packets -----------------------------------------------------------------------
def build(proto, saddr, sport, daddr, dport, payload=b"data", udp_zero=False, flags=0x18,
          icmp_type=8, opts=b"", mf=0, offset=0, ident=7, ttl=64):
    """A valid packet with every checksum right (unless udp_zero: UDP checksum 0)."""
    if proto == TCP:
        data = dpkt.tcp.TCP(sport=sport, dport=dport, seq=1, ack=2, flags=flags, data=payload)
    elif proto == UDP:
        data = dpkt.udp.UDP(sport=sport, dport=dport, ulen=8 + len(payload), data=payload)
    else:
        ident_field = sport if icmp_type == 8 else dport
        data = dpkt.icmp.ICMP(type=icmp_type, code=0,
                              data=dpkt.icmp.ICMP.Echo(id=ident_field, seq=3, data=payload))
    ip = dpkt.ip.IP(src=ip_bytes(saddr), dst=ip_bytes(daddr), p=proto, ttl=ttl, id=ident,
                    data=data)
    if opts:
        ip.opts = opts
        ip.hl = 5 + len(opts) // 4
    ip.mf, ip.offset = mf, offset
    raw = bytearray(bytes(ip))
    if proto == UDP and udp_zero:
        hl = (raw[0] & 0x0F) * 4
        raw[hl + 6:hl + 8] = b"\0\0"
    return bytes(raw)


def icmp_error(outer_src, outer_dst, quoted: bytes, icmp_type=3, code=3, quote_len=None):
    """An ICMP error quoting the start of `quoted` (IP header + 8 bytes by default)."""
    hl = (quoted[0] & 0x0F) * 4
    q = quoted[:hl + 8 if quote_len is None else quote_len]
    icmp = dpkt.icmp.ICMP(type=icmp_type, code=code,
                          data=dpkt.icmp.ICMP.Unreach(data=q))
    ip = dpkt.ip.IP(src=ip_bytes(outer_src), dst=ip_bytes(outer_dst), p=ICMP, ttl=64,
                    data=icmp)
    return bytes(ip)


def checksums_ok(frame: bytes) -> bool:
    """dpkt's verdict on the IP checksum and the transport checksum (if any)."""
    hl = (frame[0] & 0x0F) * 4
    if dpkt.in_cksum(frame[:hl]) != 0:
        return False
    (ip_len, frag) = struct.unpack_from("!H2xH", frame, 2)
    if frag & 0x3FFF:
        return True
    proto, seg = frame[9], frame[hl:ip_len]
    if proto in (TCP, UDP):
        if proto == UDP and seg[6:8] == b"\0\0":
            return True
        pseudo = frame[12:20] + struct.pack("!BBH", 0, proto, len(seg))
        return dpkt.in_cksum(pseudo + seg) == 0
    if proto == ICMP:
        return dpkt.in_cksum(seg) == 0
    return True


# -- tables ------------------------------------------------------------------------
def install(tables, mappings):
    """Insert each (proto, key, new, fout, rout) as RewriterTable.add does: the
    forward entry (value 2f) and the reply entry (2f + 1); the same in every table."""
    installed = []
    for f, (proto, key, new, fout, rout) in enumerate(mappings):
        s, sp, d, dp = key
        ns, nsp, nd, ndp = new
        oks = [t.insert(proto, s, sp, d, dp, ns, nsp, nd, ndp, fout, 2 * f) for t in tables]
        assert len(set(oks)) == 1
        if not oks[0]:
            continue
        oks = [t.insert(proto, nd, ndp, ns, nsp, d, dp, s, sp, rout, 2 * f + 1) for t in tables]
        assert len(set(oks)) == 1
        if not oks[0]:
            for t in tables:
                assert t.remove(proto, s, sp, d, dp)
            continue
        installed.append((proto, key, new))
    return installed


def run_both(frames, mappings, dst_anno=True, addr=False, pair=False):
    """Run kernel and reference on copies of one pool; assert they agree; return
    (pool, idx, codes, ports, values, installed) of the kernel's run."""
    pool = PacketPool(max(len(frames), 1) + 8)
    batch = pool.from_bytes(frames)
    pool.nh[batch.idx] = pool.off[batch.idx]
    pool.dst_ip[batch.idx] = 0x01020304
    ref_pool = copy.deepcopy(pool)
    kt, rt = kern.FlowTable(4), ref.FlowTable(4)
    installed = install([kt, rt], mappings)
    n = len(frames)
    results = []
    for impl, p, t in ((kern, pool, kt), (ref, ref_pool, rt)):
        nf = max(len(mappings), 1)
        cols = (np.zeros(nf, np.float64), np.zeros(nf, np.uint8), np.zeros(nf, np.uint32))
        outs = (np.empty(n, np.uint8), np.empty(n, np.int32), np.empty(n, np.int32),
                np.empty((n, 4), np.uint32))
        fn = impl.rewrite_addr_batch if addr else impl.rewrite_batch
        extra = {"pair": True} if pair else {}
        done = fn(p, batch.idx, t, 12.5, *cols, dst_anno, *outs, **extra)
        results.append((done, cols, outs))
    (kd, kcols, kouts), (rd, rcols, routs) = results
    assert kd == rd
    for a, b in zip(kouts + kcols, routs + rcols):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(pool.data, ref_pool.data)
    for name in ANNOTATIONS:
        np.testing.assert_array_equal(getattr(pool, name), getattr(ref_pool, name))
    return pool, batch.idx, kouts[0], kouts[1], kouts[2], installed


# -- strategies -----------------------------------------------------------------------
addrs = st.sampled_from(ADDRS)
ports = st.sampled_from(PORTS) | st.integers(0, 0xFFFF)
protos = st.sampled_from([TCP, UDP, ICMP])
tuples = st.tuples(addrs, ports, addrs, ports)


@st.composite
def mapping_sets(draw, min_size=0):
    out = []
    for _ in range(draw(st.integers(min_size, 8))):
        proto = draw(protos)
        key, new = list(draw(tuples)), list(draw(tuples))
        if proto == ICMP:               # an echo request's key and rewrite have no dport
            key[3] = new[3] = 0
        if draw(st.booleans()):
            new = list(key)             # keep, or a partial change
            field = draw(st.integers(0, 3))
            new[field] = draw(st.sampled_from(PORTS if field % 2 else ADDRS))
            if proto == ICMP:
                new[3] = 0
        out.append((proto, tuple(key), tuple(new), draw(st.integers(0, 3)),
                    draw(st.integers(0, 3))))
    return out


@st.composite
def traffic(draw, min_mappings=0):
    mappings = draw(mapping_sets(min_mappings))
    frames = []
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(["forward", "reply", "error", "random", "random"]))
        payload = draw(st.binary(max_size=24))
        opts = draw(st.sampled_from([b"", b"", b"\x01\x01\x01\x00", b"\x94\x04\x00\x00"]))
        udp_zero = draw(st.booleans())
        flags = draw(st.sampled_from([0x02, 0x10, 0x11, 0x04, 0x18, 0x12]))
        if mappings and kind != "random":
            proto, key, new, _, _ = draw(st.sampled_from(mappings))
            if kind == "forward":
                s, sp, d, dp = key
                itype = 8
            else:
                s, sp, d, dp = new[2], new[3], new[0], new[1]
                itype = 0
            pkt = build(proto, s, sp, d, dp, payload, udp_zero, flags, itype, opts)
            if kind == "error":     # an error about a packet that left rewritten
                s, sp, d, dp = new
                quoted = build(proto, s, sp, d, dp, payload, udp_zero, flags, 8, opts)
                src = draw(st.sampled_from([d, draw(addrs)]))
                qlen = draw(st.sampled_from([None, None, 28, 20, 60]))
                pkt = icmp_error(src, s, quoted, draw(st.sampled_from([3, 11, 12, 4, 5])),
                                 quote_len=qlen)
        else:
            proto = draw(st.sampled_from([TCP, UDP, ICMP, 47]))
            s, sp, d, dp = draw(tuples)
            itype = draw(st.sampled_from([8, 0, 3, 13]))
            if proto == 47:
                pkt = bytes(dpkt.ip.IP(src=ip_bytes(s), dst=ip_bytes(d), p=47, data=payload))
            else:
                pkt = build(proto, s, sp, d, dp, payload, udp_zero, flags, itype, opts)
        pkt = bytearray(pkt)
        mutation = draw(st.sampled_from(["none"] * 6 + ["truncate", "ihl", "frag", "first",
                                                        "length", "byte"]))
        if mutation == "truncate":
            cut = draw(st.integers(0, len(pkt)))
            pkt = pkt[:cut]
            if len(pkt) >= 4:
                pkt[2:4] = struct.pack("!H", len(pkt))
        elif mutation == "ihl" and pkt:
            pkt[0] = (pkt[0] & 0xF0) | draw(st.integers(0, 15))
        elif mutation == "frag" and len(pkt) >= 8:
            pkt[6:8] = struct.pack("!H", draw(st.integers(1, 0x1FFF)))
        elif mutation == "first" and len(pkt) >= 8:
            pkt[6:8] = struct.pack("!H", 0x2000)
        elif mutation == "length" and len(pkt) >= 4:
            pkt[2:4] = struct.pack("!H", draw(st.integers(0, 0xFFFF)))
        elif mutation == "byte" and pkt:
            at = draw(st.integers(0, len(pkt) - 1))
            pkt[at] = draw(st.integers(0, 255))
        frames.append(bytes(pkt))
    return frames, mappings


# -- differential tests ------------------------------------------------------------------
@differential
@given(traffic(), st.booleans())
def test_kernel_and_reference_rewrite_identically(case, dst_anno):
    frames, mappings = case
    run_both(frames, mappings, dst_anno)


@differential
@given(traffic())
def test_basic_nat_kernel_and_reference_rewrite_identically(case):
    frames, mappings = case
    addr_mappings = [(0, (s, 0, 0, 0), (ns, 0, 0, 0), fo, ro)
                     for _, (s, _, _, _), (ns, _, _, _), fo, ro in mappings]
    run_both(frames, addr_mappings, addr=True)


@differential
@given(traffic())
def test_address_pair_kernel_and_reference_rewrite_identically(case):
    frames, mappings = case
    pair_mappings = [(0, (s, 0, d, 0), (ns, 0, d, 0), fo, ro)
                     for _, (s, _, d, _), (ns, _, _, _), fo, ro in mappings]
    run_both(frames, pair_mappings, addr=True, pair=True)


@differential
@given(traffic(min_mappings=1))
def test_rewritten_packets_carry_checksums_dpkt_accepts(case):
    frames, mappings = case
    # Lead with a clean packet of the first mapping's flow, so that every example
    # rewrites at least one packet and checks its checksums.
    proto, key, _, _, _ = mappings[0]
    frames = [build(proto, *key)] + frames
    valid = [checksums_ok(f) if len(f) >= 20 and (f[0] & 0x0F) >= 5 else False
             for f in frames]
    pool, idx, codes, _, _, installed = run_both(frames, mappings)
    assume(installed and installed[0][:2] == (proto, key))   # else its reply entry clashed
    assert codes[0] & kern.CODE_MASK == kern.HIT
    checked = 0
    for i, slot in enumerate(idx):
        code = codes[i] & kern.CODE_MASK
        if code in (kern.HIT, kern.ICMP_ERROR) and valid[i]:
            assert checksums_ok(pool.packet_bytes(int(slot))), frames[i].hex()
            checked += 1
    assert checked >= 1


# -- known answers -----------------------------------------------------------------------
def one(frames, mappings, **kw):
    pool, idx, codes, ports, values, _ = run_both(frames, mappings, **kw)
    return [pool.packet_bytes(int(s)) for s in idx], list(codes), list(ports), list(values), pool


PRIV, NAT, SERVER = 0x0A000002, 0xC6336401, 0x08080808
NAPT = [(UDP, (PRIV, 5000, SERVER, 53), (NAT, 1024, SERVER, 53), 0, 1),
        (TCP, (PRIV, 40000, SERVER, 80), (NAT, 1025, SERVER, 80), 0, 1),
        (ICMP, (PRIV, 77, SERVER, 0), (NAT, 1026, SERVER, 0), 0, 1)]


@pytest.mark.parametrize("proto,sport,dport,nsport", [(UDP, 5000, 53, 1024),
                                                      (TCP, 40000, 80, 1025)])
def test_outbound_packet_gets_the_nat_address_and_port_and_fresh_checksums(
        proto, sport, dport, nsport):
    out, codes, ports, values, _ = one([build(proto, PRIV, sport, SERVER, dport)], NAPT)
    assert codes == [kern.HIT] and ports == [0]
    assert out[0] == build(proto, NAT, nsport, SERVER, dport)


@pytest.mark.parametrize("proto,sport,dport,nsport", [(UDP, 5000, 53, 1024),
                                                      (TCP, 40000, 80, 1025)])
def test_reply_is_rewritten_back_to_the_private_host(proto, sport, dport, nsport):
    out, codes, ports, values, pool = one([build(proto, SERVER, dport, NAT, nsport)], NAPT)
    assert codes == [kern.HIT] and ports == [1] and values[0] & 1 == 1
    assert out[0] == build(proto, SERVER, dport, PRIV, sport)


def test_ping_request_and_reply_have_their_identifier_mapped():
    out, codes, ports, _, _ = one([build(ICMP, PRIV, 77, SERVER, 0, icmp_type=8),
                                   build(ICMP, SERVER, 0, NAT, 1026, icmp_type=0)], NAPT)
    assert codes == [kern.HIT, kern.HIT] and ports == [0, 1]
    assert out[0] == build(ICMP, NAT, 1026, SERVER, 0, icmp_type=8)
    assert out[1] == build(ICMP, SERVER, 0, PRIV, 77, icmp_type=0)


def test_echo_request_to_the_nat_address_does_not_match_a_reply_mapping():
    _, codes, _, _, _ = one([build(ICMP, SERVER, 1026, NAT, 0, icmp_type=8),
                             build(ICMP, SERVER, 0, NAT, 999, icmp_type=0)], NAPT)
    assert codes == [kern.MISS, kern.UNMAPPABLE]


def test_a_request_hitting_an_entry_made_for_replies_keeps_a_right_checksum():
    # Mapped to identifier 0, the reply entry's key is (SERVER, 0, NAT, 0), which is
    # also the key of an echo request from SERVER to NAT with identifier 0.
    mapping = [(ICMP, (PRIV, 77, SERVER, 0), (NAT, 0, SERVER, 0), 0, 1)]
    out, codes, _, _, _ = one([build(ICMP, SERVER, 0, NAT, 0, icmp_type=8)], mapping)
    assert codes == [kern.HIT]
    assert out[0] == build(ICMP, SERVER, 0, PRIV, 0, icmp_type=8) and checksums_ok(out[0])


def test_zero_udp_checksum_stays_zero():
    out, codes, _, _, _ = one([build(UDP, PRIV, 5000, SERVER, 53, udp_zero=True)], NAPT)
    assert codes == [kern.HIT]
    assert out[0] == build(UDP, NAT, 1024, SERVER, 53, udp_zero=True)


def test_udp_checksum_that_would_become_zero_is_sent_as_ffff():
    # find a payload whose rewritten datagram sums to a checksum of 0
    for n in range(1 << 16):
        payload = struct.pack("!H", n)
        want = build(UDP, NAT, 1024, SERVER, 53, payload)
        if want[26:28] == b"\xff\xff":
            break
    out, codes, _, _, _ = one([build(UDP, PRIV, 5000, SERVER, 53, payload)], NAPT)
    assert codes == [kern.HIT] and out[0][26:28] == b"\xff\xff" and checksums_ok(out[0])


def test_icmp_error_about_an_outbound_datagram_is_translated_back():
    sent = build(UDP, NAT, 1024, SERVER, 53, b"question")
    error = icmp_error(SERVER, NAT, sent)
    out, codes, ports, _, pool = one([error], NAPT)
    assert codes == [kern.ICMP_ERROR] and ports == [1]
    original = build(UDP, PRIV, 5000, SERVER, 53, b"question")
    assert out[0] == icmp_error(SERVER, PRIV, original)
    assert checksums_ok(out[0])


def test_icmp_error_from_a_router_on_the_way_keeps_its_source():
    router = 0xC6336402
    sent = build(TCP, NAT, 1025, SERVER, 80, b"")
    out, codes, _, _, _ = one([icmp_error(router, NAT, sent, icmp_type=11, code=0)], NAPT)
    assert codes == [kern.ICMP_ERROR]
    assert out[0] == icmp_error(router, PRIV, build(TCP, PRIV, 40000, SERVER, 80, b""),
                                icmp_type=11, code=0)


def test_icmp_error_about_a_ping_is_translated_back():
    sent = build(ICMP, NAT, 1026, SERVER, 0, icmp_type=8)
    out, codes, _, _, _ = one([icmp_error(0x0B000001, NAT, sent, icmp_type=11, code=0)], NAPT)
    assert codes == [kern.ICMP_ERROR]
    assert out[0] == icmp_error(0x0B000001, PRIV, build(ICMP, PRIV, 77, SERVER, 0),
                                icmp_type=11, code=0)


def test_icmp_error_from_the_private_host_gets_the_nat_source():
    delivered = build(UDP, SERVER, 53, PRIV, 5000)
    out, codes, ports, _, _ = one([icmp_error(PRIV, SERVER, delivered)], NAPT)
    assert codes == [kern.ICMP_ERROR] and ports == [0]
    assert out[0] == icmp_error(NAT, SERVER, build(UDP, SERVER, 53, NAT, 1024))


def test_icmp_error_quoting_an_unknown_flow_is_unmappable():
    stranger = build(UDP, NAT, 4444, SERVER, 53)
    _, codes, ports, _, _ = one([icmp_error(SERVER, NAT, stranger)], NAPT)
    assert codes == [kern.UNMAPPABLE] and ports == [-1]


def test_keep_mapping_changes_no_byte():
    keep = [(TCP, (PRIV, 1, SERVER, 2), (PRIV, 1, SERVER, 2), 3, 4)]
    pkt = build(TCP, PRIV, 1, SERVER, 2)
    pkt = pkt[:36] + b"\xff\xff" + pkt[38:]          # even a bogus checksum stays
    out, codes, ports, _, _ = one([pkt], keep)
    assert codes == [kern.HIT] and ports == [3] and out[0] == pkt


@pytest.mark.parametrize("mutate,code", [
    (lambda p: p[:30], kern.MALFORMED),                       # IP length past the packet
    (lambda p: p[:2] + struct.pack("!H", 30) + p[4:30], kern.MALFORMED),   # 10-byte TCP header
    (lambda p: bytes([0x44]) + p[1:], kern.MALFORMED),        # IHL 4
    (lambda p: bytes([0x65]) + p[1:], kern.MALFORMED),        # IPv6 version
    (lambda p: p[:6] + b"\x00\x10" + p[8:], kern.FRAGMENT),   # offset 16 bytes
    (lambda p: p[:9] + b"\x2f" + p[10:], kern.UNMAPPABLE),    # GRE
])
def test_packets_without_usable_headers_are_classified_not_rewritten(mutate, code):
    pkt = mutate(build(TCP, PRIV, 40000, SERVER, 80, b"0123456789"))
    out, codes, ports, _, _ = one([pkt], NAPT)
    assert codes == [code] and ports == [-1] and out[0] == pkt


def test_first_fragment_is_rewritten_and_flagged():
    pkt = build(UDP, PRIV, 5000, SERVER, 53, b"x" * 16, mf=1)
    out, codes, _, _, _ = one([pkt], NAPT)
    assert codes == [kern.HIT | kern.FIRST_FRAGMENT]
    assert out[0][12:24] == ip_bytes(NAT) + ip_bytes(SERVER) + struct.pack("!HH", 1024, 53)


def test_hits_update_use_time_packets_and_tcp_state():
    pool = PacketPool(16)
    frames = [build(TCP, PRIV, 40000, SERVER, 80, b"", flags=0x02),       # SYN
              build(TCP, SERVER, 80, NAT, 1025, b"hi", flags=0x18),       # data, reply side
              build(TCP, PRIV, 40000, SERVER, 80, b"yo", flags=0x18),     # data, forward
              build(TCP, PRIV, 40000, SERVER, 80, b"", flags=0x11),       # FIN
              build(TCP, SERVER, 80, NAT, 1025, b"", flags=0x11)]         # FIN
    for impl in (kern, ref):
        t = impl.FlowTable()
        install([t], NAPT)
        batch = pool.from_bytes(frames)
        pool.nh[batch.idx] = pool.off[batch.idx]
        used, state, packets = np.zeros(3), np.zeros(3, np.uint8), np.zeros(3, np.uint32)
        n = len(frames)
        outs = (np.empty(n, np.uint8), np.empty(n, np.int32), np.empty(n, np.int32),
                np.empty((n, 4), np.uint32))
        assert impl.rewrite_batch(pool, batch.idx, t, 99.0, used, state, packets, True,
                                  *outs) == n
        batch.kill()
        assert used[1] == 99.0 and packets[1] == 5
        both = impl.FWD_DONE | impl.REP_DONE | impl.FWD_DATA | impl.REP_DATA
        assert state[1] & both == both
        assert state[1] & (impl.FWD_SEEN | impl.REP_SEEN) == impl.FWD_SEEN | impl.REP_SEEN


@BOTH
def test_bad_arguments_raise_before_touching_packets(impl):
    pool = PacketPool(4)
    batch = pool.from_bytes([build(UDP, PRIV, 5000, SERVER, 53)])
    t = impl.FlowTable()
    install([t], NAPT)
    cols = (np.zeros(3), np.zeros(3, np.uint8), np.zeros(3, np.uint32))
    short = (np.empty(0, np.uint8), np.empty(0, np.int32), np.empty(0, np.int32),
             np.empty((0, 4), np.uint32))
    with pytest.raises(ValueError):
        impl.rewrite_batch(pool, batch.idx, t, 0.0, *cols, True, *short)
    outs = (np.empty(1, np.uint8), np.empty(1, np.int32), np.empty(1, np.int32),
            np.empty((1, 4), np.uint32))
    with pytest.raises(IndexError):
        impl.rewrite_batch(pool, np.array([9], np.uint32), t, 0.0, *cols, True, *outs)
    with pytest.raises(IndexError):     # the table names flows the columns do not hold
        impl.rewrite_batch(pool, batch.idx, t, 0.0, np.zeros(1), np.zeros(1, np.uint8),
                           np.zeros(1, np.uint32), True, *outs)


# -- the flow table ------------------------------------------------------------------------
@BOTH
def test_flow_table_insert_lookup_get_remove(impl):
    t = impl.FlowTable()
    assert t.insert(TCP, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
    assert not t.insert(TCP, 1, 2, 3, 4, 0, 0, 0, 0, 0, 11)       # key taken
    assert t.lookup(TCP, 1, 2, 3, 4) == 10 and t.lookup(UDP, 1, 2, 3, 4) == -1
    assert tuple(t.get(TCP, 1, 2, 3, 4)) == (5, 6, 7, 8, 9, 10)
    assert len(t) == 1 and t.max_value == 10
    assert t.remove(TCP, 1, 2, 3, 4) and not t.remove(TCP, 1, 2, 3, 4)
    assert len(t) == 0 and t.get(TCP, 1, 2, 3, 4) is None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 300)), max_size=600))
def test_compiled_flow_table_agrees_with_a_dict_through_growth_and_deletion(ops):
    t = kern.FlowTable(4)
    model = {}
    for add, k in ops:
        key = (UDP, k * 7919 & 0xFFFFFFFF, k & 0xFFFF, k % 5, 53)
        if add:
            assert t.insert(*key, 0, 0, 0, 0, 0, k) == (key not in model)
            model.setdefault(key, k)
        else:
            assert t.remove(*key) == (key in model)
            model.pop(key, None)
        assert len(t) == len(model)
    for key, v in model.items():
        assert t.lookup(*key) == v
    for k in range(301):
        key = (UDP, k * 7919 & 0xFFFFFFFF, k & 0xFFFF, k % 5, 53)
        assert (t.lookup(*key) >= 0) == (key in model)


def test_compiled_flow_table_survives_a_million_churning_flows():
    t = kern.FlowTable(16)
    rng = random.Random(5)
    live = []
    for i in range(200_000):
        key = (TCP, rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(32), 80)
        if t.insert(*key, 0, 0, 0, 0, 0, i):
            live.append((key, i))
        if len(live) > 5000:
            old, _ = live.pop(rng.randrange(len(live)))
            assert t.remove(*old)
    assert len(t) == len(live)
    assert all(t.lookup(*k) == v for k, v in live)
    assert t.slot_count <= 4 * 16384


@BOTH
def test_first_free_port_scans_from_start_and_wraps(impl):
    t = impl.FlowTable()
    for p in (1000, 1001, 1003):
        t.insert(UDP, SERVER, 53, NAT, p, 0, 0, 0, 0, 0, p)
    assert impl.FlowTable.first_free_port(t, UDP, SERVER, 53, NAT, 1000, 3, 0) == 2
    assert t.first_free_port(UDP, SERVER, 53, NAT, 1000, 3, 3) == 2
    assert t.first_free_port(UDP, SERVER, 53, NAT, 1000, 1, 0) == -1
    assert t.first_free_port(UDP, SERVER, 54, NAT, 1000, 1, 1) == 1     # other key
    with pytest.raises(ValueError):
        t.first_free_port(UDP, SERVER, 53, NAT, 65000, 1000, 0)


@BOTH
def test_first_free_address_varies_the_destination_address(impl):
    t = impl.FlowTable()
    t.insert(0, 0, 0, NAT, 0, 0, 0, 0, 0, 0, 1)
    assert t.first_free_address(0, 0, 0, 0, NAT, 2, 0) == 1
    assert t.first_free_address(0, 0, 0, 0, NAT, 0, 0) == -1
