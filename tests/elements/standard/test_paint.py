"""Paint: sets the paint (or another one-byte) annotation; color handler."""
import pytest

from vforward.element import HandlerError, PUSH_ONLY, Element, register
from vforward.graph import GraphError
from vforward.packet import OUTGOING


class _Sink(Element):
    """_PaintSink -- test sink keeping the paint and packet type of every packet"""
    CLASS_NAME = "_PaintSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.paints, self.ptypes = [], []

    def push(self, port, batch):
        self.paints += batch.pool.paint[batch.idx].tolist()
        self.ptypes += batch.pool.ptype[batch.idx].tolist()
        batch.kill()


register(_Sink)


def test_sets_the_paint_of_every_packet(make_router):
    r = make_router("InfiniteSource(LIMIT 5) -> Paint(42) -> k :: _PaintSink")
    r.run_until_idle()
    assert r.element("k").paints == [42] * 5


def test_anno_selects_the_packet_type_annotation(make_router):
    r = make_router(f"InfiniteSource(LIMIT 2) -> Paint({OUTGOING}, ANNO PACKET_TYPE) "
                    "-> k :: _PaintSink")
    r.run_until_idle()
    assert r.element("k").ptypes == [OUTGOING] * 2
    assert r.element("k").paints == [0, 0]


def test_works_on_a_pull_path(make_router):
    r = make_router("InfiniteSource(LIMIT 3) -> Queue -> Paint(9) -> Unqueue -> k :: _PaintSink")
    r.run_until_idle()
    assert r.element("k").paints == [9, 9, 9]


def test_color_handler_reads_and_changes_the_colour(make_router):
    r = make_router("s :: InfiniteSource(LIMIT 1) -> p :: Paint(1) -> k :: _PaintSink")
    r.run_until_idle()
    p = r.element("p")
    p.write("color", "200")
    assert p.read("color") == "200"
    r.element("s").write("reset")
    r.run_until_idle()
    assert r.element("k").paints == [1, 200]
    with pytest.raises(HandlerError, match="0 to 255"):
        p.write("color", "256")


@pytest.mark.parametrize("config, argument", [("Paint", "COLOR"), ("Paint(300)", "COLOR"),
                                              ("Paint(1, ANNO DST_IP)", "ANNO"),
                                              ("Paint(1, port)", "ANNO")])
def test_bad_arguments_are_graph_errors_naming_them(make_router, config, argument):
    with pytest.raises(GraphError, match=f"argument {argument}"):
        make_router(f"InfiniteSource -> {config} -> Discard")
