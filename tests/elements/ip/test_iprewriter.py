"""IPRewriter: Click's input specifications, NAPT for TCP/UDP/ICMP echo, ICMP
error translation, expiry, capacity, fragments, handlers, and the compiled
kernel against the reference through the whole element."""
from __future__ import annotations

import socket
import struct

import dpkt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.args import ArgumentError
from vforward.cext import rewriter_reference
from vforward.element import PUSH_ONLY, Element, HandlerError, register
from vforward.elements.ip.rewriter_patterns import Pattern, parse_input_spec
from vforward.graph import GraphError

TCP, UDP, ICMP = 6, 17, 1
PRIV, PRIV2, NAT, SERVER = "10.0.0.2", "10.0.0.3", "198.51.100.1", "198.51.100.2"


class _Source(Element):
    """_NATSource -- test source: pushes IP packets with nh at their start"""
    CLASS_NAME = "_NATSource"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.nh[batch.idx] = batch.pool.off[batch.idx]
        self.emit(0, batch)


class _Sink(Element):
    """_NATSink -- test sink keeping bytes and dst_ip annotations"""
    CLASS_NAME = "_NATSink"
    PORTS = "1/0"
    PROCESSING = "a/a"

    def configure(self, args):
        args.finish()
        self.frames, self.dst, self.paint = [], [], []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        self.dst += batch.pool.dst_ip[batch.idx].tolist()
        self.paint += batch.pool.paint[batch.idx].tolist()
        batch.kill()

    def take(self):
        out, self.frames, self.dst, self.paint = self.frames, [], [], []
        return out


register(_Source)
register(_Sink)


def inet(a):
    return socket.inet_aton(a)


def pkt(proto, src, sport, dst, dport, payload=b"data", flags=0x18, icmp_type=8,
        udp_zero=False, mf=0, offset=0, ident=1):
    if proto == TCP:
        data = dpkt.tcp.TCP(sport=sport, dport=dport, seq=1, ack=1, flags=flags, data=payload)
    elif proto == UDP:
        data = dpkt.udp.UDP(sport=sport, dport=dport, ulen=8 + len(payload), data=payload)
    else:
        data = dpkt.icmp.ICMP(type=icmp_type, data=dpkt.icmp.ICMP.Echo(
            id=sport if icmp_type == 8 else dport, seq=1, data=payload))
    ip = dpkt.ip.IP(src=inet(src), dst=inet(dst), p=proto, ttl=64, id=ident, data=data)
    ip.mf, ip.offset = mf, offset
    raw = bytearray(bytes(ip))
    if udp_zero:
        raw[26:28] = b"\0\0"
    return bytes(raw)


def icmp_error(src, dst, quoted, icmp_type=3, code=3):
    hl = (quoted[0] & 0x0F) * 4
    icmp = dpkt.icmp.ICMP(type=icmp_type, code=code,
                          data=dpkt.icmp.ICMP.Unreach(data=quoted[:hl + 8]))
    return bytes(dpkt.ip.IP(src=inet(src), dst=inet(dst), p=ICMP, ttl=64, data=icmp))


def flow(frame):
    """(src, sport, dst, dport) of a TCP/UDP packet, or (src, id, dst) of ICMP echo."""
    ip = dpkt.ip.IP(frame)
    if ip.p == ICMP:
        return socket.inet_ntoa(ip.src), ip.data.data.id, socket.inet_ntoa(ip.dst)
    return socket.inet_ntoa(ip.src), ip.data.sport, socket.inet_ntoa(ip.dst), ip.data.dport


def checksums_ok(frame):
    hl = (frame[0] & 0x0F) * 4
    if dpkt.in_cksum(frame[:hl]):
        return False
    proto, seg = frame[9], frame[hl:]
    if proto in (TCP, UDP):
        if proto == UDP and seg[6:8] == b"\0\0":
            return True
        return dpkt.in_cksum(frame[12:20] + struct.pack("!BBH", 0, proto, len(seg)) + seg) == 0
    return dpkt.in_cksum(seg) == 0 if proto == ICMP else True


NAT_CONFIG = ("inside :: _NATSource; outside :: _NATSource;\n"
              "rw :: IPRewriter({specs});\n"
              "inside -> [0]rw; outside -> [1]rw;\n"
              "rw[0] -> out :: _NATSink; rw[1] -> back :: _NATSink;\n")


class Nat:
    """A router with IPRewriter(SPECS) between an inside and an outside source."""

    def __init__(self, make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop",
                 extra="", impl=None):
        self.router = make_router(NAT_CONFIG.format(specs=specs) + extra)
        self.rw = self.router.element("rw")
        if impl is not None:
            self.rw.use_kernels(impl)
        self.router.initialize()
        self.out = self.router.element("out")
        self.back = self.router.element("back")
        self.clock = 1000.0
        self.rw._clock = lambda: self.clock

    def send_in(self, *frames):
        self.router.element("inside").send(list(frames))
        return self.out.take()

    def send_out(self, *frames):
        self.router.element("outside").send(list(frames))
        return self.back.take()

    def read(self, h):
        return self.rw.read(h)


@pytest.fixture
def nat(make_router):
    return Nat(make_router)


# -- the basics ------------------------------------------------------------------------
@pytest.mark.parametrize("proto", [TCP, UDP])
def test_outbound_flow_leaves_from_the_nat_address_and_replies_come_back(nat, proto):
    out = nat.send_in(pkt(proto, PRIV, 5000, SERVER, 80))
    assert len(out) == 1 and flow(out[0]) == (NAT, 1024, SERVER, 80) and checksums_ok(out[0])
    assert nat.out.dst == []                 # taken; the annotation was the new destination
    back = nat.send_out(pkt(proto, SERVER, 80, NAT, 1024, b"answer"))
    assert len(back) == 1 and flow(back[0]) == (SERVER, 80, PRIV, 5000)
    assert back[0] == pkt(proto, SERVER, 80, PRIV, 5000, b"answer")
    assert nat.read("nmappings") == "1" and nat.router.pool.n_used == 0


def test_dst_anno_is_the_rewritten_destination(make_router):
    n = Nat(make_router, specs="pattern - - 192.0.2.9 8080 0 1, drop")
    n.router.element("inside").send([pkt(TCP, PRIV, 5000, SERVER, 80)])
    assert n.out.dst == [int.from_bytes(inet("192.0.2.9"), "big")]
    assert flow(n.out.frames[0]) == (PRIV, 5000, "192.0.2.9", 8080)


def test_dst_anno_false_leaves_the_annotation(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} - - - 0 1, drop, DST_ANNO false")
    n.router.element("inside").send([pkt(UDP, PRIV, 5000, SERVER, 53)])
    assert n.out.dst == [0]


def test_ping_from_two_hosts_with_the_same_identifier_get_distinct_ones(nat):
    out = nat.send_in(pkt(ICMP, PRIV, 7, SERVER, 0), pkt(ICMP, PRIV2, 7, SERVER, 0))
    assert [flow(f) for f in out] == [(NAT, 1024, SERVER), (NAT, 1025, SERVER)]
    assert all(checksums_ok(f) for f in out)
    back = nat.send_out(pkt(ICMP, SERVER, 0, NAT, 1025, icmp_type=0),
                        pkt(ICMP, SERVER, 0, NAT, 1024, icmp_type=0))
    assert [flow(f) for f in back] == [(SERVER, 7, PRIV2), (SERVER, 7, PRIV)]
    assert back[0] == pkt(ICMP, SERVER, 0, PRIV2, 7, icmp_type=0)
    assert "(10.0.0.2, 198.51.100.2, 7) => (198.51.100.1, 198.51.100.2, 1024) [*0 1] i0 exp300" \
        in nat.read("icmp_table")


def test_unsolicited_inbound_packets_never_pass(nat):
    back = nat.send_out(pkt(TCP, SERVER, 4444, NAT, 22, flags=0x02),
                        pkt(UDP, SERVER, 53, NAT, 1024),
                        pkt(ICMP, SERVER, 9, NAT, 0),                    # ping to the NAT
                        pkt(ICMP, SERVER, 0, NAT, 9, icmp_type=0),       # stray echo reply
                        icmp_error(SERVER, NAT, pkt(UDP, NAT, 1024, SERVER, 53)))
    assert back == [] and nat.out.frames == []
    assert nat.read("nmappings") == "0"
    details = dict(line.split("\t")[::-1] for line in nat.read("drop_details").splitlines())
    assert details["no mapping"] == "3" and details["no ports to map by"] == "2"
    assert nat.read("drops") == "5" and nat.router.pool.n_used == 0


def test_a_reply_to_one_host_does_not_open_the_door_for_other_ports(nat):
    nat.send_in(pkt(UDP, PRIV, 5000, SERVER, 53))
    assert nat.send_out(pkt(UDP, SERVER, 53, NAT, 1025)) == []          # other NAT port
    assert nat.send_out(pkt(UDP, "203.0.113.5", 53, NAT, 1024)) == []   # other remote
    assert nat.send_out(pkt(TCP, SERVER, 53, NAT, 1024)) == []          # other protocol
    assert len(nat.send_out(pkt(UDP, SERVER, 53, NAT, 1024))) == 1


def test_packets_of_a_new_flow_in_one_batch_share_one_mapping(nat):
    out = nat.send_in(*[pkt(UDP, PRIV, 5000, SERVER, 53, bytes([i])) for i in range(5)])
    assert {flow(f) for f in out} == {(NAT, 1024, SERVER, 53)} and len(out) == 5
    assert nat.read("nmappings") == "1"
    assert [f[-1] for f in out] == list(range(5))          # order kept


def test_zero_udp_checksum_stays_zero(nat):
    out = nat.send_in(pkt(UDP, PRIV, 5000, SERVER, 53, udp_zero=True))
    assert out[0][26:28] == b"\0\0" and dpkt.in_cksum(out[0][:20]) == 0


# -- input specifications -----------------------------------------------------------------
def test_pass_spec_sends_unmapped_packets_unchanged(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, pass 1")
    frames = [pkt(TCP, SERVER, 80, NAT, 7777), bytes(dpkt.ip.IP(src=inet(SERVER),
                                                               dst=inet(NAT), p=47, data=b"gre"))]
    assert n.send_out(*frames) == frames
    assert n.read("nmappings") == "0"


def test_pass_spec_also_passes_fragments_and_broken_packets(make_router):
    n = Nat(make_router, specs="pass 0, drop")
    frag = pkt(UDP, PRIV, 5000, SERVER, 53, offset=8)
    short = pkt(TCP, PRIV, 1, SERVER, 2)[:30]
    short = short[:2] + struct.pack("!H", 30) + short[4:]
    assert n.send_in(frag, short) == [frag, short]
    assert n.read("drops") == "0"


def test_keep_spec_maps_the_flow_to_itself(make_router):
    n = Nat(make_router, specs="keep 0 1, drop")
    p = pkt(TCP, PRIV, 5000, SERVER, 80)
    assert n.send_in(p) == [p]
    reply = pkt(TCP, SERVER, 80, PRIV, 5000)
    assert n.send_out(reply) == [reply]
    assert "(10.0.0.2, 5000, 198.51.100.2, 80) => (10.0.0.2, 5000, 198.51.100.2, 80)" \
        in n.read("tcp_table")


def test_pattern_rewrites_the_destination_for_a_port_forward(make_router):
    n = Nat(make_router, specs="drop, pattern - - 10.0.0.9 22 1 0")
    back = n.send_out(pkt(TCP, SERVER, 4000, NAT, 2222, flags=0x02))
    assert flow(back[0]) == (SERVER, 4000, "10.0.0.9", 22)
    out = n.send_in(pkt(TCP, "10.0.0.9", 22, SERVER, 4000, flags=0x12))
    assert flow(out[0]) == (NAT, 2222, SERVER, 4000)


def test_source_port_is_kept_when_free_by_default(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535 - - 0 1, drop")
    out = n.send_in(pkt(UDP, PRIV, 40000, SERVER, 53), pkt(UDP, PRIV2, 40000, SERVER, 53))
    ports = [flow(f)[1] for f in out]
    assert ports[0] == 40000 and ports[1] != 40000 and 1024 <= ports[1] <= 65535


def test_sequential_ports_wrap_and_exhaustion_is_a_mapping_failure(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 2000-2002# - - 0 1, drop")
    out = n.send_in(*[pkt(UDP, PRIV, 5000 + i, SERVER, 53) for i in range(4)])
    assert [flow(f)[1] for f in out] == [2000, 2001, 2002]
    assert n.read("mapping_failures") == "1"
    assert n.read("patterns") == "198.51.100.1 2000-2002 - - [3]\n<drop>\n"


def test_random_ports_stay_in_range(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 3000-3099? - - 0 1, drop")
    out = n.send_in(*[pkt(UDP, PRIV, 3000 + i, SERVER, 53) for i in range(50)])
    ports = [flow(f)[1] for f in out]
    assert len(set(ports)) == 50 and all(3000 <= p <= 3099 for p in ports)


def test_fixed_pattern_refuses_a_flow_whose_reply_would_be_ambiguous(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 5555 - - 0 1, drop")
    out = n.send_in(pkt(UDP, PRIV, 1, SERVER, 53), pkt(UDP, PRIV2, 2, SERVER, 53))
    assert len(out) == 1 and n.read("mapping_failures") == "1"
    assert len(n.send_out(pkt(UDP, SERVER, 53, NAT, 5555))) == 1     # the first one lives


def test_named_patterns_are_shared_between_rewriters(make_router):
    r = make_router("IPRewriterPatterns(world 198.51.100.1 4000-4001# - -);\n"
                    "a :: _NATSource; b :: _NATSource;\n"
                    "a -> rw1 :: IPRewriter(pattern world 0 1) -> o1 :: _NATSink;\n"
                    "b -> rw2 :: IPRewriter(pattern world 0 1) -> o2 :: _NATSink;\n"
                    "rw1[1] -> Discard; rw2[1] -> Discard;")
    r.initialize()
    r.element("a").send([pkt(UDP, PRIV, 1, SERVER, 53)])
    r.element("b").send([pkt(UDP, PRIV, 1, SERVER, 54)])
    assert flow(r.element("o1").frames[0])[1] == 4000
    assert flow(r.element("o2").frames[0])[1] == 4001      # the sequence is the pattern's


def test_unknown_named_pattern_is_an_error_at_initialize(make_router):
    r = make_router("rw :: IPRewriter(pattern nowhere 0 1) -> Discard; rw[1] -> Discard;"
                    "s :: _NATSource; s -> rw;")
    with pytest.raises(Exception, match="no pattern named 'nowhere'"):
        r.initialize()


@pytest.mark.parametrize("specs,message", [
    ("", "needs one INPUTSPEC"),
    ("frobnicate now", "not an input specification"),
    ("7up", "unknown specification"),
    ("keep 0", "keep FOUTPUT ROUTPUT"),
    ("pattern 1.2.3.4 1024-65535 - - 0", "bad forward port"),
    ("pattern 1.2.3.4 1024-65535 - 0 1", "bad destination address '1024-65535'"),
    ("pattern 1.2.3.4 70000 - - 0 1", "bad source port"),
    ("pattern 1.2.3.4 1024 - 10-20 0 1", "only the source port"),
    ("pattern 1.2.3.999 1024 - - 0 1", "bad source address"),
    ("drop extra", "alone"),
    ("some_mapper 0 1", "or a mapper element's name alone"),
])
def test_bad_input_specs_are_refused_with_a_reason(make_router, specs, message):
    with pytest.raises(GraphError, match=message):
        make_router(f"rw :: IPRewriter({specs}); s :: _NATSource; s -> rw -> Discard;")


def test_inputs_and_outputs_follow_the_specs(make_router):
    with pytest.raises(GraphError, match="no input 2"):
        make_router("rw :: IPRewriter(drop, drop) -> Discard; s :: _NATSource; s -> [2]rw;")
    with pytest.raises(GraphError, match="output 3 of 'rw'"):
        make_router("rw :: IPRewriter(pattern - - - - 0 3, pass 1); s :: _NATSource;"
                    "s -> rw -> Discard; t :: _NATSource; t -> [1]rw;"
                    "rw[1] -> Discard; rw[2] -> Discard;")
    r = make_router("rw :: IPRewriter(pattern - - - - 0 3, pass 1); s :: _NATSource;"
                    "s -> rw -> Discard; t :: _NATSource; t -> [1]rw;"
                    "rw[1] -> Discard; rw[2] -> Discard; rw[3] -> Discard;")
    assert r.element("rw").n_outputs == 4          # max output named + 1


def test_pattern_parsing_round_trips():
    for text in ("1.2.3.4 1024-65535# - -", "- - 10.0.0.9 22", "1.2.3.4 5 6.7.8.9 10",
                 "1.2.3.4 1000-2000? - -"):
        assert Pattern.parse(text.split()).unparse() == text
    spec = parse_input_spec("nochange 3")
    assert spec.kind == "pass" and spec.foutput == 3
    with pytest.raises(ArgumentError):
        parse_input_spec("pattern 1.2.3.4 - 0 1")


# -- ICMP errors --------------------------------------------------------------------------
def test_port_unreachable_for_a_mapped_flow_reaches_the_private_host(nat):
    sent = nat.send_in(pkt(UDP, PRIV, 5000, SERVER, 53, b"query"))[0]
    back = nat.send_out(icmp_error(SERVER, NAT, sent))
    assert back == [icmp_error(SERVER, PRIV, pkt(UDP, PRIV, 5000, SERVER, 53, b"query"))]
    assert checksums_ok(back[0])


def test_time_exceeded_about_a_ping_reaches_the_pinger(nat):
    sent = nat.send_in(pkt(ICMP, PRIV, 33, SERVER, 0))[0]
    back = nat.send_out(icmp_error("203.0.113.1", NAT, sent, icmp_type=11, code=0))
    assert back == [icmp_error("203.0.113.1", PRIV, pkt(ICMP, PRIV, 33, SERVER, 0),
                               icmp_type=11, code=0)]


def test_error_sent_by_a_private_host_leaves_from_the_nat_address(nat):
    nat.send_in(pkt(UDP, PRIV, 5000, SERVER, 53))
    delivered = nat.send_out(pkt(UDP, SERVER, 53, NAT, 1024))[0]
    out = nat.send_in(icmp_error(PRIV, SERVER, delivered))
    assert out == [icmp_error(NAT, SERVER, pkt(UDP, SERVER, 53, NAT, 1024))]


def test_icmp_errors_do_not_keep_a_mapping_alive(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, UDP_TIMEOUT 10")
    sent = n.send_in(pkt(UDP, PRIV, 5000, SERVER, 53))[0]
    n.clock += 8
    assert n.send_out(icmp_error(SERVER, NAT, sent))
    n.clock += 3
    assert n.rw.reap() == 1


# -- expiry -------------------------------------------------------------------------------
def test_udp_mapping_expires_after_udp_timeout(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, UDP_TIMEOUT 30")
    n.send_in(pkt(UDP, PRIV, 5000, SERVER, 53))
    assert "exp30" in n.read("udp_table")
    n.clock += 29
    assert n.rw.reap() == 0 and "exp1" in n.read("udp_table")
    n.send_out(pkt(UDP, SERVER, 53, NAT, 1024))         # a reply refreshes it
    n.clock += 29
    assert n.rw.reap() == 0
    n.clock += 1.5
    assert n.rw.reap() == 1
    assert n.read("udp_table") == "" and n.read("nmappings") == "0"
    assert n.send_out(pkt(UDP, SERVER, 53, NAT, 1024)) == []
    assert n.read("patterns").startswith("198.51.100.1 1024-65535 - -\n")   # count back to 0


def test_udp_streaming_flows_get_the_streaming_timeout(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, "
                               "UDP_TIMEOUT 10, UDP_STREAMING_TIMEOUT 100")
    n.send_in(pkt(UDP, PRIV, 5000, SERVER, 53), pkt(UDP, PRIV, 5000, SERVER, 53))
    assert "exp10" in n.read("udp_table")
    n.send_out(pkt(UDP, SERVER, 53, NAT, 1024))
    assert "exp100" in n.read("udp_table")


def test_tcp_timeouts_follow_the_connection_state(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, "
                               "TCP_TIMEOUT 1000, TCP_NODATA_TIMEOUT 100, TCP_DONE_TIMEOUT 10")
    n.send_in(pkt(TCP, PRIV, 5000, SERVER, 80, b"", flags=0x02))
    assert "exp100" in n.read("tcp_table")                       # no data yet
    n.send_out(pkt(TCP, SERVER, 80, NAT, 1024, b"", flags=0x12))
    n.send_in(pkt(TCP, PRIV, 5000, SERVER, 80, b"GET /", flags=0x18))
    assert "exp100" in n.read("tcp_table")                       # data one way only
    n.send_out(pkt(TCP, SERVER, 80, NAT, 1024, b"200 OK", flags=0x18))
    assert "exp1000" in n.read("tcp_table")                      # data both ways
    n.send_in(pkt(TCP, PRIV, 5000, SERVER, 80, b"", flags=0x11))
    assert "exp1000" in n.read("tcp_table")                      # half closed
    n.send_out(pkt(TCP, SERVER, 80, NAT, 1024, b"", flags=0x11))
    assert "exp10" in n.read("tcp_table")                        # done
    n.clock += 10
    assert n.rw.reap() == 1


def test_rst_marks_a_tcp_flow_done(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, TCP_DONE_TIMEOUT 3")
    n.send_in(pkt(TCP, PRIV, 5000, SERVER, 80, b"", flags=0x02))
    n.send_out(pkt(TCP, SERVER, 80, NAT, 1024, b"", flags=0x14))
    assert "exp3" in n.read("tcp_table")


def test_defaults_are_clicks(make_router):
    n = Nat(make_router)
    t = n.rw.timeouts
    assert (t.tcp_data, t.tcp_done, t.tcp_nodata, t.udp, t.udp_streaming) == \
        (86400, 240, 300, 300, 300)
    assert n.rw.reap_interval == 900
    assert n.read("capacity") == "65536"      # bounded, unlike Click's: see the flood tests


def test_reaping_runs_on_a_loop_timer(make_router):
    r = make_router(NAT_CONFIG.format(
        specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, UDP_TIMEOUT 0.05, REAP_INTERVAL 0.02"))
    r.initialize()
    r.element("inside").send([pkt(UDP, PRIV, 5000, SERVER, 53)])
    assert r.element("rw").read("nmappings") == "1"
    r.run(duration=0.3)
    assert r.element("rw").read("nmappings") == "0"


# -- capacity -----------------------------------------------------------------------------
def test_full_table_refuses_new_flows_and_keeps_live_ones(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, MAPPING_CAPACITY 2")
    out = n.send_in(*[pkt(UDP, PRIV, 5000 + i, SERVER, 53) for i in range(3)])
    assert len(out) == 2 and n.read("mapping_failures") == "1" and n.read("size") == "2"
    # the live flows still work both ways
    assert len(n.send_out(pkt(UDP, SERVER, 53, NAT, 1024), pkt(UDP, SERVER, 53, NAT, 1025))) == 2
    # once they are past their guarantee, a new flow evicts one
    n.clock += 301
    assert len(n.send_in(pkt(UDP, PRIV, 6000, SERVER, 53))) == 1
    assert n.read("mapping_failures") == "1"


def test_a_flood_of_new_flows_fails_counted_while_an_established_flow_keeps_working(make_router):
    import tracemalloc
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, MAPPING_CAPACITY 500")
    assert len(n.send_in(pkt(UDP, PRIV, 7777, SERVER, 53))) == 1          # established
    tracemalloc.start()
    try:
        for wave in range(2):
            for b in range(20):
                out = n.send_in(*[pkt(UDP, "10.0.%d.%d" % (wave + 1, b), 1024 + i, SERVER, 80)
                                  for i in range(250)])
                assert len(n.send_in(pkt(UDP, PRIV, 7777, SERVER, 53))) == 1
                assert len(n.send_out(pkt(UDP, SERVER, 53, NAT, 1024))) == 1
            if wave == 0:
                after_first = tracemalloc.get_traced_memory()[0]
        grown = tracemalloc.get_traced_memory()[0] - after_first
    finally:
        tracemalloc.stop()
    assert n.read("size") == "500"
    assert int(n.read("mapping_failures")) == 2 * 20 * 250 - 499
    failed = [l for l in n.read("drop_details").splitlines() if l.endswith("\tmapping failure")]
    assert sum(int(l.split("\t")[0]) for l in failed) == 2 * 20 * 250 - 499
    assert n.rw.table._n <= 1024                       # the flow columns stopped growing
    assert grown < 256 * 1024, f"the second wave of 5000 flows grew memory by {grown} bytes"


def test_without_a_capacity_the_table_is_still_bounded(make_router):
    n = Nat(make_router)
    assert n.rw.mapping_capacity.capacity == 65536


def test_capacity_handler(make_router):
    n = Nat(make_router)
    n.rw.write("capacity", "1")
    assert n.read("capacity") == "1"
    assert len(n.send_in(pkt(UDP, PRIV, 1, SERVER, 53), pkt(UDP, PRIV, 2, SERVER, 53))) == 1
    with pytest.raises(HandlerError):
        n.rw.write("capacity", "lots")


def test_at_capacity_a_new_flow_evicts_the_idle_flow_that_expires_first(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, MAPPING_CAPACITY 2, "
                               "UDP_TIMEOUT 100, GUARANTEE 5")
    n.send_in(pkt(UDP, PRIV, 1, SERVER, 53))            # port 1024
    n.clock += 1
    n.send_in(pkt(UDP, PRIV, 2, SERVER, 53))            # port 1025
    n.clock += 1
    assert n.send_in(pkt(UDP, PRIV, 3, SERVER, 53)) == []    # both still guaranteed
    n.clock += 3                                        # the first's guarantee is over
    n.send_out(pkt(UDP, SERVER, 53, NAT, 1024))         # ... but a reply renews it
    assert n.send_in(pkt(UDP, PRIV, 3, SERVER, 53)) == []
    n.clock += 5.5                                      # both idle past their guarantee
    n.send_out(pkt(UDP, SERVER, 53, NAT, 1024))         # the first is renewed again
    out = n.send_in(pkt(UDP, PRIV, 4, SERVER, 53))
    assert len(out) == 1 and n.read("mapping_failures") == "2"
    assert n.send_out(pkt(UDP, SERVER, 53, NAT, 1025)) == []     # the second was evicted
    assert len(n.send_out(pkt(UDP, SERVER, 53, NAT, 1024))) == 1
    assert n.read("size") == "2"
    assert n.read("patterns").startswith(f"{NAT} 1024-65535 - - [2]")


def test_a_tcp_flow_with_data_both_ways_outlives_idle_ones_at_capacity(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, MAPPING_CAPACITY 2, "
                               "GUARANTEE 0")
    n.send_in(pkt(TCP, PRIV, 1, SERVER, 80, b"x"))                 # 1024, will talk
    n.send_out(pkt(TCP, SERVER, 80, NAT, 1024, b"y"))
    n.clock += 1
    n.send_in(pkt(TCP, PRIV, 2, SERVER, 80, b""))                  # 1025, no data
    n.clock += 1
    assert len(n.send_in(pkt(TCP, PRIV, 3, SERVER, 80, b""))) == 1  # evicts 1025
    assert n.send_out(pkt(TCP, SERVER, 80, NAT, 1025, b"")) == []
    assert len(n.send_out(pkt(TCP, SERVER, 80, NAT, 1024, b""))) == 1


def test_rewriters_sharing_a_capacity_evict_each_others_idle_flows(make_router):
    r = make_router(f"""
        a_in :: _NATSource -> rw1 :: IPRewriter(pattern {NAT} 1024-65535# - - 0 0,
                                                MAPPING_CAPACITY rw2) -> out1 :: _NATSink;
        b_in :: _NATSource -> rw2 :: IPRewriter(pattern 198.51.100.9 1024-65535# - - 0 0,
                                                MAPPING_CAPACITY 2) -> out2 :: _NATSink;
    """)
    r.initialize()
    clock = [10.0]
    for name in ("rw1", "rw2"):
        r.element(name)._clock = lambda: clock[0]
    r.element("b_in").send([pkt(UDP, PRIV, 1, SERVER, 53), pkt(UDP, PRIV, 2, SERVER, 53)])
    assert r.element("rw1").read("capacity") == "2" and r.element("rw1").read("size") == "2"
    r.element("a_in").send([pkt(UDP, PRIV, 3, SERVER, 53)])
    assert r.element("out1").take() == []                   # rw2's flows are guaranteed
    clock[0] += 6
    r.element("a_in").send([pkt(UDP, PRIV, 3, SERVER, 53)])
    assert len(r.element("out1").take()) == 1               # evicted one of rw2's
    assert r.element("rw2").read("nmappings") == "1" and r.element("rw1").read("size") == "2"


def test_naming_something_else_as_capacity_is_an_error(make_router):
    r = make_router(NAT_CONFIG.format(specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, "
                                            "MAPPING_CAPACITY out"))
    with pytest.raises(Exception, match="MAPPING_CAPACITY 'out' is not a rewriter"):
        r.initialize()


def test_lowering_the_capacity_evicts_idle_flows_first(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop, GUARANTEE 5")
    n.send_in(pkt(UDP, PRIV, 1, SERVER, 53))
    n.clock += 10
    n.send_in(pkt(UDP, PRIV, 2, SERVER, 53))
    n.rw.write("capacity", "1")
    assert n.read("size") == "1"
    assert n.send_out(pkt(UDP, SERVER, 53, NAT, 1024)) == []
    assert len(n.send_out(pkt(UDP, SERVER, 53, NAT, 1025))) == 1


def test_a_flow_rewritten_onto_its_own_reverse_is_kept(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop")
    out = n.send_in(pkt(UDP, NAT, 1024, NAT, 1024))
    assert len(out) == 1 and flow(out[0]) == (NAT, 1024, NAT, 1024)
    assert n.read("mapping_failures") == "0" and n.read("nmappings") == "1"
    # its reply is the same tuple and meets the one entry, the reply's (as in Click)
    assert len(n.send_out(pkt(UDP, NAT, 1024, NAT, 1024))) == 1
    n.rw.write("clear", "")
    assert n.read("nmappings") == "0" and len(n.rw.table.flows) == 0


def test_reply_anno_gives_replies_the_annotation_of_their_flows_first_packet(make_router):
    r = make_router(f"""
        inside :: _NATSource -> ps :: PaintSwitch;
        rw :: IPRewriter(pattern {NAT} 1024-65535# - - 0 1, drop, REPLY_ANNO PAINT);
        ps[0] -> Paint(3) -> [0]rw; ps[1] -> Paint(4) -> [0]rw;
        outside :: _NATSource -> Paint(9) -> [1]rw;
        rw[0] -> out :: _NATSink; rw[1] -> back :: _NATSink;
    """)
    r.initialize()
    a, b = pkt(UDP, PRIV, 1, SERVER, 53), pkt(UDP, PRIV2, 1, SERVER, 53)
    batch = r.pool.from_bytes([a, b])
    batch.pool.nh[batch.idx] = batch.pool.off[batch.idx]
    batch.pool.paint[batch.idx] = [0, 1]
    r.element("inside").emit(0, batch)
    assert r.element("out").paint == [3, 4]             # forward packets keep their own
    r.element("outside").send([pkt(UDP, SERVER, 53, NAT, 1025), pkt(UDP, SERVER, 53, NAT, 1024)])
    back = r.element("back")
    assert [flow(f)[2] for f in back.frames] == [PRIV2, PRIV] and back.paint == [4, 3]


def test_writing_a_pattern_handler_replaces_that_inputs_spec_and_its_flows(make_router):
    n = Nat(make_router, specs=f"pattern {NAT} 1024-65535# - - 0 1, drop")
    n.send_in(pkt(UDP, PRIV, 1, SERVER, 53))
    assert n.read("pattern0") == f"{NAT} 1024-65535 - - [1]"
    n.rw.write("pattern0", "pattern 198.51.100.7 2000-2010# - - 0 1")
    assert n.read("pattern0") == "198.51.100.7 2000-2010 - -" and n.read("nmappings") == "0"
    assert n.send_out(pkt(UDP, SERVER, 53, NAT, 1024)) == []
    assert flow(n.send_in(pkt(UDP, PRIV, 1, SERVER, 53))[0]) == ("198.51.100.7", 2000, SERVER, 53)
    with pytest.raises(HandlerError, match="output 5"):
        n.rw.write("pattern0", "pattern 198.51.100.7 2000-2010# - - 0 5")
    with pytest.raises(HandlerError):
        n.rw.write("pattern1", "nonsense words")
    assert n.read("pattern1") == "<drop>"


@pytest.mark.parametrize("impl", [None, rewriter_reference])
def test_an_all_zero_echo_reply_gets_a_valid_checksum(make_router, impl):
    n = Nat(make_router, impl=impl)
    (out,) = n.send_in(pkt(ICMP, PRIV, 0, SERVER, 0, b"", icmp_type=8))
    ident = dpkt.ip.IP(out).data.data.id
    reply = dpkt.ip.IP(src=inet(SERVER), dst=inet(NAT), p=ICMP, ttl=64, id=1,
                       data=dpkt.icmp.ICMP(type=0, data=dpkt.icmp.ICMP.Echo(id=ident, seq=0)))
    (back,) = n.send_out(bytes(reply))
    icmp = bytes(back[20:])
    assert icmp == b"\0\0\xff\xff\0\0\0\0"      # identifier 0 again: only 0xFFFF sums right
    assert dpkt.in_cksum(icmp) == 0


# -- fragments ----------------------------------------------------------------------------
def test_later_fragments_follow_their_first_fragment(nat):
    first = pkt(UDP, PRIV, 5000, SERVER, 53, b"A" * 32, mf=1, ident=99)
    later = bytes(dpkt.ip.IP(src=inet(PRIV), dst=inet(SERVER), p=UDP, id=99, offset=40,
                             data=b"B" * 16))
    out = nat.send_in(first, later)
    assert len(out) == 2
    assert out[1][12:20] == inet(NAT) + inet(SERVER) and dpkt.in_cksum(out[1][:20]) == 0
    assert out[1][20:] == later[20:]
    stray = bytes(dpkt.ip.IP(src=inet(PRIV), dst=inet(SERVER), p=UDP, id=100, offset=40,
                             data=b"C"))
    assert nat.send_in(stray) == []
    assert "1\tfragment" in nat.read("drop_details")


def test_reply_fragments_follow_too(nat):
    nat.send_in(pkt(UDP, PRIV, 5000, SERVER, 53))
    first = pkt(UDP, SERVER, 53, NAT, 1024, b"A" * 32, mf=1, ident=5)
    later = bytes(dpkt.ip.IP(src=inet(SERVER), dst=inet(NAT), p=UDP, id=5, offset=40,
                             data=b"B"))
    back = nat.send_out(first, later)
    assert [f[12:20] for f in back] == [inet(SERVER) + inet(PRIV)] * 2


# -- malformed packets --------------------------------------------------------------------
def test_malformed_packets_are_counted_and_dropped_never_crash(nat):
    good = pkt(TCP, PRIV, 5000, SERVER, 80)
    udp = pkt(UDP, PRIV, 1, SERVER, 2)
    bad = [good[:10],                                           # shorter than an IP header
           b"",
           bytes([0x47]) + good[1:],                            # IHL 7: TCP header cut to 16
           bytes([0x43]) + good[1:],                            # IHL 3
           good[:2] + struct.pack("!H", 30) + good[4:30],       # 10 bytes of TCP header
           good[:2] + b"\xff\xff" + good[4:],                   # IP length past the packet
           udp[:2] + struct.pack("!H", 24) + udp[4:24]]         # 4 bytes of UDP header
    assert nat.send_in(*bad) == []
    assert nat.read("drops") == str(len(bad))
    assert f"{len(bad)}\tmalformed header" in nat.read("drop_details")
    assert nat.router.pool.n_used == 0


def test_nh_outside_the_packet_is_malformed(nat):
    r = nat.router
    batch = r.pool.from_bytes([pkt(UDP, PRIV, 1, SERVER, 53)])
    r.pool.nh[batch.idx] = 2000
    r.element("inside").emit(0, batch)
    assert nat.out.frames == [] and nat.read("drops") == "1"


# -- handlers -----------------------------------------------------------------------------
def test_tables_in_clicks_format(nat):
    nat.send_in(pkt(TCP, PRIV, 5000, SERVER, 80), pkt(UDP, PRIV, 6000, SERVER, 53))
    assert nat.read("tcp_table") == (
        "(10.0.0.2, 5000, 198.51.100.2, 80) => (198.51.100.1, 1024, 198.51.100.2, 80) "
        "[*0 1] i0 exp300\n"
        "(198.51.100.2, 80, 198.51.100.1, 1024) => (198.51.100.2, 80, 10.0.0.2, 5000) "
        "[0 *1] i0 exp300\n")
    assert nat.read("udp_table").startswith("(10.0.0.2, 6000, 198.51.100.2, 53) => "
                                            "(198.51.100.1, 1025, 198.51.100.2, 53)")
    assert nat.read("table") == nat.read("tcp_table") + nat.read("udp_table")
    assert nat.rw.read("tcp_lookup", f"{PRIV} 5000 {SERVER} 80") == f"{NAT} 1024 {SERVER} 80"
    assert nat.rw.read("tcp_lookup", f"{SERVER} 80 {NAT} 1024") == f"{SERVER} 80 {PRIV} 5000"
    assert nat.rw.read("udp_lookup", f"{PRIV} 1 {SERVER} 80") == ""
    with pytest.raises(HandlerError):
        nat.rw.read("tcp_lookup", "nonsense")


def test_clear_removes_every_dynamic_mapping(nat):
    nat.send_in(pkt(TCP, PRIV, 5000, SERVER, 80), pkt(UDP, PRIV, 6000, SERVER, 53))
    nat.rw.write("clear")
    assert nat.read("nmappings") == "0" and nat.read("table") == ""
    assert nat.send_out(pkt(TCP, SERVER, 80, NAT, 1024)) == []


def test_add_installs_a_static_port_forward(nat):
    nat.rw.write("add", f"tcp {SERVER} 0 {NAT} 8080 => {SERVER} 0 10.0.0.9 80 1 0")
    nat.rw.write("add", f"udp 203.0.113.7 53 {NAT} 5353 -> 203.0.113.7 53 10.0.0.9 53 1 0")
    back = nat.send_out(pkt(TCP, SERVER, 0, NAT, 8080, flags=0x02))
    assert flow(back[0]) == (SERVER, 0, "10.0.0.9", 80)
    out = nat.send_in(pkt(TCP, "10.0.0.9", 80, SERVER, 0, flags=0x12))
    assert flow(out[0]) == (NAT, 8080, SERVER, 0)
    table = nat.read("tcp_table")
    assert "[1 *0] static" in table or "[*1 0] static" in table
    nat.clock += 10 ** 6
    assert nat.rw.reap() == 0                     # static mappings never expire
    nat.rw.write("clear")
    assert nat.read("nmappings") == "2"           # and survive clear
    nat.rw.write("remove", f"tcp {SERVER} 0 {NAT} 8080")
    assert nat.read("nmappings") == "1"
    with pytest.raises(HandlerError, match="already exists"):
        nat.rw.write("add", f"udp 203.0.113.7 53 {NAT} 5353 => 1.1.1.1 1 2.2.2.2 2 0 1")
    with pytest.raises(HandlerError, match="not an output"):
        nat.rw.write("add", "tcp 1.1.1.1 1 2.2.2.2 2 => 1.1.1.1 1 2.2.2.2 2 0 7")
    with pytest.raises(HandlerError, match="expected"):
        nat.rw.write("add", "tcp 1.1.1.1 1 2.2.2.2")
    with pytest.raises(HandlerError, match="no mapping"):
        nat.rw.write("remove", "udp 1.1.1.1 1 2.2.2.2 2")


def test_handler_list_has_clicks_names(nat):
    names = set(nat.read("handlers").split())
    for h in ("tcp_table", "udp_table", "table", "nmappings", "mapping_failures", "size",
              "capacity", "clear", "patterns", "tcp_lookup", "add", "remove", "drops"):
        assert h in names


# -- the compiled kernel and the reference through the whole element ----------------------
@st.composite
def sessions(draw):
    hosts = [PRIV, PRIV2, "10.0.0.4"]
    events = []
    for _ in range(draw(st.integers(1, 40))):
        proto = draw(st.sampled_from([TCP, UDP, ICMP]))
        h = draw(st.sampled_from(hosts))
        sport = draw(st.sampled_from([1024, 1025, 5000, 6000]))
        dport = draw(st.sampled_from([53, 80]))
        side = draw(st.sampled_from(["in", "in", "out", "err", "tick"]))
        events.append((side, proto, h, sport, dport, draw(st.binary(max_size=8)),
                       draw(st.sampled_from([0x02, 0x10, 0x11, 0x18, 0x04]))))
    return events


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(sessions())
def test_element_gives_the_same_packets_on_compiled_and_reference_kernels(make_router, events):
    specs = f"pattern {NAT} 1024-1030# - - 0 1, drop, MAPPING_CAPACITY 6, UDP_TIMEOUT 5"
    nats = [Nat(make_router, specs=specs), Nat(make_router, specs=specs,
                                               impl=rewriter_reference)]
    seen = [[], []]
    for side, proto, h, sport, dport, payload, flags in events:
        for k, n in enumerate(nats):
            if side == "tick":
                n.clock += 2
                seen[k].append(n.rw.reap())
                continue
            if side == "in":
                frame = pkt(proto, h, sport, SERVER, dport if proto != ICMP else 0, payload,
                            flags=flags)
                seen[k] += n.send_in(frame)
            elif side == "out":
                frame = pkt(proto, SERVER, dport if proto != ICMP else 0, NAT, sport, payload,
                            flags=flags, icmp_type=0)
                seen[k] += n.send_out(frame)
            else:
                quoted = pkt(proto, NAT, sport, SERVER, dport if proto != ICMP else 0, payload)
                seen[k] += n.send_out(icmp_error(SERVER, NAT, quoted))
    assert seen[0] == seen[1]
    assert [n.read("table") for n in nats][0] == [n.read("table") for n in nats][1]
    assert nats[0].read("drop_details") == nats[1].read("drop_details")
    assert all(checksums_ok(f) for f in seen[0] if isinstance(f, bytes))
