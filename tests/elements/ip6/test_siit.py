"""SIIT translation: IPv6 -> IPv4 -> IPv6 gives back the packet, checksums right on both sides."""
import struct

from hypothesis import given, settings, strategies as st

from vforward.elements.ip6.siit import embedded_ip4, four_to_six, six_to_four

from .test_protocoltranslator import ip4_transport_ok, ip6_transport_ok, ones_sum


def segment(proto, sport, dport, payload):
    if proto == 17:
        return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 2, 0x50, 0x18, 512, 0, 0) + payload


@settings(max_examples=200, deadline=None)
@given(proto=st.sampled_from([6, 17]), sport=st.integers(0, 0xFFFF), dport=st.integers(0, 0xFFFF),
       payload=st.binary(max_size=64), src=st.binary(min_size=4, max_size=4),
       dst=st.binary(min_size=4, max_size=4), hlim=st.integers(1, 255),
       tclass=st.integers(0, 255))
def test_round_trip_keeps_everything_but_the_checksums_right(proto, sport, dport, payload, src,
                                                             dst, hlim, tclass):
    seg = segment(proto, sport, dport, payload)
    src6, dst6 = bytes(10) + b"\xff\xff" + src, bytes(10) + b"\xff\xff" + dst
    v6 = struct.pack("!IHBB", (6 << 28) | (tclass << 20), len(seg), proto, hlim) + src6 + dst6 + seg
    v4 = six_to_four(v6)
    assert v4 is not None and v4[12:16] == src and v4[16:20] == dst and v4[8] == hlim
    assert v4[1] == tclass and ones_sum(v4[:20]) == 0xFFFF and ip4_transport_ok(v4)
    back = four_to_six(v4)
    assert ip6_transport_ok(back)
    cks = 16 if proto == 6 else 6
    assert back[:40 + cks] == v6[:40 + cks] and back[40 + cks + 2:] == v6[40 + cks + 2:]


def test_only_ipv4_embedded_addresses_translate():
    assert embedded_ip4(bytes(10) + b"\xff\xff" + b"\xc0\x00\x02\x01") == b"\xc0\x00\x02\x01"
    assert embedded_ip4(bytes(12) + b"\xc0\x00\x02\x01") == b"\xc0\x00\x02\x01"
    assert embedded_ip4(bytes(16)) is None and embedded_ip4(bytes(15) + b"\x01") is None
    assert embedded_ip4(b"\x20\x01\x0d\xb8" + bytes(12)) is None
