"""Strip: removes bytes from the front by moving the packet start, no copies."""
import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Frames(Element):
    """_StripFrames -- test source pushing the frames a test hands it"""
    CLASS_NAME = "_StripFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))


class _Sink(Element):
    """_StripSink -- test sink keeping bytes and offsets of every packet it receives"""
    CLASS_NAME = "_StripSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received, self.offsets = [], []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        self.offsets += batch.pool.off[batch.idx].tolist()
        batch.kill()


register(_Frames)
register(_Sink)


def test_removes_length_bytes_by_moving_the_start(make_router):
    r = make_router("src :: _StripFrames -> s :: Strip(14) -> k :: _StripSink")
    r.initialize()
    frames = [bytes(range(40)), bytes(range(100, 160))]
    r.element("src").send(frames)
    k = r.element("k")
    assert k.received == [f[14:] for f in frames]
    assert k.offsets == [r.pool.headroom + 14] * 2
    assert r.element("s").read("length") == "14"


def test_a_packet_shorter_than_length_becomes_empty(make_router):
    r = make_router("src :: _StripFrames -> Strip(10) -> k :: _StripSink")
    r.initialize()
    r.element("src").send([b"short", b"0123456789", b"0123456789ab"])
    assert r.element("k").received == [b"", b"", b"ab"]


def test_strip_zero_changes_nothing_and_works_on_pull_paths(make_router):
    r = make_router("src :: _StripFrames -> Queue -> Strip(0) -> Strip(1) -> Unqueue "
                    "-> k :: _StripSink")
    r.initialize()
    r.element("src").send([b"abc"])
    r.run_until_idle()
    assert r.element("k").received == [b"bc"]


def test_missing_length_is_a_graph_error_naming_it(make_router):
    with pytest.raises(GraphError, match="missing argument LENGTH"):
        make_router("InfiniteSource -> Strip -> Discard")
    with pytest.raises(GraphError, match="argument LENGTH"):
        make_router("InfiniteSource -> Strip(-3) -> Discard")
