"""InfiniteSource: copies of DATA, BURST at a time, up to LIMIT; handlers."""
import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Sink(Element):
    """_InfSink -- test sink keeping the bytes of every packet it receives"""
    CLASS_NAME = "_InfSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received = []
        self.batches = []

    def push(self, port, batch):
        self.batches.append(len(batch))
        self.received += batch.to_bytes()
        batch.kill()


register(_Sink)


def test_sends_limit_copies_of_data_in_bursts(make_router):
    r = make_router('s :: InfiniteSource(DATA "hello", LIMIT 10, BURST 4) -> k :: _InfSink')
    r.run_until_idle()
    k = r.element("k")
    assert k.received == [b"hello"] * 10
    assert k.batches == [4, 4, 2]
    assert r.element("s").read("count") == "10"


def test_length_pads_or_cuts_data(make_router):
    r = make_router('InfiniteSource(DATA "abc", LIMIT 1, LENGTH 6) -> a :: _InfSink;'
                    'InfiniteSource(DATA "abcdef", LIMIT 1, LENGTH 2) -> b :: _InfSink')
    r.run_until_idle()
    assert r.element("a").received == [b"abc\0\0\0"]
    assert r.element("b").received == [b"ab"]


def test_default_data_is_at_least_64_bytes(make_router):
    r = make_router("InfiniteSource(LIMIT 1) -> k :: _InfSink")
    r.run_until_idle()
    assert len(r.element("k").received[0]) >= 64


def test_stop_ends_the_run_when_the_limit_is_reached(make_router):
    r = make_router("InfiniteSource(LIMIT 100, STOP true) -> c :: Counter -> Discard")
    assert r.run(duration=10) == 0
    assert r.element("c").count == 100


def test_handlers_change_data_limit_burst_and_activity(make_router):
    r = make_router('s :: InfiniteSource(DATA "x", LIMIT 2, ACTIVE false) -> k :: _InfSink')
    r.run_until_idle()
    s, k = r.element("s"), r.element("k")
    assert k.received == []
    s.write("data", '"yz"')
    s.write("burst", "1")
    s.write("active", "true")
    r.run_until_idle()
    assert k.received == [b"yz", b"yz"]
    assert k.batches == [1, 1]
    s.write("limit", "3")
    r.run_until_idle()
    assert s.read("count") == "3"
    assert (s.read("data"), s.read("limit"), s.read("burst")) == ("yz", "3", "1")


def test_bad_limit_is_a_graph_error_naming_it(make_router):
    with pytest.raises(GraphError, match="argument LIMIT"):
        make_router("InfiniteSource(LIMIT many) -> Discard")


def test_a_pull_output_makes_packets_per_pull(make_router):
    r = make_router("s :: InfiniteSource(LIMIT 5, BURST 2) -> PullNull -> u :: Unqueue(8) "
                    "-> c :: Counter -> Discard")
    r.run_until_idle()
    assert r.element("c").count == 5 and r.element("s").count == 5
