"""ICMP6Error: errors quote the offending packet, carry a right checksum (checked by
dpkt), go back to its source, and are never sent about errors or multicast."""
import dpkt
import pytest

from vforward.graph import GraphError


def _error(r):
    (frame,) = r.element("out").frames
    return dpkt.ip6.IP6(frame), frame


@pytest.mark.parametrize("args, icmp_type, code, word", [
    ("timeexceeded", 3, 0, 0),
    ("unreachable, noroute", 1, 0, 0),
    ("unreachable, port", 1, 4, 0),
    ("toobig, PMTU 1400", 2, 0, 1400),
])
def test_an_error_goes_back_to_the_source_quoting_the_packet(make_router, six, args, icmp_type,
                                                            code, word):
    r = make_router(f"src :: _Frames6 -> e :: ICMP6Error(2001:db8:1::1, {args}) -> out :: _Sink6")
    r.initialize()
    bad = six.udp6(src="2001:db8:1::2", dst="2001:db8:2::2", hlim=1)
    r.element("src").send([bad])
    ip, frame = _error(r)
    assert ip.src == six.addr("2001:db8:1::1") and ip.dst == six.addr("2001:db8:1::2")
    assert ip.hlim == 255 and ip.nxt == 58
    icmp = frame[40:]
    assert (icmp[0], icmp[1]) == (icmp_type, code)
    assert int.from_bytes(icmp[4:8], "big") == word
    assert icmp[8:] == bad
    pseudo = ip.src + ip.dst + len(icmp).to_bytes(4, "big") + b"\0\0\0\x3a"
    assert dpkt.in_cksum(pseudo + icmp) == 0
    assert r.element("out").dst6 == [six.addr("2001:db8:1::2")]
    assert r.element("e").read("count") == "1"


def test_no_error_about_an_error_a_multicast_destination_or_an_unspecified_source(make_router,
                                                                                   six):
    r = make_router("src :: _Frames6 -> e :: ICMP6Error(2001:db8:1::1, timeexceeded) "
                    "-> out :: _Sink6")
    r.initialize()
    icmp_error = six.ip6_packet(nxt=58, payload=b"\x03\x00\x00\x00" + bytes(8))
    echo = six.ip6_packet(nxt=58, payload=b"\x80\x00\x00\x00" + bytes(8))
    r.element("src").send([icmp_error, six.udp6(dst="ff02::1"), six.udp6(src="::"), echo])
    assert len(r.element("out").frames) == 1          # only the echo request gets one
    assert r.element("e").read("drops") == "3"
    assert r.pool.n_used == 0


def test_a_long_packet_is_quoted_only_up_to_the_minimum_mtu(make_router, six):
    r = make_router("src :: _Frames6 -> e :: ICMP6Error(2001:db8:1::1, toobig) -> out :: _Sink6")
    r.initialize()
    r.element("src").send([six.ip6_packet(payload=bytes(1400))])
    (frame,) = r.element("out").frames
    assert len(frame) == 1280


def test_bad_arguments_name_the_fix(make_router):
    with pytest.raises(GraphError, match="not an IPv6 address"):
        make_router("src :: _Frames6 -> ICMP6Error(10.0.0.1, timeexceeded) -> out :: _Sink6")
    with pytest.raises(GraphError, match="use a number 0..255 or one of"):
        make_router("src :: _Frames6 -> ICMP6Error(::1, sideways) -> out :: _Sink6")


SOURCES_ROUTER = ("src :: _Frames6 -> e :: ICMP6Error(2001:db8:ff::1, {args}, ROUTES rt, "
                  "SOURCES \"2001:db8:1::1 2001:db8:2::1\") -> out :: _Sink6; "
                  "Idle -> rt :: RadixIP6Lookup(2001:db8:1::/64 0, 2001:db8:2::/64 1) -> Discard; "
                  "rt[1] -> Discard")


@pytest.mark.parametrize("args", ["toobig, PMTU 1400", "unreachable, noroute"])
def test_an_error_comes_from_the_interface_the_route_back_leaves_by(make_router, six, args):
    # Linux picks the source of an error by the route back to the offender: the
    # interface the packet came in on, not the one it was to leave by
    r = make_router(SOURCES_ROUTER.format(args=args))
    r.initialize()
    r.element("src").send([six.udp6(src="2001:db8:2::5"), six.udp6(src="2001:db8:1::5"),
                           six.udp6(src="2001:db8:9::5")])
    frames = r.element("out").frames
    assert [dpkt.ip6.IP6(f).src for f in frames] == [
        six.addr("2001:db8:2::1"), six.addr("2001:db8:1::1"),
        six.addr("2001:db8:ff::1")]          # no route back: SRC
    for f in frames:
        ip = dpkt.ip6.IP6(f)
        pseudo = ip.src + ip.dst + len(f[40:]).to_bytes(4, "big") + b"\0\0\0\x3a"
        assert dpkt.in_cksum(pseudo + f[40:]) == 0


def test_a_shared_limit_refuses_errors_beyond_its_burst_but_never_packet_too_big(make_router,
                                                                                  six):
    r = make_router("lim :: ICMPErrorLimit(0.001, 3); "
                    "a :: _Frames6 -> ICMP6Error(2001:db8:ff::1, unreachable, LIMIT lim) -> o :: _Sink6; "
                    "b :: _Frames6 -> ICMP6Error(2001:db8:ff::1, timeexceeded, LIMIT lim) -> o; "
                    "c :: _Frames6 -> big :: ICMP6Error(2001:db8:ff::1, toobig, LIMIT lim) -> o")
    r.initialize()
    r.element("a").send([six.udp6()] * 2)
    r.element("b").send([six.udp6()] * 3)
    r.element("c").send([six.udp6()] * 4)
    assert len(r.element("o").frames) == 3 + 4
    lim = r.element("lim")
    assert (lim.read("allowed"), lim.read("limited")) == ("3", "2")
    assert r.element("big").read("count") == "4"
    assert r.pool.n_used == 0


def test_error_source_keywords_name_their_fix(make_router):
    with pytest.raises(GraphError, match="ROUTES and SOURCES go together"):
        make_router("src :: _Frames6 -> ICMP6Error(::1, toobig, ROUTES rt) -> out :: _Sink6")
    r = make_router("src :: _Frames6 -> ICMP6Error(::1, toobig, LIMIT out) -> out :: _Sink6")
    with pytest.raises(Exception, match="not an ICMPErrorLimit.*out :: ICMPErrorLimit"):
        r.initialize()
    r = make_router("src :: _Frames6 -> ICMP6Error(::1, toobig, ROUTES out, SOURCES ::1) "
                    "-> out :: _Sink6")
    with pytest.raises(Exception, match="not an IPv6 route lookup element"):
        r.initialize()
