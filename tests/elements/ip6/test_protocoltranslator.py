"""ProtocolTranslator64/46: IPv6 packets leave as IPv4 packets and back, checksums right."""
import ipaddress
import struct

from vforward.elements.ip6.siit import four_to_six, six_to_four


def ones_sum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ip4(text):
    return ipaddress.IPv4Address(text).packed


def ip4_packet(src, dst, proto, payload, ttl=64, tos=0, frag=0):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, tos, 20 + len(payload), 7, frag, ttl, proto, 0,
                    ip4(src), ip4(dst))
    h = h[:10] + struct.pack("!H", 0xFFFF - ones_sum(h)) + h[12:]
    return h + payload


def ip4_transport_ok(pkt):
    src, dst, proto, seg = pkt[12:16], pkt[16:20], pkt[9], pkt[20:]
    return ones_sum(src + dst + struct.pack("!xBH", proto, len(seg)) + seg) == 0xFFFF


def ip6_transport_ok(pkt):
    seg = pkt[40:]
    return ones_sum(pkt[8:40] + struct.pack("!IxxxB", len(seg), pkt[6]) + seg) == 0xFFFF


def test_udp6_between_mapped_addresses_becomes_ipv4_udp(make_router, six):
    r = make_router("src :: _Frames6 -> pt :: ProtocolTranslator64 -> out :: _Sink6")
    r.initialize()
    pkt = six.udp6("::ffff:192.0.2.7", "::198.51.100.9", sport=1234, dport=53, hlim=33)
    r.element("src").send([pkt])
    (out,) = r.element("out").frames
    assert out[0] == 0x45 and out[8] == 33 and out[9] == 17
    assert out[12:16] == ip4("192.0.2.7") and out[16:20] == ip4("198.51.100.9")
    assert struct.unpack("!H", out[2:4])[0] == len(out) == 20 + len(pkt) - 40
    assert struct.unpack("!H", out[6:8])[0] == 0x4000          # don't fragment
    assert ones_sum(out[:20]) == 0xFFFF and ip4_transport_ok(out)
    assert out[20:24] == struct.pack("!HH", 1234, 53) and out[28:] == pkt[48:]
    assert r.element("pt").read("count") == "1"


def test_native_ipv6_addresses_and_neighbour_discovery_are_dropped(make_router, six):
    r = make_router("src :: _Frames6 -> pt :: ProtocolTranslator64 -> out :: _Sink6")
    r.initialize()
    ns = six.ip6_packet("::ffff:192.0.2.7", "::ffff:192.0.2.8", nxt=58,
                        payload=bytes((135, 0, 0, 0)) + bytes(20))
    r.element("src").send([six.udp6("2001:db8::1", "::ffff:192.0.2.8"), ns])
    assert r.element("out").frames == []
    assert r.element("pt").read("drops") == "2" and r.pool.n_used == 0


def test_icmp_echo_translates_both_ways_and_round_trips(make_router):
    r = make_router("src :: _Frames6 -> pt :: ProtocolTranslator46 -> out :: _Sink6")
    r.initialize()
    echo = struct.pack("!BBHHH", 8, 0, 0, 0x42, 7) + b"ping data"
    echo = echo[:2] + struct.pack("!H", 0xFFFF - ones_sum(echo)) + echo[4:]
    v4 = ip4_packet("192.0.2.1", "198.51.100.2", 1, echo, ttl=50, tos=0xB8)
    r.element("src").send([v4])
    (v6,) = r.element("out").frames
    assert v6[0] >> 4 == 6 and v6[6] == 58 and v6[7] == 50
    assert (struct.unpack("!I", v6[:4])[0] >> 20) & 0xFF == 0xB8
    assert ipaddress.IPv6Address(v6[24:40]) == ipaddress.IPv6Address("::ffff:198.51.100.2")
    assert r.element("out").dst6 == [v6[24:40]]
    assert v6[40] == 128 and v6[44:] == echo[4:] and ip6_transport_ok(v6)
    back = six_to_four(v6)
    assert back[20:] == echo and back[12:20] == v4[12:20] and back[8] == 50


def test_an_icmpv6_error_is_translated_with_its_quoted_packet(six):
    quoted = six.udp6("::ffff:192.0.2.1", "::ffff:198.51.100.2", sport=5000, dport=33434)
    err = struct.pack("!BBHI", 1, 4, 0, 0) + quoted             # port unreachable
    pkt = six.ip6_packet("::ffff:198.51.100.2", "::ffff:192.0.2.1", nxt=58, payload=err)
    out = six_to_four(pkt)
    assert out[9] == 1 and out[20:22] == bytes((3, 3))        # ICMP port unreachable
    assert ones_sum(out[20:]) == 0xFFFF
    inner = out[28:]
    assert inner[0] == 0x45 and inner[9] == 17
    assert inner[12:16] == ip4("192.0.2.1") and inner[16:20] == ip4("198.51.100.2")
    assert inner[20:24] == struct.pack("!HH", 5000, 33434)


def test_fragmentation_needed_becomes_packet_too_big_with_the_mtu_plus_20():
    quoted = ip4_packet("192.0.2.1", "198.51.100.2", 17, struct.pack("!HHHH", 1, 2, 8, 0))
    err = struct.pack("!BBHHH", 3, 4, 0, 0, 1400) + quoted
    out = four_to_six(ip4_packet("198.51.100.1", "192.0.2.1", 1, err))
    assert out[40] == 2 and struct.unpack("!I", out[44:48])[0] == 1420
    assert ip6_transport_ok(out) and out[48] >> 4 == 6


def test_tcp_checksum_is_recomputed_for_ipv6_and_fragments_are_dropped(make_router):
    r = make_router("src :: _Frames6 -> pt :: ProtocolTranslator46 -> out :: _Sink6")
    r.initialize()
    tcp = struct.pack("!HHIIBBHHH", 80, 4000, 1, 2, 0x50, 0x12, 1000, 0, 0) + b"hello"
    good = ip4_packet("192.0.2.1", "198.51.100.2", 6, tcp)
    frag = ip4_packet("192.0.2.1", "198.51.100.2", 6, tcp, frag=0x2000)
    r.element("src").send([good, frag])
    (v6,) = r.element("out").frames
    assert v6[6] == 6 and ip6_transport_ok(v6) and v6[40:56] == tcp[:16]
    assert r.element("pt").read("drops") == "1"


def test_older_two_way_protocoltranslator_translates_each_input_its_way(make_router, six, capsys):
    r = make_router("s6 :: _Frames6 -> [0]pt :: ProtocolTranslator; s4 :: _Frames6 -> [1]pt; "
                    "pt[0] -> out4 :: _Sink6; pt[1] -> out6 :: _Sink6")
    r.initialize()
    assert "today's Click splits it into ProtocolTranslator64" in capsys.readouterr().err
    r.element("s6").send([six.udp6("::ffff:192.0.2.7", "::ffff:198.51.100.9", sport=1, dport=2)])
    udp = struct.pack("!HHHH", 1, 2, 8, 0)
    r.element("s4").send([ip4_packet("198.51.100.9", "192.0.2.7", 17, udp),
                          six.udp6("::ffff:1.2.3.4", "::ffff:1.2.3.5")])   # IPv6 on the IPv4 input
    (four,) = r.element("out4").frames
    (v6,) = r.element("out6").frames
    assert four[0] == 0x45 and four[12:16] == ip4("192.0.2.7") and ip4_transport_ok(four)
    assert v6[0] >> 4 == 6 and v6[8:24] == ipaddress.IPv6Address("::ffff:198.51.100.9").packed
    assert ip6_transport_ok(v6)
    assert (r.element("pt").read("count"), r.element("pt").read("drops")) == ("2", "1")
