"""TimedSource: one packet every INTERVAL, on a loop timer."""
import pytest

from vforward.element import HandlerError
from vforward.graph import GraphError


def test_sends_one_packet_per_interval(make_router):
    r = make_router("s :: TimedSource(50ms) -> c :: Counter -> Discard")
    r.run(duration=0.33)
    assert 3 <= r.element("c").count <= 6
    assert r.element("s").read("count") == str(r.element("c").count)


def test_limit_and_stop_end_the_run(make_router):
    r = make_router('TimedSource(10ms, "hello", LIMIT 3, STOP true) -> c :: Counter -> Discard')
    assert r.run(duration=5) == 0
    assert (r.element("c").count, r.element("c").byte_count) == (3, 15)


def test_handlers_change_interval_data_and_activity(make_router):
    r = make_router("s :: TimedSource(10s, ACTIVE false) -> c :: Counter -> Discard")
    s = r.element("s")
    s.write("interval", "20ms")
    s.write("data", '"xyz"')
    s.write("active", "true")
    r.run(duration=0.15)
    assert 3 <= r.element("c").count <= 8
    assert r.element("c").byte_count == 3 * r.element("c").count
    assert (s.read("interval"), s.read("data")) == ("0.02", "xyz")
    with pytest.raises(HandlerError):
        s.write("interval", "0")


@pytest.mark.parametrize("args, argument", [("0", "INTERVAL"), ("soon", "INTERVAL"),
                                            ("1, LIMIT x", "LIMIT")])
def test_bad_arguments_are_graph_errors_naming_them(make_router, args, argument):
    with pytest.raises(GraphError, match=f"argument {argument}"):
        make_router(f"TimedSource({args}) -> Discard")
