"""SetTimestamp: the timestamp annotation becomes now, or a given time."""
import time

import pytest

from vforward.graph import GraphError


def _stamps(make_router, config):
    r = make_router(f"InfiniteSource(LIMIT 5, STOP true) -> {config} -> q :: Queue -> Idle")
    r.run_until_idle()
    batch = r.element("q").pull(0, 10)
    stamps = r.pool.ts_ns[batch.idx].tolist()
    batch.kill()
    return stamps


def test_stamps_packets_with_the_current_time(make_router):
    before = time.time_ns()
    stamps = _stamps(make_router, "SetTimestamp")
    assert len(stamps) == 5 and all(before <= t <= time.time_ns() for t in stamps)


def test_stamps_packets_with_a_given_time(make_router):
    assert _stamps(make_router, "SetTimestamp(1700000000.25)") == [1_700_000_000_250_000_000] * 5


def test_a_bad_timestamp_is_a_graph_error(make_router):
    with pytest.raises(GraphError, match="argument TIMESTAMP"):
        make_router("InfiniteSource -> SetTimestamp(yesterday) -> Discard")
