"""Counter: counts packets and bytes, reports rates, resets, calls a handler at N."""
import pytest

from vforward.graph import GraphError


def test_counts_packets_and_bytes_through_a_push_path(make_router):
    r = make_router("InfiniteSource(LENGTH 100, LIMIT 250, BURST 32) -> c :: Counter -> Discard")
    r.run_until_idle()
    c = r.element("c")
    assert c.read("count") == "250"
    assert c.read("byte_count") == "25000"


def test_counts_on_a_pull_path(make_router):
    r = make_router("InfiniteSource(LENGTH 60, LIMIT 70) -> Queue -> c :: Counter "
                    "-> Unqueue -> Discard")
    r.run_until_idle()
    assert r.element("c").input_processing == ["l"]
    assert r.element("c").read("count") == "70"
    assert r.element("c").read("byte_count") == str(70 * 60)


def test_reset_sets_counts_to_zero(make_router):
    r = make_router("s :: InfiniteSource(LIMIT 10) -> c :: Counter -> Discard")
    r.run_until_idle()
    r.element("c").write("reset")
    assert r.element("c").read("count") == "0"
    assert r.element("c").read("byte_count") == "0"
    r.element("s").write("reset")
    r.run_until_idle()
    assert r.element("c").read("count") == "10"


def test_rate_is_positive_while_packets_flow(make_router):
    r = make_router("InfiniteSource -> c :: Counter -> Discard")
    r.run(duration=0.2)
    assert float(r.element("c").read("rate")) > 0
    assert float(r.element("c").read("bit_rate")) > 0


def test_count_call_writes_a_handler_once_after_n_packets(make_router):
    r = make_router('s :: InfiniteSource(BURST 10) -> c :: Counter(COUNT_CALL "50 s.active false") '
                    "-> Discard")
    r.run_until_idle()
    assert r.element("s").read("active") == "false"
    assert r.element("c").count == 50


def test_unknown_keyword_is_a_graph_error_naming_it(make_router):
    with pytest.raises(GraphError, match="unknown keyword COUNTCALL.*COUNT_CALL"):
        make_router("InfiniteSource -> Counter(COUNTCALL 3) -> Discard")
