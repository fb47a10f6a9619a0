"""RatedSource: packets at a rate on loop timers (push) or on demand (pull)."""
import time

import pytest

from vforward.element import PUSH_ONLY, Element, HandlerError, register
from vforward.graph import GraphError


class _Sink(Element):
    """_RatedSink -- test sink keeping bytes and timestamps of every packet it receives"""
    CLASS_NAME = "_RatedSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received, self.stamps = [], []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        self.stamps += batch.pool.ts_ns[batch.idx].tolist()
        batch.kill()


register(_Sink)


def test_pushes_at_the_given_rate(make_router):
    r = make_router("s :: RatedSource(RATE 1000) -> c :: Counter -> Discard")
    r.run(duration=0.4)
    count = r.element("c").count
    assert 0.4 * 400 < count <= 400 + 51          # + the first packet and 50 ms of catch-up
    assert r.element("s").read("count") == str(count)


def test_high_rates_send_bursts_that_keep_the_average(make_router):
    r = make_router("RatedSource(RATE 200000) -> c :: Counter -> Discard", n_slots=16384)
    r.run(duration=0.3)
    assert 0.4 * 60000 < r.element("c").count <= 60000 + 10001


def test_limit_and_stop_end_the_run(make_router):
    r = make_router('RatedSource("abc", 5000, 25, STOP true) -> c :: Counter -> Discard')
    assert r.run(duration=5) == 0
    assert r.element("c").count == 25
    assert r.element("c").byte_count == 75


def test_pull_output_hands_out_packets_as_the_rate_allows(make_router):
    r = make_router("s :: RatedSource(RATE 2000) -> u :: Unqueue -> c :: Counter -> Discard")
    r.run(duration=0.3)
    assert r.element("s").output_processing == ["l"]
    assert 0.4 * 600 < r.element("c").count <= 600 + 101


def test_packets_carry_data_length_and_a_timestamp(make_router):
    r = make_router('s :: RatedSource("xy", LENGTH 4, LIMIT 1, STOP true) -> k :: _RatedSink')
    r.run(duration=5)
    assert r.element("s").read("length") == "4"
    assert r.element("k").received == [b"xy\0\0"]
    assert abs(r.element("k").stamps[0] - time.time_ns()) < 10 * 10**9
    assert r.pool.n_used == 0


def test_handlers_change_rate_activity_limit_and_data(make_router):
    r = make_router('s :: RatedSource("a", RATE 10, ACTIVE false) -> c :: Counter -> Discard')
    s = r.element("s")
    s.write("rate", "3000")
    s.write("limit", "30")
    s.write("data", '"abcd"')
    r.loop.call_later(0.05, s.write, "active", "true")
    r.run(duration=0.2)
    assert r.element("c").count == 30
    assert r.element("c").byte_count == 120
    assert (s.read("rate"), s.read("limit"), s.read("active"), s.read("data")) == \
        ("3000", "30", "true", "abcd")
    with pytest.raises(HandlerError):
        s.write("rate", "-1")


def test_bandwidth_sets_the_rate_from_the_packet_length(make_router):
    r = make_router("s :: RatedSource(LENGTH 100, BANDWIDTH 8kbps) -> Discard")
    assert r.element("s").read("rate") == "10"


@pytest.mark.parametrize("args, argument", [("RATE fast", "RATE"), ("LIMIT x", "LIMIT"),
                                            ("ACTIVE sure", "ACTIVE"),
                                            ("BANDWIDTH fast", "BANDWIDTH"),
                                            ('"", BANDWIDTH 1Mbps', "BANDWIDTH")])
def test_bad_arguments_are_graph_errors_naming_them(make_router, args, argument):
    with pytest.raises(GraphError, match=f"argument {argument}"):
        make_router(f"RatedSource({args}) -> Discard")
