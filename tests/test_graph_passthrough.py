"""The graph skips elements that are pass-throughs in their present state, and
stops skipping them the moment their state changes; their counts stay right."""
import numpy as np

from vforward.elements.io.pcapfile import PcapReader


def reaches(element, port=0):
    """The element that element's push output `port` calls first."""
    push = element._out_push[port]
    return getattr(push, "target", None) or push.__self__


def frames(n, size=60):
    return [bytes([i]) * size for i in range(n)]


def test_a_chain_of_pass_throughs_is_skipped_whole(make_router):
    r = make_router("Idle -> p :: Paint(1) -> Null -> cap :: Capture -> FlowRoutes -> Null "
                    "-> d :: Discard;")
    assert reaches(r.element("p")) is r.element("d")
    r.element("p").push(0, r.pool.from_bytes(frames(3)))
    assert r.element("d").read("count") == "3"
    assert r.pool.n_used == 0


def test_a_capture_is_skipped_until_started_and_records_every_packet_while_started(make_router,
                                                                                 tmp_path):
    r = make_router("Idle -> p :: Paint(1) -> cap :: Capture -> d :: Discard;")
    r.initialize()
    p, cap, d = r.element("p"), r.element("cap"), r.element("d")
    p.push(0, r.pool.from_bytes(frames(2)))
    path = tmp_path / "c.pcap"
    cap.write("start", str(path))
    assert reaches(p) is cap
    p.push(0, r.pool.from_bytes(frames(3, 70)))
    cap.write("stop")
    assert reaches(p) is d
    p.push(0, r.pool.from_bytes(frames(4)))
    assert [len(data) for _, data, _ in PcapReader(str(path)).records()] == [70, 70, 70]
    assert d.read("count") == "9"


def test_an_unconditioned_link_emulator_is_skipped_and_counts_what_crosses_it(make_router):
    r = make_router("Idle -> p :: Paint(1) -> e :: LinkEmulator -> d :: Discard;")
    r.initialize()
    p, e, d = r.element("p"), r.element("e"), r.element("d")
    assert reaches(p) is d
    p.push(0, r.pool.from_bytes(frames(5)))
    assert (e.read("count"), e.read("sent"), d.read("count")) == ("5", "5", "5")
    for handler, value in (("loss", "0.5"), ("delay", "1ms"), ("jitter", "1ms"),
                           ("rate", "1Mbps"), ("up", "false")):
        e.write(handler, value)
        assert reaches(p) is e, f"still skipped after {handler} {value}"
        e.write(handler, "true" if handler == "up" else "0")
        assert reaches(p) is d, f"not skipped after {handler} went back"


def test_a_link_emulator_holding_packets_is_not_skipped_until_they_have_left(make_router):
    # The delay drops to 0 while packets are in flight: new packets must stay
    # behind them (in order) until the last one has left; then the element is
    # skipped again and its counts cover every packet.
    from tests.elements.link.test_link_elements import run_timed
    r, src, sink = run_timed(make_router, "e :: LinkEmulator(DELAY 30ms)", 0.4,
                             at=[(0.15, "e", "delay", "0")])
    seq, sent, lat = sink.latencies(src)
    e = r.element("e")
    assert (np.diff(seq) > 0).all()
    assert len(seq) > 100
    assert reaches(src) is sink
    assert e.count == e.sent == len(seq)


def test_an_empty_flow_table_is_skipped_and_one_with_a_flow_is_not(make_router):
    r = make_router("Idle -> p :: Paint(1) -> f :: FlowRoutes -> d :: Discard; f[1] -> Discard;")
    p, f, d = r.element("p"), r.element("f"), r.element("d")
    assert reaches(p) is d
    f.write("add", "video 10.0.0.2 0 udp")
    assert reaches(p) is f
    f.write("remove", "video")
    assert reaches(p) is d


def test_a_skipped_counter_counts_packets_and_bytes_and_one_with_count_call_is_not_skipped(
        make_router):
    r = make_router("Idle -> p :: Paint(1) -> c :: Counter -> e :: LinkEmulator -> d :: Discard;"
                    "Idle -> q :: Paint(2) -> k :: Counter(COUNT_CALL \"2 e.up false\") -> Discard;")
    r.initialize()
    p, c, d = r.element("p"), r.element("c"), r.element("d")
    assert reaches(p) is d
    p.push(0, r.pool.from_bytes(frames(3, 100)))
    assert (c.read("count"), c.read("byte_count")) == ("3", "300")
    assert r.element("e").read("count") == "3"
    assert reaches(r.element("q")) is r.element("k")
    r.element("q").push(0, r.pool.from_bytes(frames(2)))
    assert reaches(p) is r.element("e")         # the COUNT_CALL took the link down


def test_a_link_probe_passes_the_routers_frames_past_itself_and_still_sends_its_probes(
        make_router):
    r = make_router("Idle -> [1]probe :: LinkProbe(10ms); Idle -> [0]probe;"
                    "probe[0] -> Discard; Idle -> p :: Paint(1) -> [1]probe;"
                    "probe[1] -> d :: Discard;")
    assert reaches(r.element("p")) is r.element("d")
    assert reaches(r.element("probe"), 1) is r.element("d")


def test_a_pull_path_through_a_capture_still_calls_it(make_router):
    r = make_router("Idle -> q :: Queue -> cap :: Capture -> u :: Unqueue -> d :: Discard;")
    assert r.element("u")._in_pull[0] == r.element("cap").pull
