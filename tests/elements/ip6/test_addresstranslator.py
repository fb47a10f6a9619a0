"""AddressTranslator: outward sources and inward destinations are mapped, in Click's argument forms."""
import ipaddress
import struct

import pytest

from vforward.graph import GraphError


def a(text):
    return ipaddress.IPv6Address(text).packed


def ones_sum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def transport_ok(pkt):
    seg = pkt[40:]
    return ones_sum(pkt[8:40] + struct.pack("!IxxxB", len(seg), pkt[6]) + seg) == 0xFFFF


def router(make_router, config):
    r = make_router(f"o :: _Frames6 -> [0]at :: AddressTranslator({config}); "
                    "i :: _Frames6 -> [1]at; at[0] -> out :: _Sink6; at[1] -> back :: _Sink6")
    r.initialize()
    return r


def test_dynamic_address_mapping_binds_an_address_and_maps_replies_back(make_router, six):
    # Click's ip64-nat form: no static mappings, dynamic, no ports, outward, one address
    r = router(make_router, "0, 1, 0, 0, ::1.0.0.1")
    r.element("o").send([six.udp6("2001:db8::2", "::ffff:192.0.2.9", sport=1111, dport=53)])
    (out,) = r.element("out").frames
    assert out[8:24] == a("::1.0.0.1") and out[40:44] == struct.pack("!HH", 1111, 53)
    assert transport_ok(out)
    r.element("i").send([six.udp6("::ffff:192.0.2.9", "::1.0.0.1", sport=53, dport=1111),
                         six.udp6("::ffff:192.0.2.9", "::1.0.0.2", sport=53, dport=1111)])
    (back,) = r.element("back").frames
    assert back[24:40] == a("2001:db8::2") and transport_ok(back)
    assert r.element("back").dst6 == [a("2001:db8::2")]
    # the only address is bound: a second inner host gets nothing
    r.element("o").send([six.udp6("2001:db8::3", "::ffff:192.0.2.9")])
    assert len(r.element("out").frames) == 1
    at = r.element("at")
    assert at.read("drops") == "2"
    assert at.read("mappings") == "dynamic 2001:db8::2 -> ::100:1"        # ::1.0.0.1


def test_dynamic_port_mapping_gives_each_flow_the_next_port(make_router, six):
    r = router(make_router, "0, 1, 1, 0, ::1.0.0.1 6000 6001")
    o = r.element("o")
    o.send([six.udp6("2001:db8::2", "::ffff:192.0.2.9", sport=1111, dport=53),
            six.udp6("2001:db8::3", "::ffff:192.0.2.9", sport=1111, dport=53),
            six.udp6("2001:db8::2", "::ffff:192.0.2.9", sport=1111, dport=53),
            six.udp6("2001:db8::4", "::ffff:192.0.2.9", sport=1, dport=53)])   # no port left
    outs = r.element("out").frames
    assert [struct.unpack("!H", p[40:42])[0] for p in outs] == [6000, 6001, 6000]
    assert all(p[8:24] == a("::1.0.0.1") and transport_ok(p) for p in outs)
    r.element("i").send([six.udp6("::ffff:192.0.2.9", "::1.0.0.1", sport=53, dport=6001),
                         six.udp6("::ffff:192.0.2.10", "::1.0.0.1", sport=53, dport=6001)])
    (back,) = r.element("back").frames
    assert back[24:40] == a("2001:db8::3") and back[40:44] == struct.pack("!HH", 53, 1111)
    assert r.element("at").read("drops") == "2"


def test_static_mapping_maps_both_ways_and_an_echo_keeps_its_identifier(make_router, six):
    # Click's ip64-nat4 form: one static address mapping, no dynamic mapping
    r = router(make_router, "1, 0, 3ffe:1ce1:2::1 ::18.26.4.17, 0")
    echo = struct.pack("!BBHHH", 128, 0, 0, 0x77, 1) + b"abc"
    r.element("o").send([six.ip6_packet("3ffe:1ce1:2::1", "::ffff:192.0.2.9", nxt=58, payload=echo),
                         six.udp6("3ffe:1ce1:2::5", "::ffff:192.0.2.9")])
    (out,) = r.element("out").frames
    assert out[8:24] == a("::18.26.4.17") and out[44:46] == b"\x00\x77" and transport_ok(out)
    reply = struct.pack("!BBHHH", 129, 0, 0, 0x77, 1) + b"abc"
    r.element("i").send([six.ip6_packet("::ffff:192.0.2.9", "::18.26.4.17", nxt=58, payload=reply)])
    (back,) = r.element("back").frames
    assert back[24:40] == a("3ffe:1ce1:2::1") and transport_ok(back)


def test_static_port_mapping_forwards_a_mapped_port_to_an_inner_server(make_router, six):
    r = router(make_router, "1, 1, 2001:db8::80 80 ::ffff:198.51.100.1 8080, 0")
    r.element("i").send([six.udp6("::ffff:192.0.2.9", "::ffff:198.51.100.1", sport=999, dport=8080),
                         six.udp6("::ffff:192.0.2.9", "::ffff:198.51.100.1", sport=999, dport=8081)])
    (back,) = r.element("back").frames
    assert back[24:40] == a("2001:db8::80") and back[40:44] == struct.pack("!HH", 999, 80)
    r.element("o").send([six.udp6("2001:db8::80", "::ffff:192.0.2.9", sport=80, dport=999)])
    (out,) = r.element("out").frames
    assert out[8:24] == a("::ffff:198.51.100.1") and out[40:42] == struct.pack("!H", 8080)


def test_inward_allocation_binds_a_pool_address_to_the_first_outside_peer(make_router, six):
    r = router(make_router, "0, 1, 0, 1, 2001:db8::10")
    r.element("o").send([six.udp6("2001:db8::10", "::ffff:192.0.2.9")])   # nothing bound yet
    assert r.element("out").frames == []
    r.element("i").send([six.udp6("::ffff:192.0.2.9", "::ffff:203.0.113.5", sport=7, dport=9)])
    (back,) = r.element("back").frames
    assert back[24:40] == a("2001:db8::10")
    r.element("o").send([six.udp6("2001:db8::10", "::ffff:192.0.2.9", sport=9, dport=7)])
    (out,) = r.element("out").frames
    assert out[8:24] == a("::ffff:203.0.113.5")


@pytest.mark.parametrize("config, words", [
    ("x, 0", "NSTATIC"),
    ("1, 0, 2001:db8::1, 0", "INNER_ADDR MAPPED_ADDR"),
    ("0, 1, 1, 0, ::1 6000", "ADDR LOW HIGH"),
    ("0, 1, 0, 0", "missing the addresses"),
    ("0, maybe", "expected a boolean"),
])
def test_malformed_arguments_are_refused_with_the_form_expected(make_router, config, words):
    with pytest.raises(GraphError, match=words):
        router(make_router, config)


def test_a_nat_pt_gateway_in_click_s_ip64_nat_form_carries_a_udp_exchange(make_router, six):
    # IPv6 host -> AddressTranslator -> ProtocolTranslator64 -> IPv4 host, and the
    # answer back through ProtocolTranslator46 and the translator's input 1, as
    # Click's conf/ip64-nat.click wires them (the mapped address in the ::a.b.c.d form)
    r = make_router(
        "v6 :: _Frames6 -> rt6 :: LookupIP6Route(::0/96 ::0 0, ::0/0 ::0 1);\n"
        "rt6[0] -> [0]at :: AddressTranslator(0, 1, 0, 0, ::192.0.2.100);\n"
        "rt6[1] -> Discard;\n"
        "at[0] -> pt64 :: ProtocolTranslator64 -> CheckIPHeader -> to4 :: _Sink6;\n"
        "v4 :: _Frames6 -> pt46 :: ProtocolTranslator46 -> [1]at;\n"
        "at[1] -> CheckIP6Header -> to6 :: _Sink6;")
    r.initialize()
    r.element("v6").send([six.udp6("2001:db8::2", "::198.51.100.9", sport=4000, dport=53)],
                         annotate_dst=True)
    (q,) = r.element("to4").frames
    assert q[12:16] == bytes((192, 0, 2, 100)) and q[16:20] == bytes((198, 51, 100, 9))
    # the IPv4 server answers
    answer = bytearray(q[:12] + q[16:20] + q[12:16] + q[22:24] + q[20:22] + q[24:])
    answer[10:12] = b"\0\0"
    s = sum(struct.unpack("!10H", bytes(answer[:20])))
    s = (s & 0xFFFF) + (s >> 16)
    answer[10:12] = struct.pack("!H", ~((s & 0xFFFF) + (s >> 16)) & 0xFFFF)
    r.element("v4").send([bytes(answer)])
    (back,) = r.element("to6").frames
    assert back[8:24] == a("::ffff:198.51.100.9") and back[24:40] == a("2001:db8::2")
    assert back[40:44] == struct.pack("!HH", 53, 4000) and transport_ok(back)


# -- an older Click's six-flag masks (Click's gnat examples) --------------------------
def test_older_port_mapping_form_warns_with_todays_and_maps_as_it(make_router, six, capsys):
    # gnat01: no static mappings; outward by inner address and port, inward by mapped ones
    r = router(make_router, "0, 1 1 0 0 0 0, 0 0 1 1 0 0, 0, ::ffff:18.26.4.125 1300 1310")
    assert ("an older Click's AddressTranslator arguments (six-flag masks); read as today's "
            "AddressTranslator(0, 1, 1, 0, ::ffff:18.26.4.125 1300 1310)"
            in capsys.readouterr().err)
    r.element("o").send([six.udp6("2001:db8::2", "::ffff:192.0.2.9", sport=1111, dport=53)])
    (out,) = r.element("out").frames
    assert out[8:24] == a("::ffff:18.26.4.125") and out[40:42] == struct.pack("!H", 1300)
    assert transport_ok(out)


def test_older_static_address_mapping_form_reads_as_todays(make_router, six, capsys):
    # gnat02: one static address mapping, then the dynamic masks and pool
    r = router(make_router, "1, 1 0 1 0 0 0, ::ffff:18.26.4.125 3ffe::1, 1 1 0 0 0 0, "
                            "0 0 1 1 0 0, 0, ::ffff:18.26.4.1 1300 1310")
    assert ("AddressTranslator(1, 0, ::ffff:18.26.4.125 3ffe::1, 1, 1, 0, "
            "::ffff:18.26.4.1 1300 1310)" in capsys.readouterr().err)
    r.element("o").send([six.udp6("::ffff:18.26.4.125", "::ffff:192.0.2.9", sport=5, dport=6)])
    (out,) = r.element("out").frames
    assert out[8:24] == a("3ffe::1") and out[40:42] == struct.pack("!H", 5)


@pytest.mark.parametrize("config, words", [
    ("0, 1 0 0 0 1 0, 0 0 1 0 0 0, 0, ::1 1 2", "outward and inward masks '1 0 0 0 1 0'"),
    ("1, 1 1 0 0 0 0, ::1 3, 1 0 0 0 0 0, 0 0 1 0 0 0, 0", "static mask '1 1 0 0 0 0'"),
    ("0, 1 1 0 0 0 0, 0 0 1 1 0 0, 0, ::1 1 2, ::2 1 2", "2 'ADDR LOW HIGH' pools"),
])
def test_older_masks_today_has_no_words_for_are_refused_naming_them(make_router, config, words):
    with pytest.raises(GraphError, match=words):
        router(make_router, config)
