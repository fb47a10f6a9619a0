"""The compiled fused input pass against its plain-Python twin."""
import struct

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vforward.cext import ipinput, ipinput_reference
from vforward.elements.ip.ipfilter_compile import DecisionProgram
from vforward.elements.ip.ipfilter_language import parse_pattern as ip_pattern
from vforward.elements.standard.classifier import decision_program, parse_pattern
from vforward.packet import PacketPool

ROUTER_MAC = bytes.fromhex("020000000101")
MACS = [ROUTER_MAC, b"\xff" * 6, bytes.fromhex("01005e000005"), bytes.fromhex("020000000909")]
ETHER = decision_program([parse_pattern(p) for p in ("12/0806 20/0001", "12/0806 20/0002",
                                                     "12/0800", "-")])
LOCAL = DecisionProgram([ip_pattern("dst host 10.1.0.1 or dst net 224.0.0.0/4"), ip_pattern("-")])
ADDRS = [bytes([10, 1, 0, 2]), bytes([10, 1, 0, 1]), bytes([224, 0, 0, 5]), bytes([10, 1, 0, 255]),
         b"\xff" * 4, bytes([10, 2, 0, 7])]


def frame(dst_mac: bytes, src_mac: bytes, ethertype: int, src: bytes, dst: bytes, ihl: int,
          version: int, checksum_ok: bool, length_delta: int, padding: int, cut: int) -> bytes:
    """An Ethernet frame with a UDP/IP packet, perhaps bent out of shape."""
    hlen = ihl * 4
    total = hlen + 8 + 20
    head = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, total + length_delta, 1, 0, 64,
                       17, 0, src, dst) + b"\x01" * max(0, hlen - 20)
    words = struct.unpack(f"!{len(head) // 2}H", head[:len(head) // 2 * 2])
    s = sum(words)
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    cksum = (~s & 0xFFFF) ^ (0 if checksum_ok else 0x0101)
    ip = head[:10] + struct.pack("!H", cksum) + head[12:] + bytes(28) + bytes(padding)
    data = dst_mac + src_mac + struct.pack("!H", ethertype) + ip
    return data[:len(data) - cut] if cut else data


frames = st.builds(frame, st.sampled_from(MACS), st.sampled_from([bytes.fromhex("020000000505"),
                                                                 ROUTER_MAC]),
                   st.sampled_from([0x0800, 0x0800, 0x0800, 0x0806, 0x86DD]),
                   st.sampled_from(ADDRS[:1] + ADDRS[2:]), st.sampled_from(ADDRS),
                   st.sampled_from([5, 5, 5, 6, 4, 15]), st.sampled_from([4, 4, 4, 6]),
                   st.booleans(), st.sampled_from([0, 0, 0, 1, -1, -30]),
                   st.sampled_from([0, 0, 6]), st.sampled_from([0, 0, 0, 1, 40, 60]))

steps = st.fixed_dictionaries({}, optional={
    "host_mac": st.just(ROUTER_MAC),
    "drop_own": st.booleans(),
    "drop_other": st.booleans(),
    "ether": st.sampled_from([2, 3]),             # the Classifier output the chain takes
    "paint": st.sampled_from(["paint", "ptype"]),
    "color": st.integers(0, 255),
    "strip": st.sampled_from([0, 14, 200]),
    "check_offset": st.sampled_from([0, 14]),
    "checksum": st.booleans(),
    "bad_src": st.just(np.array([0, 0x0A0100FF, 0xFFFFFFFF], dtype=np.uint32)),
    "good_dst": st.just(np.array([0x0A010001], dtype=np.uint32)),
    "dst_offset": st.sampled_from([-1, 16, 30]),
    "local": st.sampled_from([0, 1]),             # the IPClassifier output the chain takes
})


def keywords(chosen: dict) -> dict:
    kw = {k: v for k, v in chosen.items() if k not in ("ether", "local")}
    if "ether" in chosen:
        accept = np.zeros(5, dtype=np.uint8)
        accept[chosen["ether"]] = 1
        kw.update(ether_program=ETHER[0], ether_entry=ETHER[1], ether_accept=accept)
    if "local" in chosen:
        accept = np.zeros(3, dtype=np.uint8)
        accept[chosen["local"]] = 1
        kw.update(ip_program=LOCAL.program, ip_entry=LOCAL.entry, ip_accept=accept)
    return kw


COLUMNS = ("data", "off", "length", "nh", "dst_ip", "ptype", "paint")


@settings(max_examples=400, deadline=None)
@given(st.lists(frames, min_size=1, max_size=8), steps, st.sampled_from([0, 20]))
def test_input_pass_matches_the_reference(batch_frames, chosen, nh_before):
    """Random frames (for the router, broadcast, multicast, another host; ARP,
    IPv6; bad versions, header lengths, total lengths, checksums and sources;
    options, padding, truncation) through random chains: both take or refuse
    the same batches and leave the same bytes and columns."""
    results = []
    for impl in (ipinput, ipinput_reference):
        pool = PacketPool(32, slot_size=2048)
        b = pool.from_bytes(batch_frames)
        pool.nh[b.idx] = pool.off[b.idx] + nh_before
        taken = impl.InputPass(pool, **keywords(chosen)).run(b.idx)
        results.append((taken, [getattr(pool, c).copy() for c in COLUMNS]))
    (taken, cols), (ref_taken, ref_cols) = results
    assert taken == ref_taken
    for name, a, b in zip(COLUMNS, cols, ref_cols):
        assert np.array_equal(a, b), name


def test_a_ping_through_the_router_takes_the_pass_and_gets_the_checks_changes():
    """The common case: a good echo request for another host, behind Strip(14)
    and a header check, leaves with nh at its IP header and dst_ip set."""
    for impl in (ipinput, ipinput_reference):
        pool = PacketPool(8, slot_size=2048)
        f = frame(ROUTER_MAC, bytes.fromhex("020000000505"), 0x0800, ADDRS[0], ADDRS[5], 5, 4,
                  True, 0, 6, 0)
        b = pool.from_bytes([f])
        s = int(b.idx[0])
        assert impl.InputPass(pool, **keywords({"host_mac": ROUTER_MAC, "ether": 2, "strip": 14,
                                                "local": 1})).run(b.idx)
        assert pool.off[s] == pool.headroom + 14 and pool.nh[s] == pool.off[s]
        assert pool.length[s] == 48                     # the 6 bytes of padding cut
        assert pool.dst_ip[s] == 0x0A020007


def test_one_bad_packet_leaves_the_whole_batch_untouched():
    for impl in (ipinput, ipinput_reference):
        pool = PacketPool(8, slot_size=2048)
        good = frame(ROUTER_MAC, MACS[3], 0x0800, ADDRS[0], ADDRS[5], 5, 4, True, 0, 0, 0)
        bad = frame(ROUTER_MAC, MACS[3], 0x0800, ADDRS[0], ADDRS[5], 5, 4, False, 0, 0, 0)
        b = pool.from_bytes([good, good, bad])
        before = pool.off.copy(), pool.nh.copy(), pool.dst_ip.copy()
        assert not impl.InputPass(pool, strip=14).run(b.idx)
        assert all(np.array_equal(x, y) for x, y in zip(before, (pool.off, pool.nh, pool.dst_ip)))


@pytest.mark.parametrize("impl", [ipinput, ipinput_reference])
def test_a_program_that_jumps_outside_its_rules_is_refused(impl):
    pool = PacketPool(8, slot_size=2048)
    with pytest.raises(ValueError, match="jumps to"):
        impl.InputPass(pool, ether_program=ETHER[0], ether_entry=ETHER[1],
                       ether_accept=np.zeros(2, dtype=np.uint8))
