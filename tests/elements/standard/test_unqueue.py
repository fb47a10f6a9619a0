"""Unqueue: pulls bursts while the queue has packets; ACTIVE, LIMIT, BURST."""
import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Sink(Element):
    """_UnqueueSink -- test sink noting the size of every batch it receives"""
    CLASS_NAME = "_UnqueueSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.batches = []

    def push(self, port, batch):
        self.batches.append(len(batch))
        batch.kill()


register(_Sink)


def test_moves_every_queued_packet_and_sleeps_when_empty(make_router):
    r = make_router("InfiniteSource(LIMIT 1000, BURST 100) -> Queue(2000) "
                    "-> u :: Unqueue(BURST 64) "
                    "-> c :: Counter -> Discard")
    r.run_until_idle()
    assert r.element("u").read("count") == "1000"
    assert r.element("c").count == 1000
    assert not r._run_queue


def test_burst_bounds_each_pull(make_router):
    r = make_router("InfiniteSource(LIMIT 100, BURST 100) -> Queue -> u :: Unqueue(BURST 7) "
                    "-> k :: _UnqueueSink")
    r.run_until_idle()
    assert r.element("k").batches == [7] * 14 + [2]
    assert r.element("u").read("burst") == "7"


def test_limit_stops_after_that_many_packets(make_router):
    r = make_router("InfiniteSource(LIMIT 100) -> q :: Queue -> u :: Unqueue(LIMIT 30) -> Discard")
    r.run_until_idle()
    assert r.element("u").count == 30
    assert r.element("q").read("length") == "70"


def test_inactive_pulls_nothing_until_activated(make_router):
    r = make_router("InfiniteSource(LIMIT 20) -> q :: Queue -> u :: Unqueue(ACTIVE false) "
                    "-> c :: Counter -> Discard")
    r.run_until_idle()
    assert r.element("c").count == 0
    assert r.element("u").read("active") == "false"
    r.element("u").write("active", "true")
    r.run_until_idle()
    assert r.element("c").count == 20


def test_reset_zeroes_the_count_and_resumes_a_limited_unqueue(make_router):
    r = make_router("InfiniteSource(LIMIT 20) -> Queue -> u :: Unqueue(LIMIT 10) -> c :: Counter "
                    "-> Discard")
    r.run_until_idle()
    r.element("u").write("reset")
    r.run_until_idle()
    assert r.element("c").count == 20


def test_bad_active_is_a_graph_error_naming_it(make_router):
    with pytest.raises(GraphError, match="argument ACTIVE"):
        make_router("InfiniteSource -> Queue -> Unqueue(ACTIVE maybe) -> Discard")
