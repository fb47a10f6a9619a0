"""IPFilter: each primitive on known packets, the compiled matchers against the
per-packet reference on random patterns and packets, and the element in real
graphs (actions, output counts, handlers, errors)."""
import dpkt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.cext import ipfilter as kernel
from vforward.cext import ipfilter_reference as kernel_reference
from vforward.element import PUSH_ONLY, Element, register
from vforward.elements.ip.ipfilter import IPFilter
from vforward.elements.ip.ipfilter_compile import CompiledRules, DecisionProgram
from vforward.elements.ip.ipfilter_language import parse_pattern
from vforward.elements.ip.ipfilter_reference import evaluate, first_match, ip_bytes
from vforward.graph import GraphError
from vforward.packet import PacketPool


# -- packets ----------------------------------------------------------------------

def _addr(text):
    return bytes(int(x) for x in text.split("."))


def ipv4(proto=6, src="10.0.0.1", dst="10.0.0.2", ttl=64, tos=0, ident=1, frag=0,
         options=b"", payload=b"", sport=1234, dport=80, flags=0x02, win=8192,
         icmp_type=8, icmp_code=0, cut=None):
    """An IPv4 packet built with dpkt: TCP, UDP, ICMP or raw payload by protocol.
    frag is the 16-bit flags/offset word; options are padded to 4 bytes; cut
    truncates the bytes."""
    if proto == 6:
        data = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, win=win, data=payload)
    elif proto == 17:
        data = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    elif proto == 1:
        data = dpkt.icmp.ICMP(type=icmp_type, code=icmp_code,
                              data=dpkt.icmp.ICMP.Echo(id=7, seq=1, data=payload))
    else:
        data = payload
    options += b"\x01" * (-len(options) % 4)
    ip = dpkt.ip.IP(src=_addr(src), dst=_addr(dst), p=proto, ttl=ttl, tos=tos, id=ident,
                    data=data, opts=options)
    b = bytearray(bytes(ip))
    b[0] = 0x40 | (5 + len(options) // 4)          # dpkt leaves hl at 5
    b[6:8] = frag.to_bytes(2, "big")
    b = bytes(b)
    return b if cut is None else b[:cut]


TCP_SYN = ipv4(6, flags=0x02)
TCP_SYNACK = ipv4(6, src="10.0.0.2", dst="10.0.0.1", sport=80, dport=1234, flags=0x12)
UDP_DNS = ipv4(17, src="192.168.1.5", dst="8.8.8.8", sport=5353, dport=53)
PING = ipv4(1, icmp_type=8)
PONG = ipv4(1, icmp_type=0, src="10.0.0.2", dst="10.0.0.1")
GRE = ipv4(47, payload=b"\x00" * 8)


def matches(pattern, packet, nh_offset=0):
    """Does pattern match packet?  Asks every evaluator and demands they agree."""
    tree = parse_pattern(pattern)
    ref = evaluate(tree, packet)
    pool = PacketPool(4, slot_size=2048, headroom=64)
    batch = pool.from_bytes([b"\xee" * nh_offset + packet])
    pool.nh[batch.idx] = pool.off[batch.idx] + nh_offset
    assert ip_bytes(pool, int(batch.idx[0])) == packet
    answers = {"numpy": CompiledRules([tree]).first_match(pool, batch.idx)[0] == 0,
               "kernel reference": DecisionProgram([tree], kernel_reference)
               .first_match(pool, batch.idx)[0] == 0,
               "kernel": DecisionProgram([tree], kernel).first_match(pool, batch.idx)[0] == 0}
    assert answers == {k: ref for k in answers}, (pattern, answers, ref)
    return ref


# -- known answers, primitive by primitive -----------------------------------------

@pytest.mark.parametrize("pattern, packet, expected", [
    ("tcp", TCP_SYN, True), ("tcp", UDP_DNS, False), ("udp", UDP_DNS, True),
    ("icmp", PING, True), ("ip proto 47", GRE, True), ("ip proto gre", GRE, True),
    ("ip proto > 20", GRE, True), ("ip proto > 20", UDP_DNS, False),
    ("ip proto != tcp", UDP_DNS, True), ("ip proto != tcp", TCP_SYN, False),
    ("src host 10.0.0.1", TCP_SYN, True), ("src host 10.0.0.1", TCP_SYNACK, False),
    ("dst host 10.0.0.1", TCP_SYNACK, True), ("host 10.0.0.1", TCP_SYNACK, True),
    ("host 10.0.0.1", UDP_DNS, False), ("src and dst host 10.0.0.1", TCP_SYN, False),
    ("src or dst host 8.8.8.8", UDP_DNS, True), ("src host != 10.0.0.1", TCP_SYN, False),
    ("src host != 10.0.0.1", UDP_DNS, True), ("host != 10.0.0.1", TCP_SYN, False),
    ("host != 10.0.0.1", UDP_DNS, True),
    ("src and dst host != 10.0.0.1", TCP_SYN, True),
    ("net 192.168.0.0/16", UDP_DNS, True), ("src net 192.168.0.0/16", UDP_DNS, True),
    ("dst net 192.168.0.0/16", UDP_DNS, False), ("10.0.0.0/8", TCP_SYN, True),
    ("src net 10.0.0.0 mask 255.255.255.252", TCP_SYNACK, True),
    ("src host & 255.255.255.0 == 10.0.0.0", TCP_SYN, True),
    ("port 80", TCP_SYN, True), ("src port 80", TCP_SYN, False), ("dst port 80", TCP_SYN, True),
    ("tcp port 53", UDP_DNS, False), ("udp port 53", UDP_DNS, True), ("port domain", UDP_DNS, True),
    ("dst port > 1023", TCP_SYN, False), ("src port > 1023", TCP_SYN, True),
    ("port > 1023", TCP_SYN, True),           # either port above 1023
    ("port < 1024", TCP_SYN, False),          # both ports below 1024
    ("port <= 80", ipv4(6, sport=22, dport=80), True),
    ("port != 80", TCP_SYN, False), ("port != 81", TCP_SYN, True),
    ("src port & 0xff00 == 0x0400", TCP_SYN, True),   # 1234 = 0x04d2
    ("port 80", PING, False), ("port != 80", PING, False), ("not port 80", PING, True),
    ("icmp type echo", PING, True), ("icmp type echo-reply", PONG, True),
    ("icmp type != echo", PONG, True), ("icmp type != echo", TCP_SYN, False),
    ("icmp type < 3", PONG, True), ("echo-reply", PONG, True), ("icmp type 8", PING, True),
    ("tcp opt syn", TCP_SYN, True), ("syn", TCP_SYNACK, True), ("syn ack", TCP_SYN, False),
    ("syn ack", TCP_SYNACK, True), ("ack", TCP_SYN, False), ("tcp opt 18", TCP_SYNACK, True),
    ("tcp flags fin", ipv4(6, flags=0x11), True), ("rst", ipv4(6, flags=0x04), True),
    ("psh", ipv4(6, flags=0x18), True), ("urg", ipv4(6, flags=0x20), True),
    ("syn", UDP_DNS, False),
    ("tcp win 8192", TCP_SYN, True), ("tcp win > 9000", TCP_SYN, False),
    ("ip vers 4", TCP_SYN, True), ("ip hl 5", TCP_SYN, True), ("ip hl 7", ipv4(options=b"\x01" * 8), True),
    ("ip tos 0x10", ipv4(tos=0x10), True), ("ip dscp 46", ipv4(tos=0xB8), True),
    ("ip dscp 46", ipv4(tos=0xB9), True), ("ip dscp 46", ipv4(tos=0x10), False),
    ("ip ect", ipv4(tos=0x01), True), ("ip ect", ipv4(tos=0x00), False),
    ("ip ce", ipv4(tos=0x03), True), ("ip ce", ipv4(tos=0x02), False),
    ("ip ttl 64", TCP_SYN, True), ("ip ttl < 2", ipv4(ttl=1), True), ("ip ttl >= 65", TCP_SYN, False),
    ("ip id 4660", ipv4(ident=0x1234), True), ("ip len 40", TCP_SYN, True),
    ("ip len > 40", TCP_SYN, False),
    ("ip frag", ipv4(frag=0x2000), True), ("ip frag", ipv4(frag=0x0005), True),
    ("ip frag", ipv4(frag=0x4000), False), ("ip unfrag", ipv4(frag=0x4000), True),
    ("ip unfrag", ipv4(frag=0x2000), False),
    ("ip[9] == 6", TCP_SYN, True), ("ip[12:4] == 0x0a000001", TCP_SYN, True),
    ("ip[6:2] & 0x1fff != 0", ipv4(frag=0x2005), True),
    ("ip[0] & 0xf0 == 0x40", TCP_SYN, True),
    ("transp[0:2] == 1234", TCP_SYN, True), ("transp[2:2] == 53", UDP_DNS, True),
    ("tcp[13] & 2 != 0", TCP_SYN, True), ("tcp[13] & 2 != 0", UDP_DNS, False),
    ("udp[2:2] == 53", UDP_DNS, True), ("icmp[0] == 8", PING, True),
    ("true", GRE, True), ("false", GRE, False), ("-", GRE, True),
    ("tcp and not syn", TCP_SYN, False), ("tcp and not ack", TCP_SYN, True),
    ("(dst port www or dst port ssh) and tcp opt syn", TCP_SYN, True),
    ("tcp ? syn : udp", TCP_SYN, True), ("tcp ? ack : udp", TCP_SYN, False),
    ("tcp ? ack : udp", UDP_DNS, True),
])
def test_primitive_known_answers(pattern, packet, expected):
    assert matches(pattern, packet) is expected


def test_ip_options_move_the_transport_header():
    pkt = ipv4(6, sport=4444, dport=22, options=b"\x01" * 12)
    assert matches("src port 4444 and dst port 22", pkt)
    assert matches("ip[20] == 1", pkt)                  # the options, not the ports
    assert matches("transp[0:2] == 4444", pkt)


def test_port_and_transport_tests_only_match_first_fragments():
    first = ipv4(6, dport=80, frag=0x2000)               # MF, offset 0: has the ports
    later = ipv4(6, dport=80, frag=0x2003)               # offset 24 bytes: data only
    assert matches("dst port 80", first) and not matches("dst port 80", later)
    assert not matches("port != 81", later) and not matches("syn", later)
    assert not matches("tcp win 8192", later) and not matches("tcp[13] & 2 != 0", later)
    assert not matches("transp[0:2] == 1234", later)
    assert not matches("icmp type echo", ipv4(1, frag=0x0001))
    assert matches("ip frag and tcp", later)              # IP tests still see it


def test_packets_too_short_for_a_field_never_match_it():
    short = ipv4(6, sport=1234, dport=80, cut=22)        # 2 bytes of TCP: sport only
    assert matches("src port 1234", short)
    assert not matches("dst port 80", short) and not matches("dst port != 80", short)
    assert not matches("port != 81", short)              # needs both ports
    assert not matches("syn", short) and not matches("tcp win > 0", short)
    assert matches("not dst port 80", short)             # 'not' of a test that fails
    tiny = TCP_SYN[:10]
    assert matches("tcp", tiny) and not matches("src host != 1.2.3.4", tiny)
    assert not matches("host != 1.2.3.4", tiny) and matches("not host 1.2.3.4", tiny)
    assert not matches("ip ttl != 0", TCP_SYN[:8]) and matches("ip ttl != 0", TCP_SYN[:9])
    assert not matches("tcp", b"") and matches("not tcp", b"") and matches("true", b"")


def test_header_after_a_link_layer_header():
    assert matches("udp port 53 and src net 192.168.0.0/16", UDP_DNS, nh_offset=14)
    assert not matches("ip[0] == 0xee", UDP_DNS, nh_offset=14)


def test_packets_without_trustworthy_ip_bytes_hold_no_field():
    pool = PacketPool(4, slot_size=256, headroom=64)
    tree = parse_pattern("ip vers 4")
    batch = pool.from_bytes([TCP_SYN, TCP_SYN, TCP_SYN])
    a, b, c = (int(s) for s in batch.idx)
    pool.nh[a] = pool.off[a]
    pool.nh[b] = pool.off[b] - 1                          # before the packet
    pool.nh[c] = pool.off[c]
    pool.length[c] = 250                                  # runs past the slot
    expected = [0, 1, 1]
    assert CompiledRules([tree]).first_match(pool, batch.idx).tolist() == expected
    assert DecisionProgram([tree], kernel_reference).first_match(pool, batch.idx).tolist() == expected
    assert DecisionProgram([tree], kernel).first_match(pool, batch.idx).tolist() == expected


# -- every evaluator agrees with the reference on random patterns and packets -------

_ADDRS = ["10.0.0.1", "10.0.0.2", "192.168.1.1", "8.8.8.8"]
_NETS = ["10.0.0.0/24", "10.0.0.0/8", "192.168.0.0/16", "0.0.0.0/0", "10.0.0.0 mask 255.255.255.0"]
_PORTS = ["22", "53", "80", "1023", "1024", "www", "ssh", "domain"]
_REL = ["", "== ", "!= ", "< ", "> ", "<= ", ">= "]
_SD = ["", "src ", "dst ", "src or dst ", "src and dst "]
_FLAGS = ["syn", "ack", "fin", "rst", "psh", "urg"]


@st.composite
def _field_bytes(draw):
    base = draw(st.sampled_from(["ip", "transp", "tcp", "udp", "icmp"]))
    pos = draw(st.integers(0, 24))
    size = draw(st.integers(1, 4))
    bits = 8 * size
    text = f"{base}[{pos}:{size}]" if size > 1 or draw(st.booleans()) else f"{base}[{pos}]"
    value = draw(st.one_of(st.integers(0, 3), st.integers(0, (1 << bits) - 1)))
    if draw(st.booleans()):
        mask = draw(st.integers(1, (1 << bits) - 1))
        op = draw(st.sampled_from(_REL))
        if op in ("", "== ", "!= "):
            value &= mask
        return f"{text} & {mask:#x} {op}{value}"
    return f"{text} {draw(st.sampled_from(_REL))}{value}"


def _choice(*options):
    return st.sampled_from(list(options))


_primitive = st.one_of(
    _choice("tcp", "udp", "icmp", "ip proto gre", "ip proto 6", "ip proto != udp",
            "ip proto > 16", "ip proto tcpudp"),
    st.builds("{}host {}{}".format, st.sampled_from(_SD), _choice("", "!= "), st.sampled_from(_ADDRS)),
    st.builds("{}net {}".format, st.sampled_from(_SD), st.sampled_from(_NETS)),
    st.builds("{}{}".format, _choice("", "src ", "dst "), st.sampled_from(_NETS[:3] + _ADDRS)),
    st.builds("{}{}port {}{}".format, st.sampled_from(_SD), _choice("", "tcp ", "udp "),
              st.sampled_from(_REL), st.sampled_from(_PORTS)),
    st.builds("src port {} or {}".format, st.sampled_from(_PORTS), st.sampled_from(_PORTS)),
    st.builds("dst host {} or {}".format, st.sampled_from(_ADDRS), st.sampled_from(_ADDRS)),
    st.builds("icmp type {}{}".format, st.sampled_from(_REL),
              _choice("echo", "echo-reply", "unreachable", "3", "8", "11")),
    st.builds("tcp opt {}".format, st.sampled_from(_FLAGS)),
    st.sampled_from(_FLAGS),
    st.builds("tcp win {}{}".format, st.sampled_from(_REL), _choice("0", "8192", "65535")),
    st.builds("ip {} {}{}".format, _choice("ttl", "tos", "id", "len"), st.sampled_from(_REL),
              _choice("0", "1", "5", "40", "64", "255")),
    st.builds("ip {} {}{}".format, _choice("vers", "hl"), st.sampled_from(_REL),
              _choice("0", "4", "5", "6", "15")),
    st.builds("ip dscp {}{}".format, st.sampled_from(_REL), _choice("0", "46", "63")),
    st.builds("ip ttl > {} or < {}".format, _choice("5", "60"), _choice("2", "64")),
    _choice("ip frag", "ip unfrag", "frag", "unfrag", "ip ect", "ip ce", "true", "false",
            "tcp and www", "tcp ttl 64", "udp frag", "tcp[13] & 2 != 0"),
    _field_bytes(),
)


def _combine(children):
    return st.one_of(
        st.builds("{} and {}".format, children, children),
        st.builds("{} && {}".format, children, children),
        st.builds("{} or {}".format, children, children),
        st.builds("({}) || ({})".format, children, children),
        st.builds("({}) ({})".format, children, children),
        st.builds("not ({})".format, children),
        st.builds("! {}".format, children),
        st.builds("({}) ? ({}) : ({})".format, children, children, children),
    )


_pattern = st.one_of(st.just("-"), st.recursive(_primitive, _combine, max_leaves=5))


@st.composite
def _packet(draw):
    """(bytes before the IP header, IP packet bytes) of many shapes."""
    kind = draw(st.sampled_from([6, 6, 17, 17, 1, 47, 0]))
    if kind == 0:
        return b"", draw(st.binary(max_size=60))
    ports = st.sampled_from([22, 53, 80, 1023, 1024, 4444, 65535])
    pkt = ipv4(kind,
               src=draw(st.sampled_from(_ADDRS)), dst=draw(st.sampled_from(_ADDRS)),
               ttl=draw(st.sampled_from([0, 1, 5, 64, 255])),
               tos=draw(st.sampled_from([0, 1, 3, 0xB8, 0xFF])),
               ident=draw(st.sampled_from([0, 1, 40, 0xFFFF])),
               frag=draw(st.sampled_from([0, 0, 0x4000, 0x2000, 0x2003, 0x0001])),
               options=draw(st.sampled_from([b"", b"", b"\x01" * 4, b"\x01" * 40])),
               sport=draw(ports), dport=draw(ports),
               flags=draw(st.integers(0, 255)), win=draw(st.sampled_from([0, 8192, 65535])),
               icmp_type=draw(st.sampled_from([0, 3, 8, 11])),
               payload=draw(st.binary(max_size=8)))
    if draw(st.integers(0, 3)) == 0:                        # truncated
        pkt = pkt[:draw(st.integers(0, len(pkt)))]
    if draw(st.integers(0, 5)) == 0:                        # a stray header byte
        pos = draw(st.integers(0, max(0, len(pkt) - 1)))
        if pkt:
            pkt = pkt[:pos] + bytes([draw(st.integers(0, 255))]) + pkt[pos + 1:]
    return draw(st.sampled_from([b"", b"\xaa" * 14])), pkt


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(patterns=st.lists(_pattern, min_size=1, max_size=5),
       packets=st.lists(_packet(), min_size=1, max_size=24))
def test_compiled_matchers_agree_with_the_reference(patterns, packets):
    trees = [parse_pattern(p) for p in patterns]
    pool = PacketPool(32, slot_size=256, headroom=64)
    batch = pool.from_bytes([link + ip for link, ip in packets])
    pool.nh[batch.idx] = pool.off[batch.idx] + np.array([len(link) for link, _ in packets])
    want = []
    for slot, (_, ip) in zip(batch.idx, packets):
        assert ip_bytes(pool, int(slot)) == ip
        r = first_match(trees, ip)
        want.append(len(trees) if r is None else r)
    assert CompiledRules(trees).first_match(pool, batch.idx).tolist() == want
    assert DecisionProgram(trees, kernel_reference).first_match(pool, batch.idx).tolist() == want
    assert DecisionProgram(trees, kernel).first_match(pool, batch.idx).tolist() == want


def test_the_kernel_handles_a_slot_listed_twice_and_empty_batches():
    trees = [parse_pattern("tcp"), parse_pattern("udp")]
    pool = PacketPool(8)
    batch = pool.from_bytes([UDP_DNS, TCP_SYN])
    pool.nh[batch.idx] = pool.off[batch.idx]
    idx = np.array([batch.idx[0], batch.idx[1], batch.idx[0]], dtype=np.uint32)
    for m in (CompiledRules(trees), DecisionProgram(trees, kernel_reference),
              DecisionProgram(trees, kernel)):
        assert m.first_match(pool, idx).tolist() == [1, 0, 1]
        assert m.first_match(pool, idx[:0]).tolist() == []


# -- the element in graphs -----------------------------------------------------------

class _Frames(Element):
    """_IPFilterFrames([NH]) -- test source pushing the frames a test hands it,
    with the IP header NH bytes into each"""
    CLASS_NAME = "_IPFilterFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.nh = int(args.positional("NH", default="0"))
        args.finish()

    def send(self, frames):
        batch = self.router.pool.from_bytes(frames)
        self.router.pool.nh[batch.idx] = self.router.pool.off[batch.idx] + self.nh
        self.emit(0, batch)


class _Sink(Element):
    """_IPFilterSink -- test sink keeping the bytes of every packet it receives"""
    CLASS_NAME = "_IPFilterSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received = []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        batch.kill()


register(_Frames)
register(_Sink)


def _filter(make_router, rules, frames, n_outputs=1, nh=0):
    outs = "".join(f"f[{i}] -> o{i} :: _IPFilterSink;" for i in range(n_outputs))
    r = make_router(f"src :: _IPFilterFrames({nh}) -> f :: IPFilter({', '.join(rules)}); {outs}")
    r.initialize()
    r.element("src").send(frames)
    return r, [r.element(f"o{i}").received for i in range(n_outputs)]


def test_allow_and_deny_with_one_output(make_router):
    r, outs = _filter(make_router, ["deny src net 192.168.0.0/16", "allow udp or tcp"],
                      [TCP_SYN, UDP_DNS, PING, TCP_SYNACK])
    assert outs == [[TCP_SYN, TCP_SYNACK]]
    assert r.element("f").read("drops") == "2"              # UDP_DNS denied, PING unmatched
    assert r.pool.n_used == 0


def test_numbered_actions_send_to_their_outputs(make_router):
    r, outs = _filter(make_router, ["2 icmp", "1 udp", "drop syn ack", "allow tcp"],
                      [PING, TCP_SYN, UDP_DNS, TCP_SYNACK, GRE, PONG], n_outputs=3)
    assert outs == [[TCP_SYN], [UDP_DNS], [PING, PONG]]
    assert r.element("f").read("drops") == "2"
    assert r.pool.n_used == 0


def test_an_action_alone_or_with_all_matches_everything(make_router):
    _, outs = _filter(make_router, ["deny tcp", "allow"], [TCP_SYN, GRE, b""])
    assert outs == [[GRE, b""]]
    _, outs = _filter(make_router, ["1 udp", "0 all"], [UDP_DNS, PING], n_outputs=2)
    assert outs == [[PING], [UDP_DNS]]


def test_one_verdict_for_a_whole_batch_keeps_its_order(make_router):
    frames = [ipv4(6, ident=i) for i in range(300)]
    r, outs = _filter(make_router, ["allow tcp"], frames)
    assert outs == [frames]
    r, outs = _filter(make_router, ["deny tcp"], frames)
    assert r.element("f").read("drops") == "300" and r.pool.n_used == 0


def test_ip_header_after_an_ethernet_header(make_router):
    eth = b"\x02" * 12 + b"\x08\x00"
    _, outs = _filter(make_router, ["allow dst host 8.8.8.8 and udp dst port 53"],
                      [eth + UDP_DNS, eth + TCP_SYN], nh=14)
    assert outs == [[eth + UDP_DNS]]


def test_with_mark_ip_header_in_the_graph(make_router):
    eth = b"\x02" * 12 + b"\x08\x00"
    r = make_router("src :: _IPFilterFrames -> MarkIPHeader(14) -> f :: IPFilter(allow icmp type echo)"
                    " -> o :: _IPFilterSink")
    r.initialize()
    r.element("src").send([eth + PING, eth + PONG])
    assert r.element("o").received == [eth + PING]


def test_clicks_firewall_example(make_router):
    rules = [  # Click's IPFilter manual example, INTERNALNET = 10.0.0.0/8, BASTION = 192.0.2.1
        "deny src 10.0.0.0/8",
        "allow src 192.0.2.1 && dst 10.0.0.0/8 && tcp && src port www && dst port > 1023 && ack",
        "allow dst 10.0.0.0/8 && tcp && src port 22 && ack",
        "allow dst 10.0.0.0/8 && tcp && dst port 22",
        "allow src 192.0.2.1 && dst 10.0.0.25 && tcp && src port > 1023 && dst port 25",
        "allow src 192.0.2.1 && dst 10.0.0.53 && udp && src port 53 && dst port 53",
        "deny all",
    ]
    spoofed = ipv4(6, src="10.1.1.1", dst="10.0.0.5", sport=80, dport=2000, flags=0x10)
    web_reply = ipv4(6, src="192.0.2.1", dst="10.0.0.5", sport=80, dport=2000, flags=0x10)
    web_syn = ipv4(6, src="192.0.2.1", dst="10.0.0.5", sport=80, dport=2000, flags=0x02)
    ssh_in = ipv4(6, src="203.0.113.9", dst="10.0.0.7", sport=40000, dport=22, flags=0x02)
    smtp = ipv4(6, src="192.0.2.1", dst="10.0.0.25", sport=3000, dport=25)
    smtp_other = ipv4(6, src="192.0.2.2", dst="10.0.0.25", sport=3000, dport=25)
    dns = ipv4(17, src="192.0.2.1", dst="10.0.0.53", sport=53, dport=53)
    r, outs = _filter(make_router, rules,
                      [spoofed, web_reply, web_syn, ssh_in, smtp, smtp_other, dns])
    assert outs == [[web_reply, ssh_in, smtp, dns]]
    assert r.element("f").read("drops") == "3"


def test_program_handler_lists_each_rule(make_router):
    r, _ = _filter(make_router, ["deny src host 10.0.0.1", "allow ip ttl > 5", "1 -"], [], 2)
    assert r.element("f").read("program") == (
        "0: drop if src host == 10.0.0.1\n"
        "1: allow if ip ttl > 5\n"
        "2: 1 if true")


def test_outputs_up_to_the_highest_action_must_be_connected(make_router):
    with pytest.raises(GraphError, match="output 1 of 'f'.*not connected"):
        make_router("src :: _IPFilterFrames -> f :: IPFilter(1 tcp, allow udp) -> o :: _IPFilterSink")
    # More outputs than the actions name are fine, as in Click.
    make_router("src :: _IPFilterFrames -> f :: IPFilter(allow tcp) -> o :: _IPFilterSink;"
                "f[1] -> p :: _IPFilterSink")
    # Only drops: no output at all is needed.
    make_router("src :: _IPFilterFrames -> f :: IPFilter(drop tcp)")


@pytest.mark.parametrize("rule, message", [
    ("allow src hots 1.2.3.4", "pattern 'allow src hots 1.2.3.4': unknown word 'hots' — "
                               "did you mean 'host'?"),
    ("alow tcp", "pattern 'alow tcp': unknown action 'alow' — did you mean 'allow'?"),
    ("tcp", "pattern 'tcp': unknown action 'tcp'; a rule starts with allow, deny, drop"),
    ("allow tcp port", "pattern 'allow tcp port': 'tcp port' needs a port number or name after it"),
])
def test_bad_rules_are_graph_errors_quoting_the_rule(make_router, rule, message):
    with pytest.raises(GraphError) as info:
        make_router(f"src :: _IPFilterFrames -> f :: IPFilter(allow udp, {rule}) -> o :: _IPFilterSink")
    text = str(info.value)
    assert text.startswith("test.click:1:")
    assert f"f :: IPFilter: {message}" in text


def test_empty_rule_is_refused(make_router):
    with pytest.raises(GraphError, match="empty rule"):
        make_router("src :: _IPFilterFrames -> f :: IPFilter(allow udp, ) -> o :: _IPFilterSink")


def test_reference_classification_matches_the_element(make_router):
    r, _ = _filter(make_router, ["1 udp", "allow tcp"], [], 2)
    f = r.element("f")
    pool = r.pool
    batch = pool.from_bytes([UDP_DNS, TCP_SYN, PING])
    pool.nh[batch.idx] = pool.off[batch.idx]
    assert f.classify_reference(batch) == [0, 1, None]
    batch.kill()


def test_manual_page_opens_with_the_synopsis():
    assert IPFilter.manual().startswith("IPFilter(ACTION_1 PATTERN_1, ..., ACTION_N PATTERN_N)")


def test_without_the_kernel_the_numpy_path_filters_the_same(make_router, monkeypatch):
    from vforward.elements.ip import ipfilter_compile
    monkeypatch.setattr(ipfilter_compile, "_kernel", None)
    r, outs = _filter(make_router, ["2 icmp", "1 udp", "drop syn ack", "allow tcp"],
                      [PING, TCP_SYN, UDP_DNS, TCP_SYNACK, GRE, PONG], n_outputs=3)
    assert isinstance(r.element("f")._compiled, CompiledRules)
    assert outs == [[TCP_SYN], [UDP_DNS], [PING, PONG]]
    assert r.pool.n_used == 0
