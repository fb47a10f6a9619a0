"""IPClassifier: Click's examples through real graphs, one output per pattern,
the pattern handlers, and bad patterns refused with the bad word named."""
import dpkt
import pytest

from vforward.element import PUSH_ONLY, Element, HandlerError, register
from vforward.elements.ip.ipclassifier import IPClassifier
from vforward.graph import GraphError


def _addr(text):
    return bytes(int(x) for x in text.split("."))


def tcp(src, dst, sport=1234, dport=80, flags=0x02):
    return bytes(dpkt.ip.IP(src=_addr(src), dst=_addr(dst), p=6,
                            data=dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags)))


def udp(src, dst, sport=5000, dport=53):
    return bytes(dpkt.ip.IP(src=_addr(src), dst=_addr(dst), p=17,
                            data=dpkt.udp.UDP(sport=sport, dport=dport)))


def icmp(src, dst, type_=8):
    return bytes(dpkt.ip.IP(src=_addr(src), dst=_addr(dst), p=1,
                            data=dpkt.icmp.ICMP(type=type_, data=dpkt.icmp.ICMP.Echo(id=1))))


class _Frames(Element):
    """_IPClassifierFrames([NH]) -- test source pushing the frames a test hands
    it, with the IP header NH bytes into each"""
    CLASS_NAME = "_IPClassifierFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.nh = int(args.positional("NH", default="0"))
        args.finish()

    def send(self, frames):
        pool = self.router.pool
        batch = pool.from_bytes(frames)
        pool.nh[batch.idx] = pool.off[batch.idx] + self.nh
        self.emit(0, batch)


class _Sink(Element):
    """_IPClassifierSink -- test sink keeping the bytes of every packet it receives"""
    CLASS_NAME = "_IPClassifierSink"
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


def _classify(make_router, patterns, frames, nh=0):
    outs = "".join(f"c[{i}] -> o{i} :: _IPClassifierSink;" for i in range(len(patterns)))
    r = make_router(f"src :: _IPClassifierFrames({nh}) -> c :: IPClassifier({', '.join(patterns)});"
                    f" {outs}")
    r.initialize()
    r.element("src").send(frames)
    return r, [r.element(f"o{i}").received for i in range(len(patterns))]


def test_clicks_first_example(make_router):
    syn = tcp("10.0.0.5", "1.1.1.1", flags=0x02)
    fin_ack = tcp("1.1.1.1", "10.0.0.5", flags=0x11)
    other_tcp = tcp("10.0.0.9", "1.1.1.1", flags=0x10)
    fin_only = tcp("10.0.0.9", "1.1.1.1", flags=0x01)
    outside_syn = tcp("11.0.0.5", "1.1.1.1", flags=0x02)
    local_udp = udp("10.0.0.5", "1.1.1.1")
    r, outs = _classify(make_router, ["10.0.0.0/24 and syn", "10.0.0.0/24 and fin ack",
                                      "10.0.0.0/24 and tcp", "-"],
                        [syn, fin_ack, other_tcp, fin_only, outside_syn, local_udp])
    assert outs == [[syn], [fin_ack], [other_tcp, fin_only], [outside_syn, local_udp]]
    assert r.pool.n_used == 0


def test_clicks_second_example_drops_what_matches_nothing(make_router):
    p8000 = tcp("1.1.1.1", "2.2.2.2", dport=8000)
    p8080 = tcp("1.1.1.1", "2.2.2.2", dport=8080)
    p2000 = tcp("1.1.1.1", "2.2.2.2", dport=2000)
    p22 = tcp("1.1.1.1", "2.2.2.2", dport=22)
    u8000 = udp("1.1.1.1", "2.2.2.2", dport=8000)
    r, outs = _classify(make_router, ["dst tcp port 8000 or 8080", "dst tcp port > 1023", "tcp"],
                        [p8000, p8080, p2000, p22, u8000])
    assert outs == [[p8000, p8080], [p2000], [p22]]
    assert r.element("c").read("drops") == "1"
    assert r.pool.n_used == 0


def test_icmp_types_and_hosts(make_router):
    ping = icmp("10.0.0.1", "10.0.0.2", 8)
    pong = icmp("10.0.0.2", "10.0.0.1", 0)
    unreach = icmp("10.0.0.3", "10.0.0.1", 3)
    _, outs = _classify(make_router, ["icmp type echo", "echo-reply and src host 10.0.0.2",
                                      "icmp"], [unreach, pong, ping])
    assert outs == [[ping], [pong], [unreach]]


def test_patterns_after_a_link_layer_header(make_router):
    eth = b"\x02" * 12 + b"\x08\x00"
    dns = udp("10.0.0.1", "8.8.8.8")
    web = tcp("10.0.0.1", "8.8.8.8", dport=443)
    _, outs = _classify(make_router, ["udp dst port domain", "tcp dst port https"],
                        [eth + web, eth + dns], nh=14)
    assert outs == [[eth + dns], [eth + web]]


def test_a_big_mixed_batch_keeps_per_output_order(make_router):
    frames = [tcp("10.0.0.1", "10.0.0.2", sport=1000 + i) if i % 3 else
              udp("10.0.0.1", "10.0.0.2", sport=1000 + i) for i in range(256)]
    _, outs = _classify(make_router, ["udp", "src port > 1100", "-"], frames)
    assert outs[0] == [f for i, f in enumerate(frames) if i % 3 == 0]
    assert outs[1] == [f for i, f in enumerate(frames) if i % 3 and 1000 + i > 1100]
    assert outs[2] == [f for i, f in enumerate(frames) if i % 3 and 1000 + i <= 1100]


def test_one_output_per_pattern_is_required(make_router):
    with pytest.raises(GraphError, match="output 1 of 'c'.*not connected"):
        make_router("src :: _IPClassifierFrames -> c :: IPClassifier(tcp, udp) -> o :: _IPClassifierSink")
    with pytest.raises(GraphError, match="'c' has no output 1"):
        make_router("src :: _IPClassifierFrames -> c :: IPClassifier(tcp) -> o :: _IPClassifierSink;"
                    "c[1] -> p :: _IPClassifierSink")


def test_program_and_pattern_handlers(make_router):
    r, _ = _classify(make_router, ["src host 10.0.0.1", "ip ttl < 5"], [])
    c = r.element("c")
    assert c.read("program") == "0: src host == 10.0.0.1\n1: ip ttl < 5"
    assert c.read("pattern0") == "src host 10.0.0.1"
    assert "pattern1" in c.read("handlers")


def test_writing_a_pattern_replaces_it(make_router):
    a, b = tcp("10.0.0.1", "10.0.0.2"), udp("10.0.0.1", "10.0.0.2")
    r, outs = _classify(make_router, ["tcp", "-"], [a, b])
    assert outs == [[a], [b]]
    c = r.element("c")
    c.write("pattern0", "udp")
    assert c.read("pattern0") == "udp"
    r.element("src").send([a, b])
    assert outs == [[a, b], [b, a]]
    with pytest.raises(HandlerError, match="unknown word 'udpp' — did you mean 'udp'"):
        c.write("pattern0", "udpp")
    assert c.read("pattern0") == "udp"                  # a refused pattern changes nothing


@pytest.mark.parametrize("pattern, message", [
    ("src hots 1.2.3.4", "pattern 'src hots 1.2.3.4': unknown word 'hots' — did you mean 'host'?"),
    ("tcp port > ", "'>' needs a value after it"),
    ("icmp type echoo", "unknown word 'echoo' — did you mean 'echo'?"),
    ("", "empty pattern"),
])
def test_bad_patterns_are_graph_errors_naming_the_word(make_router, pattern, message):
    with pytest.raises(GraphError) as info:
        make_router(f"src :: _IPClassifierFrames -> c :: IPClassifier(tcp, {pattern});"
                    "c[0] -> o :: _IPClassifierSink; c[1] -> p :: _IPClassifierSink")
    assert "c :: IPClassifier: " in str(info.value) and message in str(info.value)


def test_quoted_patterns_are_unquoted(make_router):
    a = tcp("10.0.0.1", "10.0.0.2")
    _, outs = _classify(make_router, ['"tcp and dst port 80"'], [a])
    assert outs == [[a]]


def test_manual_page_describes_the_primitives():
    page = IPClassifier.manual()
    assert page.startswith("IPClassifier(PATTERN_1, ..., PATTERN_N)")
    for word in ("ip proto", "host", "net", "port", "icmp type", "tcp opt", "ip frag",
                 "transp[POS:LEN]", "patternN"):
        assert word in page
