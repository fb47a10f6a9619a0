"""Classifier: Click's pattern language, compiled to batch-wide byte tests,
checked against the per-packet reference matcher."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.args import ArgumentError
from vforward.element import PUSH_ONLY, Element, register
from vforward.elements.standard.classifier import (CompiledPatterns, match_reference,
                                                   parse_pattern)
from vforward.graph import GraphError
from vforward.packet import PacketPool


class _Frames(Element):
    """_ClassifierFrames -- test source pushing the frames a test hands it"""
    CLASS_NAME = "_ClassifierFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))


class _Sink(Element):
    """_ClassifierSink -- test sink keeping the bytes of every packet it receives"""
    CLASS_NAME = "_ClassifierSink"
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


def _classify(make_router, patterns, frames):
    """Push frames through Classifier(patterns); returns (router, what each output received)."""
    outs = "".join(f"c[{i}] -> o{i} :: _ClassifierSink;" for i in range(len(patterns)))
    r = make_router(f"src :: _ClassifierFrames -> c :: Classifier({', '.join(patterns)}); {outs}")
    r.initialize()
    r.element("src").send(frames)
    return r, [r.element(f"o{i}").received for i in range(len(patterns))]


def _ether(ethertype, rest=b""):
    return b"\xaa" * 12 + ethertype + rest


ARP_REQ = _ether(b"\x08\x06", b"\x00\x01\x08\x00\x06\x04\x00\x01")
ARP_REP = _ether(b"\x08\x06", b"\x00\x01\x08\x00\x06\x04\x00\x02")
IPV4 = _ether(b"\x08\x00", b"\x45" + bytes(19))
IPV6 = _ether(b"\x86\xdd", b"\x60" + bytes(39))


def test_clicks_ethernet_example(make_router):
    r, outs = _classify(make_router, ["12/0806 20/0001", "12/0806 20/0002", "12/0800", "-"],
                        [IPV6, ARP_REP, IPV4, ARP_REQ, IPV4])
    assert outs == [[ARP_REQ], [ARP_REP], [IPV4, IPV4], [IPV6]]
    assert r.pool.n_used == 0


def test_frames_sent_one_at_a_time_go_where_a_batch_sends_them(make_router):
    frames = [IPV6, ARP_REP, IPV4, ARP_REQ, IPV4]
    r, outs = _classify(make_router, ["12/0806 20/0001", "12/0806 20/0002", "12/0800"], [])
    for f in frames:
        r.element("src").send([f])
    assert outs == [[ARP_REQ], [ARP_REP], [IPV4, IPV4]]
    assert r.element("c").read("drops") == "1"
    assert r.pool.n_used == 0


def test_packets_matching_no_pattern_are_dropped_and_counted(make_router):
    r, outs = _classify(make_router, ["12/0800"], [IPV4, IPV6, ARP_REQ])
    assert outs == [[IPV4]]
    assert r.element("c").read("drops") == "2"
    assert r.pool.n_used == 0


def test_a_batch_with_one_verdict_goes_whole_to_its_output_or_is_dropped_whole(make_router):
    r, outs = _classify(make_router, ["12/0800", "12/86dd"], [IPV4, IPV4, IPV4])
    assert outs == [[IPV4, IPV4, IPV4], []]
    r.element("src").send([ARP_REQ, ARP_REP, ARP_REQ])
    assert r.element("c").read("drops") == "3"
    assert r.pool.n_used == 0


def test_first_matching_pattern_wins(make_router):
    _, outs = _classify(make_router, ["-", "12/0800"], [IPV4])
    assert outs == [[IPV4], []]


def test_mask_checks_only_the_bits_set_in_it(make_router):
    _, outs = _classify(make_router, ["14/40%f0", "-"], [IPV4, IPV6])
    assert outs == [[IPV4], [IPV6]]


def test_question_marks_match_any_nibble(make_router):
    _, outs = _classify(make_router, ["12/08?? 14/?5", "-"], [IPV4, ARP_REQ, IPV6])
    assert outs == [[IPV4], [ARP_REQ, IPV6]]


def test_negated_clause_must_not_hold(make_router):
    _, outs = _classify(make_router, ["!12/0800 12/08??", "!12/0800", "-"], [IPV4, ARP_REQ, IPV6])
    assert outs == [[ARP_REQ], [IPV6], [IPV4]]


def test_a_clause_reading_past_the_end_does_not_hold_and_its_negation_does(make_router):
    short = b"\xaa" * 13                      # ends inside the EtherType
    _, outs = _classify(make_router, ["12/aa??", "12/aaaa", "!12/aaaa", "-"],
                        [short, b"\xaa" * 14])
    assert outs == [[short, b"\xaa" * 14], [], [], []]
    _, outs = _classify(make_router, ["12/aaaa", "!12/aaaa"], [short])
    assert outs == [[], [short]]


def test_offsets_past_the_slot_never_match(make_router):
    _, outs = _classify(make_router, ["5000/00", "!5000/00"], [IPV4])
    assert outs == [[], [IPV4]]


def test_program_handler_shows_compiled_clauses(make_router):
    r, _ = _classify(make_router, ["12/08?? !14/45%f0", "-"], [])
    assert r.element("c").read("program") == "0: 12/0800%ff00 !14/40%f0\n1: -"


def test_one_output_per_pattern_is_required(make_router):
    with pytest.raises(GraphError, match="output 1 of 'c'.*not connected"):
        make_router("InfiniteSource -> c :: Classifier(12/0800, -) -> Discard")
    with pytest.raises(GraphError, match="'c' has no output 1"):
        make_router("InfiniteSource -> c :: Classifier(12/0800) -> Discard; c[1] -> Discard")


@pytest.mark.parametrize("pattern, complaint", [
    ("12/0800%ff", "as many hex digits"),
    ("12:0800", "bad clause"),
    ("x/08", "bad clause"),
    ("12/08zz", "bad clause"),
    ("12/0800 !", "ends with '!'"),
])
def test_bad_patterns_are_graph_errors_naming_the_pattern(make_router, pattern, complaint):
    with pytest.raises(GraphError, match=f"pattern 1 .*{complaint}"):
        make_router(f"InfiniteSource -> c :: Classifier(-, {pattern}) -> Discard; c[1] -> Discard")


def test_an_odd_digit_count_reads_with_a_leading_zero():
    assert parse_pattern("9/6")[0].value == bytes([6])


def test_empty_pattern_is_refused():
    with pytest.raises(ArgumentError, match="write -"):
        parse_pattern("   ")


def test_a_whole_burst_of_infinite_source_packets_classified(make_router):
    r = make_router("InfiniteSource(LIMIT 1000, BURST 250) -> c :: Classifier(0/52 1/61, -);"
                    "c[0] -> a :: Counter -> Discard; c[1] -> b :: Counter -> Discard")
    r.run_until_idle()
    assert (r.element("a").count, r.element("b").count) == (1000, 0)


# -- the compiled matcher agrees with the reference on random input -------------

_hex_value = st.lists(st.sampled_from("0123456789abcdef?"), min_size=1, max_size=4).map(
    lambda digits: "".join(digits) * 2)


@st.composite
def _clause(draw):
    value = draw(_hex_value)
    text = f"{draw(st.integers(0, 40))}/{value}"
    if draw(st.booleans()):
        text += "%" + "".join(draw(st.sampled_from("0137cf")) for _ in value)
    return ("!" if draw(st.booleans()) else "") + text


_pattern = st.one_of(st.just("-"), st.lists(_clause(), min_size=1, max_size=3).map(" ".join))
# Packets mostly from a small alphabet, so that random patterns often match.
_packet = st.lists(st.sampled_from([0x00, 0x0f, 0x30, 0x31, 0xff, 0xc7]), max_size=44).map(bytes)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(patterns=st.lists(_pattern, min_size=1, max_size=5),
       packets=st.lists(_packet, min_size=1, max_size=40),
       offsets=st.lists(st.integers(0, 128), min_size=40, max_size=40))
def test_compiled_patterns_agree_with_the_reference_matcher(patterns, packets, offsets):
    parsed = [parse_pattern(p) for p in patterns]
    pool = PacketPool(64, slot_size=256, headroom=128)
    batch = pool.from_bytes(packets)
    for slot, off, pkt in zip(batch.idx, offsets, packets):
        # Packets at varied offsets, some running to the slot's end; random bytes around them.
        off = min(off, pool.slot_size - len(pkt))
        pool.data[slot] = np.random.default_rng(off).integers(0, 256, pool.slot_size)
        pool.data[slot, off:off + len(pkt)] = list(pkt)
        pool.off[slot] = off
    fast = CompiledPatterns(parsed).ports(pool, batch.idx).tolist()
    slow = [match_reference(parsed, pkt) for pkt in packets]
    assert fast == [len(parsed) if s is None else s for s in slow]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.tuples(st.booleans(), st.integers(0, 40), st.binary(min_size=1, max_size=6),
                                   st.booleans()), min_size=0, max_size=3),
                min_size=1, max_size=4),
       st.lists(st.binary(min_size=0, max_size=48), min_size=1, max_size=30))
def test_decision_program_agrees_with_the_reference(raw_patterns, frames):
    """The compiled decision program (cext/ipfilter.pyx, BASE 2) and its Python
    twin both pick what the obvious per-packet matcher picks."""
    from vforward.cext import ipfilter, ipfilter_reference
    from vforward.elements.standard.classifier import (
        decision_program, match_reference, parse_pattern)
    from vforward.packet import PacketPool
    texts = []
    for clauses in raw_patterns:
        if not clauses:
            texts.append("-")
            continue
        parts = []
        for neg, off, val, masked in clauses:
            h = val.hex()
            parts.append(("!" if neg else "") + f"{off}/{h}" + (f"%{'f0' * len(val)}" if masked else ""))
        texts.append(" ".join(parts))
    patterns = [parse_pattern(t) for t in texts]
    pool = PacketPool(64)
    batch = pool.from_bytes(frames)
    prog, entry = decision_program(patterns)
    want = [len(patterns) if (m := match_reference(patterns, f)) is None else m for f in frames]
    for impl in (ipfilter, ipfilter_reference):
        out = np.empty(len(frames), dtype=np.intp)
        impl.Matcher(pool.data, pool.off, pool.length, pool.nh, prog, entry).first_match(batch.idx, out)
        assert out.tolist() == want, (impl.__name__, texts)
