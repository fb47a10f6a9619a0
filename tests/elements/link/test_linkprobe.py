"""LinkProbe: two probes joined by LinkEmulators in one graph measure the
emulated link (round trip, egress loss, train dispersion rate), pass every
other frame through untouched and answer a peer's requests in place."""
import pytest

from vforward.element import Element, HandlerError, PUSH_ONLY
from vforward.elements.link.linkprobe import ETHERTYPE, HEADER, MAGIC, PROBE_LEN, REPLY, REQUEST
from vforward.graph import GraphError


class ProbeTestSink(Element):
    """ProbeTestSink -- test sink: keeps the bytes of every frame, then drops it"""
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.frames = []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        batch.kill()


def two_ends(ab, ba="20ms", probe="10ms, TRAIN_INTERVAL 200ms, WINDOW 1000", a_extra=""):
    """Probe a and probe b joined by LinkEmulator ab (a -> b) and ba (b -> a)."""
    return f"""
        a :: LinkProbe({probe}{a_extra});  b :: LinkProbe({probe});
        Idle -> [1]a;  Idle -> [1]b;
        a[0] -> Discard;  b[0] -> Discard;
        a[1] -> ab :: LinkEmulator({ab}) -> [0]b;
        b[1] -> ba :: LinkEmulator({ba}) -> [0]a;
    """


def run(make_router, text, duration, at=()):
    r = make_router(text)
    for when, name, handler, value in at:
        r.loop.call_later(when, r.element(name).write, handler, value)
    assert r.run(duration=duration) == 0
    assert r.pool.n_used == 0, "probes kept packets after cleanup"
    return r.element("a"), r.element("b")


def value(element, handler):
    text = element.read(handler)
    assert text != "", f"{element.name}.{handler} is still unknown"
    return float(text)


def test_rtt_is_the_round_trip_through_the_emulated_delays(make_router):
    a, b = run(make_router, two_ends("20ms"), 1.5)
    assert value(a, "replies") > 50 and value(b, "replies") > 50
    for end in (a, b):
        assert 32 <= value(end, "rtt_ms") <= 48            # 40 ms +- 20%
        assert value(end, "rtt_last_ms") >= 38                # never less than the delays
        assert value(end, "latency_ms") == pytest.approx(value(end, "rtt_ms") / 2, rel=1e-3)
        assert value(end, "loss") == 0 and value(end, "rx_loss") == 0


def test_loss_is_the_egress_share_of_missing_request_numbers(make_router):
    a, b = run(make_router, two_ends("20ms, LOSS 0.2, SEED 7"), 2.5)
    assert value(a, "replies") > 100
    assert 0.10 <= value(a, "loss") <= 0.30               # a -> b loses 20%
    assert 0.10 <= value(b, "rx_loss") <= 0.30            # b sees the same gaps
    assert value(b, "loss") == 0 and value(a, "rx_loss") == 0


def test_train_dispersion_estimates_the_link_rate(make_router):
    a, b = run(make_router, two_ends("20ms, RATE 10Mbps"), 1.5)
    # Promised: within a factor of 2 of RATE (typically within 20%).
    assert 5 <= value(a, "avail_bw_mbps") <= 20
    assert a.read("avail_bw_bound") == "false"
    assert 5 <= value(b, "rx_bw_mbps") <= 20              # measured at b, reported to a
    # The way back has no rate: its train arrives at once, a lower bound only.
    assert b.read("avail_bw_bound") == "true"
    assert value(b, "avail_bw_mbps") >= 100


def test_loss_reads_one_once_the_link_stops_answering(make_router):
    a, b = run(make_router, two_ends("5ms", "5ms"), 1.0, at=[(0.5, "ab", "up", "false")])
    assert value(a, "loss") == 1.0
    assert value(a, "rtt_ms") > 0                         # the last known RTT stays


def test_inactive_probe_sends_nothing_but_still_answers(make_router):
    a, b = run(make_router, two_ends("5ms", "5ms", probe="10ms, TRAIN 0", a_extra=", ACTIVE false"),
               0.6)
    assert a.read("rtt_ms") == "" and value(a, "replies") == 0
    assert value(b, "replies") > 20                       # a answered b's requests
    assert value(a, "sent") == value(a, "received")       # one reply per request


def test_frames_pass_unchanged_and_requests_are_answered_in_place(make_router):
    r = make_router("""
        p :: LinkProbe(ACTIVE false);
        Idle -> [0]p;  Idle -> [1]p;
        p[0] -> to_router :: ProbeTestSink;  p[1] -> to_wire :: ProbeTestSink;
    """)
    r.initialize()
    p, to_router, to_wire = r.element("p"), r.element("to_router"), r.element("to_wire")
    eth = bytes(6) + bytes.fromhex("020000000001")
    ipv4 = eth + b"\x08\x00" + bytes(range(46))
    arp = eth + b"\x08\x06" + bytes(28)
    other = eth + ETHERTYPE.to_bytes(2, "big") + b"XXXX" + bytes(60)   # not our magic
    short = eth + ETHERTYPE.to_bytes(2, "big") + b"VFLP"               # too short to be ours
    request = eth + ETHERTYPE.to_bytes(2, "big") + HEADER.pack(
        MAGIC, 1, REQUEST, 0, 77, 0xABCD, 123456789, 0, 0, 0, 0, 0, 0)
    p.push(0, r.pool.from_bytes([ipv4, request, arp, other, short]))
    assert to_router.frames == [ipv4, arp, other, short]
    assert len(to_wire.frames) == 1
    reply = to_wire.frames[0]
    assert len(reply) == PROBE_LEN and reply[12:14] == ETHERTYPE.to_bytes(2, "big")
    f = HEADER.unpack_from(reply, 14)
    assert (f[2], f[4], f[5], f[6]) == (REPLY, 77, 0xABCD, 123456789)   # seq, sender, time echoed
    assert (f[9], f[10]) == (1, 77)                       # one request received, highest 77
    p.push(1, r.pool.from_bytes([ipv4, arp]))             # the router's frames go to the wire
    assert to_wire.frames[1:] == [ipv4, arp]
    assert p.read("received") == "1" and p.read("sent") == "1"
    assert r.pool.n_used == 0


def test_bad_arguments_and_handler_values_are_refused(make_router):
    with pytest.raises(GraphError, match="TRAIN"):
        make_router("p :: LinkProbe(TRAIN 1); Idle -> [0]p; Idle -> [1]p; p[0] -> Discard; "
                    "p[1] -> Discard;")
    with pytest.raises(GraphError, match="INTERVAL"):
        make_router("p :: LinkProbe(0s); Idle -> [0]p; Idle -> [1]p; p[0] -> Discard; "
                    "p[1] -> Discard;")
    r = make_router("p :: LinkProbe; Idle -> [0]p; Idle -> [1]p; p[0] -> Discard; "
                    "p[1] -> Discard;")
    p = r.element("p")
    p.write("interval", "250ms")
    assert p.read("interval") == "0.25"
    with pytest.raises(HandlerError):
        p.write("interval", "0")
    with pytest.raises(HandlerError):
        p.write("active", "maybe")
    p.write("active", "false")
    assert p.read("active") == "false"
