"""AverageCounter: counts, strict average rates, IGNORE, reset."""
import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Frames(Element):
    """_AvgFrames -- test source pushing the frames a test hands it"""
    CLASS_NAME = "_AvgFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))


register(_Frames)


def _clocked(make_router, config):
    """A router whose AverageCounter `a` reads a clock the test sets: returns (router, now)."""
    r = make_router(config)
    r.initialize()
    now = [100.0]
    r.element("a").clock = lambda: now[0]
    return r, now


def test_counts_packets_and_bytes(make_router):
    r = make_router("InfiniteSource(LENGTH 50, LIMIT 40) -> a :: AverageCounter -> Discard")
    r.run_until_idle()
    assert r.element("a").read("count") == "40"
    assert r.element("a").read("byte_count") == "2000"


def test_rate_is_count_over_time_between_first_and_last_packet(make_router):
    r, now = _clocked(make_router, "src :: _AvgFrames -> a :: AverageCounter -> Discard")
    src, a = r.element("src"), r.element("a")
    src.send([b"x" * 10] * 5)           # t = 100
    now[0] = 102.0
    src.send([b"x" * 10] * 15)          # t = 102: 20 packets, 200 bytes over 2 s
    assert a.read("count") == "20"
    assert float(a.read("rate")) == pytest.approx(10.0)
    assert float(a.read("byte_rate")) == pytest.approx(100.0)


def test_rate_is_zero_before_time_has_passed(make_router):
    r, now = _clocked(make_router, "src :: _AvgFrames -> a :: AverageCounter -> Discard")
    assert r.element("a").read("rate") == "0"
    r.element("src").send([b"x"] * 3)
    assert r.element("a").read("rate") == "0"


def test_ignore_leaves_out_the_first_seconds(make_router):
    r, now = _clocked(make_router, "src :: _AvgFrames -> a :: AverageCounter(IGNORE 1) -> Discard")
    src, a = r.element("src"), r.element("a")
    src.send([b"x"] * 100)              # t = 100: ignored (start-up)
    now[0] = 100.5
    src.send([b"x"] * 100)              # still inside IGNORE
    now[0] = 101.0
    src.send([b"x"] * 10)               # counted from here
    now[0] = 103.0
    src.send([b"x"] * 30)
    assert a.read("count") == "40"
    assert float(a.read("rate")) == pytest.approx(20.0)   # 40 packets over 2 s after IGNORE


def test_ignore_is_also_positional_and_takes_time_units(make_router):
    r = make_router("InfiniteSource(LIMIT 1) -> a :: AverageCounter(250ms) -> Discard")
    assert r.element("a").ignore == pytest.approx(0.25)


def test_reset_starts_measuring_again(make_router):
    r, now = _clocked(make_router, "src :: _AvgFrames -> a :: AverageCounter -> Discard")
    src, a = r.element("src"), r.element("a")
    src.send([b"x"] * 50)
    now[0] = 101.0
    src.send([b"x"] * 50)
    a.write("reset")
    assert (a.read("count"), a.read("byte_count"), a.read("rate")) == ("0", "0", "0")
    now[0] = 150.0
    src.send([b"x"] * 4)
    now[0] = 152.0
    src.send([b"x"] * 4)
    assert float(a.read("rate")) == pytest.approx(4.0)


def test_bad_ignore_is_a_graph_error_naming_it(make_router):
    with pytest.raises(GraphError, match="argument IGNORE"):
        make_router("InfiniteSource -> AverageCounter(IGNORE soon) -> Discard")
