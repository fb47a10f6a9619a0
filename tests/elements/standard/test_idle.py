"""Idle: fills ports, never sends, drops what it is given."""
import pytest

from vforward.graph import GraphError


def test_drops_and_counts_pushed_packets(make_router):
    r = make_router("InfiniteSource(LIMIT 64) -> i :: Idle")
    r.run_until_idle()
    assert r.element("i").read("count") == "64"
    assert r.pool.n_used == 0


def test_fills_ports_that_must_be_connected(make_router):
    r = make_router("i :: Idle; i[0] -> q :: Queue -> Discard; i[1] -> c :: Counter -> Discard;"
                    "InfiniteSource(LIMIT 3) -> [0]i; InfiniteSource(LIMIT 4) -> [1]i;")
    r.run_until_idle()
    i = r.element("i")
    assert (i.n_inputs, i.n_outputs) == (2, 2)
    assert i.count == 7
    assert r.element("c").count == 0
    assert r.element("q").read("length") == "0"


def test_a_puller_below_idle_goes_to_sleep(make_router):
    r = make_router("Idle -> u :: Unqueue -> c :: Counter -> Discard")
    r.run_until_idle(max_rounds=100)
    assert not r._run_queue              # the Unqueue sleeps instead of spinning
    assert r.element("c").count == 0


def test_idle_takes_no_arguments(make_router):
    with pytest.raises(GraphError, match="too many arguments"):
        make_router("Idle(3) -> Discard")
