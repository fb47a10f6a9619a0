"""CheckLength: packets up to LENGTH pass, longer ones go to output 1 (or are dropped)."""
from vforward.element import PUSH_ONLY, Element, register


class _Frames(Element):
    """_CLFrames -- test source"""
    CLASS_NAME = "_CLFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))


class _Sink(Element):
    """_CLSink -- test sink keeping bytes"""
    CLASS_NAME = "_CLSink"
    PORTS = "1/0"
    PROCESSING = "a/a"

    def configure(self, args):
        args.finish()
        self.frames = []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        batch.kill()


register(_Frames)
register(_Sink)


def test_longer_packets_go_aside_in_order(make_router):
    r = make_router("src :: _CLFrames -> cl :: CheckLength(10) -> ok :: _CLSink; "
                    "cl[1] -> long :: _CLSink")
    r.initialize()
    r.element("src").send([b"a" * 10, b"b" * 11, b"c", b"d" * 100])
    assert r.element("ok").frames == [b"a" * 10, b"c"]
    assert r.element("long").frames == [b"b" * 11, b"d" * 100]
    assert r.element("cl").read("drops") == "2"


def test_longer_packets_are_dropped_without_output_1(make_router):
    r = make_router("src :: _CLFrames -> cl :: CheckLength(4) -> ok :: _CLSink")
    r.initialize()
    r.element("src").send([b"abcde", b"abcd"])
    assert r.element("ok").frames == [b"abcd"] and r.pool.n_used == 0
