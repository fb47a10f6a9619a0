"""CheckPaint: matching paint to output 0, the rest to output 1 or dropped."""
import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Frames(Element):
    """_CheckPaintFrames -- test source pushing frames painted as the test says"""
    CLASS_NAME = "_CheckPaintFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, paints, ptypes=None):
        batch = self.router.pool.from_bytes([bytes([p]) for p in paints])
        batch.pool.paint[batch.idx] = paints
        if ptypes is not None:
            batch.pool.ptype[batch.idx] = ptypes
        self.emit(0, batch)


class _Sink(Element):
    """_CheckPaintSink -- test sink keeping the first byte of every packet"""
    CLASS_NAME = "_CheckPaintSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received = []

    def push(self, port, batch):
        self.received += [b[0] for b in batch.to_bytes()]
        batch.kill()


register(_Frames)
register(_Sink)

PAINTS = [1, 2, 1, 3, 1, 0]


def test_other_colours_go_to_output_1_when_connected(make_router):
    r = make_router("src :: _CheckPaintFrames -> cp :: CheckPaint(1) -> a :: _CheckPaintSink;"
                    "cp[1] -> b :: _CheckPaintSink")
    r.initialize()
    r.element("src").send(PAINTS)
    assert r.element("a").received == [1, 1, 1]
    assert r.element("b").received == [2, 3, 0]
    assert r.element("cp").read("drops") == "0"


def test_other_colours_are_dropped_without_output_1(make_router):
    r = make_router("src :: _CheckPaintFrames -> cp :: CheckPaint(1) -> a :: _CheckPaintSink")
    r.initialize()
    r.element("src").send(PAINTS)
    assert r.element("a").received == [1, 1, 1]
    assert r.element("cp").read("drops") == "3"
    assert r.pool.n_used == 0


def test_pull_output_0_with_push_output_1(make_router):
    r = make_router("src :: _CheckPaintFrames -> Queue -> cp :: CheckPaint(1) -> Unqueue "
                    "-> a :: _CheckPaintSink; cp[1] -> b :: _CheckPaintSink")
    r.initialize()
    r.element("src").send(PAINTS)
    r.run_until_idle()
    cp = r.element("cp")
    assert cp.output_processing == ["l", "h"]
    assert r.element("a").received == [1, 1, 1]
    assert r.element("b").received == [2, 3, 0]


def test_anno_checks_the_packet_type_instead(make_router):
    r = make_router("src :: _CheckPaintFrames -> cp :: CheckPaint(4, ANNO PACKET_TYPE) "
                    "-> a :: _CheckPaintSink")
    r.initialize()
    r.element("src").send([7, 8, 9], ptypes=[4, 0, 4])
    assert r.element("a").received == [7, 9]
    assert r.element("cp").read("color") == "4"


def test_three_outputs_is_a_graph_error(make_router):
    with pytest.raises(GraphError, match="no output 2"):
        make_router("InfiniteSource -> cp :: CheckPaint(1) -> Discard; cp[1] -> Discard;"
                    "cp[2] -> Discard")


def test_bad_colour_is_a_graph_error_naming_it(make_router):
    with pytest.raises(GraphError, match="argument COLOR"):
        make_router("InfiniteSource -> CheckPaint(red) -> Discard")
