"""Queue: FIFO storage between push and pull, tail drop, handlers."""
import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Sink(Element):
    """_QueueSink -- test sink keeping the bytes of every packet it receives"""
    CLASS_NAME = "_QueueSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received = []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        batch.kill()


class _Frames(Element):
    """_QueueFrames -- test source pushing the frames a test hands it"""
    CLASS_NAME = "_QueueFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))


register(_Sink)
register(_Frames)


def _numbered(lo, hi):
    return [i.to_bytes(4, "big") for i in range(lo, hi)]


def test_packets_leave_in_arrival_order_across_ring_wraparound(make_router):
    r = make_router("src :: _QueueFrames -> q :: Queue(11) -> u :: Unqueue(BURST 3, ACTIVE false) "
                    "-> sink :: _QueueSink")
    r.initialize()
    src, q, u, sink = (r.element(n) for n in ("src", "q", "u", "sink"))
    expected = []
    for k in range(5):                     # fill 7, drain 6 (in bursts of 3): the ring wraps
        frames = _numbered(7 * k, 7 * k + 7)
        src.send(frames)
        expected += frames
        u.limit = u.count + 6
        u.write("active", "true")
        r.run_until_idle()
        u.write("active", "false")
    u.limit = -1
    u.write("active", "true")
    r.run_until_idle()
    assert sink.received == expected
    assert q.read("drops") == "0"


def test_full_queue_drops_arrivals_at_the_tail(make_router):
    r = make_router("src :: _QueueFrames -> q :: Queue(5) -> u :: Unqueue(ACTIVE false) "
                    "-> sink :: _QueueSink")
    r.initialize()
    r.element("src").send(_numbered(0, 8))
    q = r.element("q")
    assert q.read("length") == "5"
    assert q.read("drops") == "3"
    assert q.read("highwater_length") == "5"
    r.element("u").write("active", "true")
    r.run_until_idle()
    assert r.element("sink").received == _numbered(0, 5)
    assert r.pool.n_used == 0


def test_reset_drops_queued_packets_and_reset_counts_clears_statistics(make_router):
    r = make_router("src :: _QueueFrames -> q :: Queue(4) -> Unqueue(ACTIVE false) -> Discard")
    r.initialize()
    r.element("src").send(_numbered(0, 6))
    q = r.element("q")
    q.write("reset_counts")
    assert q.read("drops") == "0"
    assert q.read("highwater_length") == "4"
    q.write("reset")
    assert q.read("length") == "0"
    assert r.pool.n_used == 0


def test_capacity_handler_grows_the_queue_keeping_order(make_router):
    r = make_router("src :: _QueueFrames -> q :: Queue(3) -> u :: Unqueue(ACTIVE false) "
                    "-> sink :: _QueueSink")
    r.initialize()
    src, q = r.element("src"), r.element("q")
    src.send(_numbered(0, 3))
    q.write("capacity", "6")
    assert q.read("capacity") == "6"
    src.send(_numbered(3, 6))
    r.element("u").write("active", "true")
    r.run_until_idle()
    assert r.element("sink").received == _numbered(0, 6)


def test_cleanup_frees_packets_still_queued(make_router):
    r = make_router("InfiniteSource(LIMIT 50, STOP true) -> q :: Queue -> "
                    "Unqueue(ACTIVE false) -> Discard")
    r.run(duration=5)
    assert r.pool.n_used == 0


def test_negative_capacity_is_a_graph_error_naming_it(make_router):
    with pytest.raises(GraphError, match="argument CAPACITY"):
        make_router("InfiniteSource -> Queue(-1) -> Discard")


def test_push_to_pull_without_queue_is_refused(make_router):
    with pytest.raises(GraphError, match="Queue"):
        make_router("TimedSource -> Unqueue -> Discard")   # InfiniteSource may be pulled
