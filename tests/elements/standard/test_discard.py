"""Discard: frees every packet, on push and on pull inputs."""
import pytest

from vforward.graph import GraphError


def test_push_input_frees_and_counts_every_packet(make_router):
    r = make_router("InfiniteSource(LIMIT 300, BURST 64) -> d :: Discard")
    r.run_until_idle()
    assert r.element("d").read("count") == "300"
    assert r.pool.n_used == 0


def test_pull_input_pulls_whenever_the_queue_has_packets(make_router):
    r = make_router("s :: InfiniteSource(LIMIT 500, BURST 50) -> q :: Queue(1000) "
                    "-> d :: Discard(BURST 16)")
    r.run_until_idle()
    d = r.element("d")
    assert d.input_processing == ["l"]
    assert d.count == 500
    assert r.element("q").read("length") == "0"
    r.element("s").write("reset")          # the sleeping Discard wakes when the queue refills
    r.run_until_idle()
    assert d.count == 1000
    assert r.pool.n_used == 0


def test_reset_sets_count_to_zero(make_router):
    r = make_router("InfiniteSource(LIMIT 5) -> d :: Discard")
    r.run_until_idle()
    r.element("d").write("reset")
    assert r.element("d").read("count") == "0"


def test_discard_has_no_outputs(make_router):
    with pytest.raises(GraphError, match="no output 0"):
        make_router("InfiniteSource -> d :: Discard -> Discard")


def test_bad_burst_is_a_graph_error_naming_it(make_router):
    with pytest.raises(GraphError, match="argument BURST"):
        make_router("InfiniteSource -> Discard(BURST lots)")
