"""ICMPError: the error packets parse in dpkt with the right type, code, quoted
header and checksums; no error is sent where RFC 1812 forbids one; the
offending packet is always freed."""
import socket
import struct

import dpkt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError, build_graph
from vforward.packet import BROADCAST, MULTICAST, PacketPool
from vforward.runtime import Router


class _Frames(Element):
    """_IEFrames -- test source: pushes IP frames (nh at their start) with annotations"""
    CLASS_NAME = "_IEFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, ptype=0, dst_ip=0):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.nh[batch.idx] = batch.pool.off[batch.idx]
        batch.pool.ptype[batch.idx] = ptype
        batch.pool.dst_ip[batch.idx] = dst_ip
        self.emit(0, batch)


class _Sink(Element):
    """_IESink -- test sink keeping bytes, dst_ip and nh relative to the start"""
    CLASS_NAME = "_IESink"
    PORTS = "1/0"
    PROCESSING = "a/a"

    def configure(self, args):
        args.finish()
        self.frames, self.dst, self.nh = [], [], []

    def push(self, port, batch):
        pool = batch.pool
        self.frames += batch.to_bytes()
        self.dst += pool.dst_ip[batch.idx].tolist()
        self.nh += (pool.nh[batch.idx].astype(int) - pool.off[batch.idx]).tolist()
        batch.kill()


register(_Frames)
register(_Sink)

SRC = "18.26.4.24"


def ip_packet(src="10.0.0.1", dst="10.0.0.2", proto=17, payload=b"0123456789abcdef",
              opts=b"", mf=0, offset=0) -> bytes:
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=1,
                    data=payload)
    ip.mf, ip.offset = mf, offset
    if opts:
        ip.opts = opts
        ip.hl = 5 + len(opts) // 4
    return bytes(ip)


def run(args, frames, n_slots=256, **send):
    router = Router(build_graph(f"src :: _IEFrames -> e :: ICMPError({args}) -> out :: _IESink"),
                    PacketPool(n_slots))
    try:
        router.initialize()
        router.element("src").send(frames, **send)
        assert router.pool.n_used == 0, "ICMPError kept or leaked packet slots"
        return router
    finally:
        router.close()


def check_error(packet: bytes, offending: bytes, icmp_type: int, code: int):
    """The model: dpkt parses the error and finds what RFC 792 asks for (the
    header and 8 bytes of payload at least), and as much more as fits in 576
    bytes (RFC 1812 4.3.2.3)."""
    ip = dpkt.ip.IP(packet)
    assert ip.v == 4 and ip.hl == 5 and ip.len == len(packet)
    assert ip.src == socket.inet_aton(SRC) and ip.dst == offending[12:16]
    assert ip.p == dpkt.ip.IP_PROTO_ICMP and ip.ttl == 255
    assert dpkt.in_cksum(packet[:20]) == 0
    assert dpkt.in_cksum(packet[20:]) == 0
    icmp = ip.data
    assert isinstance(icmp, dpkt.icmp.ICMP)
    assert (icmp.type, icmp.code) == (icmp_type, code)
    hlen = (offending[0] & 0x0F) * 4
    assert packet[28:] == offending[:576 - 28] and len(packet) - 28 >= min(len(offending),
                                                                          hlen + 8)
    return icmp


offenders = st.builds(
    ip_packet,
    src=st.sampled_from(["10.0.0.1", "192.0.2.9", "8.8.4.4"]),
    proto=st.sampled_from([6, 17, 47, 1]),
    payload=st.binary(max_size=40).map(lambda b: b"\x08\x00\x00\x00" + b),   # ICMP: an echo
    opts=st.sampled_from([b"", b"\x01\x01\x01\x00", b"\x94\x04\x00\x00" * 3]))


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(offenders, min_size=1, max_size=20),
       st.sampled_from([("timeexceeded", 11, 0), ("unreachable, port", 3, 3),
                        ("unreachable, needfrag, PMTU 1400", 3, 4), ("12, 2", 12, 2),
                        ("parameterproblem", 12, 0), ("redirect, host", 5, 1)]))
def test_errors_parse_in_dpkt_with_type_code_quote_and_checksums(frames, kind):
    args, icmp_type, code = kind
    r = run(f"{SRC}, {args}", frames, dst_ip=0x0A000001)
    out = r.element("out")
    assert len(out.frames) == len(frames)
    for packet, offending, dst in zip(out.frames, frames, out.dst):
        icmp = check_error(packet, offending, icmp_type, code)
        assert dst == struct.unpack("!I", offending[12:16])[0]
        rest = struct.unpack("!I", packet[24:28])[0]
        if icmp_type == 3 and code == 4:
            assert rest & 0xFFFF == 1400 and isinstance(icmp.data, dpkt.icmp.ICMP.Unreach)
        elif icmp_type == 5:
            assert rest == 0x0A000001            # the gateway from the dst_ip annotation
        else:
            assert rest == 0
    assert out.nh == [0] * len(frames)
    assert r.element("e").read("count") == str(len(frames))


def test_ip_ids_differ_between_errors():
    r = run(f"{SRC}, timeexceeded", [ip_packet()] * 3)
    ids = [dpkt.ip.IP(p).id for p in r.element("out").frames]
    assert len(set(ids)) == 3


def test_a_short_offending_payload_is_quoted_whole():
    r = run(f"{SRC}, unreachable, host", [ip_packet(payload=b"ab")])
    check_error(r.element("out").frames[0], ip_packet(payload=b"ab"), 3, 1)


def icmp_error_packet(icmp_type):
    return ip_packet(proto=1, payload=bytes([icmp_type, 0, 0, 0]) + bytes(8))


@pytest.mark.parametrize("frame, why", [
    (icmp_error_packet(3), "an ICMP unreachable"),
    (icmp_error_packet(11), "an ICMP time exceeded"),
    (icmp_error_packet(12), "an ICMP parameter problem"),
    (ip_packet(proto=1, payload=b"\x08\x00"), "ICMP too short to tell its type"),
    (ip_packet(offset=16), "a fragment other than the first"),
    (ip_packet(dst="255.255.255.255"), "to limited broadcast"),
    (ip_packet(dst="224.0.0.1"), "to multicast"),
    (ip_packet(src="0.1.2.3"), "from net 0"),
    (ip_packet(src="127.0.0.1"), "from loopback"),
    (ip_packet(src="240.0.0.1"), "from class E"),
    (ip_packet(src="225.1.1.1"), "from multicast"),
    (ip_packet(src="255.255.255.255"), "from broadcast"),
    (ip_packet()[:19], "no whole IP header"),
])
def test_no_error_is_sent_where_rfc_1812_forbids_it(frame, why):
    r = run(f"{SRC}, unreachable, host", [frame])
    assert r.element("out").frames == [], why
    assert r.element("e").read("drops") == "1"


def test_first_fragments_and_icmp_non_errors_do_get_errors():
    frames = [ip_packet(mf=1), ip_packet(proto=1, payload=b"\x08\x00\x00\x00" + bytes(8))]
    r = run(f"{SRC}, timeexceeded", frames)
    assert len(r.element("out").frames) == len(frames)
    for packet, offending in zip(r.element("out").frames, frames):
        check_error(packet, offending, 11, 0)


def test_link_broadcasts_and_multicasts_get_no_error():
    assert not run(f"{SRC}, timeexceeded", [ip_packet()], ptype=BROADCAST).element("out").frames
    assert not run(f"{SRC}, timeexceeded", [ip_packet()], ptype=MULTICAST).element("out").frames


def test_badaddrs_silence_errors_from_and_to_those_addresses():
    frames = [ip_packet(src="10.9.9.9"), ip_packet(dst="10.8.8.8"), ip_packet()]
    r = run(f"{SRC}, timeexceeded, BADADDRS 10.9.9.9 10.8.8.8", frames)
    assert len(r.element("out").frames) == 1
    assert r.element("e").read("drops") == "2"


def test_no_redirect_for_source_routed_packets():
    lsrr = b"\x83\x07\x04\x0a\x00\x00\x09\x00"          # loose source route, then EOL
    assert not run(f"{SRC}, redirect, host", [ip_packet(opts=lsrr)]).element("out").frames
    assert run(f"{SRC}, timeexceeded", [ip_packet(opts=lsrr)]).element("out").frames


def test_mtu_cuts_the_quote_to_fit():
    opts = b"\x01" * 40
    r = run(f"{SRC}, timeexceeded, MTU 80", [ip_packet(opts=opts)])
    (packet,) = r.element("out").frames
    assert len(packet) == 80
    assert packet[28:] == ip_packet(opts=opts)[:52]
    assert dpkt.in_cksum(packet[20:]) == 0


def test_needfrag_reports_the_mtu_of_the_ipfragmenter_that_feeds_it(make_router):
    r = make_router(f"src :: _IEFrames -> fr :: IPFragmenter(1000) -> Discard;"
                    f"fr[1] -> ICMPError({SRC}, unreachable, needfrag) -> out :: _IESink")
    r.initialize()
    big = bytearray(ip_packet(payload=bytes(1200)))
    big[6] |= 0x40                                      # DF
    big[10:12] = b"\0\0"
    big[10:12] = struct.pack("!H", dpkt.in_cksum(bytes(big[:20])))
    r.element("src").send([bytes(big)])
    (packet,) = r.element("out").frames
    icmp = check_error(packet, bytes(big), 3, 4)
    assert icmp.data.mtu == 1000


def test_needfrag_with_fragmenters_of_different_mtus_asks_for_pmtu(make_router):
    from vforward.element import ElementError
    r = make_router(f"src :: _IEFrames -> a :: IPFragmenter(1000) -> Discard; "
                    f"src2 :: _IEFrames -> b :: IPFragmenter(1400) -> Discard;"
                    f"a[1] -> e :: ICMPError({SRC}, unreachable, needfrag) -> Discard; b[1] -> e")
    with pytest.raises(ElementError, match="different MTUs.*give PMTU"):
        r.initialize()


def test_a_full_pool_drops_the_offending_packet_and_counts_it():
    r = run(f"{SRC}, timeexceeded", [ip_packet()], n_slots=1)
    assert r.element("out").frames == []
    assert r.element("e").read("drops") == "1"


def test_works_on_a_pull_path(make_router):
    r = make_router(f"src :: _IEFrames -> Queue -> e :: ICMPError({SRC}, 11) -> Unqueue "
                    f"-> out :: _IESink")
    r.initialize()
    r.element("src").send([ip_packet(), ip_packet(dst="224.0.0.1")])
    r.run_until_idle()
    assert len(r.element("out").frames) == 1
    assert r.pool.n_used == 0


@pytest.mark.parametrize("args, message", [
    (f"{SRC}, echo", "argument TYPE: 'echo' is not an ICMP error type"),
    (f"{SRC}, 8", "argument TYPE: ICMP type 8 is not an error type"),
    (f"{SRC}, timeexceeded, needfrag", "argument CODE: 'needfrag' is not a code of ICMP type 11"),
    (f"{SRC}, unreachable, 300", "argument CODE"),
    ("1.2.3, timeexceeded", "argument SRC"),
    (f"{SRC}, timeexceeded, MTU 20", "argument MTU: 20 is below"),
    (f"{SRC}", "missing argument TYPE"),
])
def test_bad_arguments_are_graph_errors_naming_the_fix(make_router, args, message):
    with pytest.raises(GraphError, match=message):
        make_router(f"Idle -> ICMPError({args}) -> Discard")


def test_net_unreachable_comes_from_the_interface_the_route_back_leaves_by_at_a_shared_limit():
    router = Router(build_graph(
        "lim :: ICMPErrorLimit(0.001, 2); "
        "src :: _IEFrames -> e :: ICMPError(18.26.4.24, unreachable, net, ROUTES rt, "
        "SOURCES \"10.0.0.254 10.1.0.254\", LIMIT lim) -> out :: _IESink; "
        "Idle -> rt :: RadixIPLookup(10.0.0.0/24 0, 10.1.0.0/24 1) -> Discard; rt[1] -> Discard"),
        PacketPool(64))
    try:
        router.initialize()
        router.element("src").send([ip_packet(src="10.1.0.1"), ip_packet(src="192.0.2.1"),
                                    ip_packet(src="10.0.0.1")])
        frames = router.element("out").frames
        assert [socket.inet_ntoa(dpkt.ip.IP(f).src) for f in frames] == ["10.1.0.254",
                                                                          "18.26.4.24"]
        icmp = dpkt.ip.IP(frames[0]).data
        assert (icmp.type, icmp.code) == (3, 0)
        assert router.element("lim").read("limited") == "1"
        assert router.element("e").read("drops") == "1"
        assert router.pool.n_used == 0
    finally:
        router.close()
