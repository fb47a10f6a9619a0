"""Tee and PullTee: a copy per output; Tee(N) checks the outputs; no slot leaks."""
import time

import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Sink(Element):
    """_TeeSink -- test sink keeping bytes, paint and slot of every packet it receives"""
    CLASS_NAME = "_TeeSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received, self.paints, self.slots = [], [], []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        self.paints += batch.pool.paint[batch.idx].tolist()
        self.slots += batch.idx.tolist()
        batch.kill()


class _Frames(Element):
    """_TeeFrames -- test source pushing the frames a test hands it"""
    CLASS_NAME = "_TeeFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))


register(_Sink)
register(_Frames)

FRAMES = [b"alpha", b"beta", b"gamma!"]


def test_every_output_gets_every_packet_in_new_slots(make_router):
    r = make_router("src :: _TeeFrames -> t :: Tee; t[0] -> a :: _TeeSink; t[1] -> b :: _TeeSink;"
                    "t[2] -> c :: _TeeSink")
    r.initialize()
    r.element("src").send(FRAMES)
    a, b, c = (r.element(n) for n in "abc")
    assert a.received == b.received == c.received == FRAMES
    assert not set(a.slots) & set(b.slots) and not set(b.slots) & set(c.slots)
    assert r.pool.n_used == 0


def test_copies_keep_annotations_and_branches_do_not_share_changes(make_router):
    r = make_router("src :: _TeeFrames -> Paint(7) -> t :: Tee;"
                    "t[0] -> Strip(2) -> Paint(1) -> a :: _TeeSink; t[1] -> b :: _TeeSink")
    r.initialize()
    r.element("src").send(FRAMES)
    a, b = r.element("a"), r.element("b")
    assert a.received == [f[2:] for f in FRAMES] and a.paints == [1, 1, 1]
    assert b.received == FRAMES and b.paints == [7, 7, 7]


def test_n_must_match_the_connected_outputs(make_router):
    make_router("InfiniteSource -> t :: Tee(2) -> Discard; t[1] -> Discard")
    with pytest.raises(GraphError, match="output 1 of 't'.*not connected"):
        make_router("InfiniteSource -> t :: Tee(2) -> Discard")
    with pytest.raises(GraphError, match="'t' has no output 2"):
        make_router("InfiniteSource -> t :: Tee(2) -> Discard; t[1] -> Discard; t[2] -> Discard")


def test_zero_outputs_is_a_graph_error_naming_n(make_router):
    with pytest.raises(GraphError, match="argument N"):
        make_router("InfiniteSource -> Tee(0) -> Discard")


def test_copies_that_do_not_fit_the_pool_are_counted_not_made(make_router):
    r = make_router("src :: _TeeFrames -> t :: Tee; t[0] -> q :: Queue -> Unqueue(ACTIVE false) "
                    "-> Discard; t[1] -> b :: _TeeSink", n_slots=8)
    r.initialize()
    r.element("src").send([b"p"] * 6)     # 6 slots used, room for 2 copies only
    assert len(r.element("b").received) == 2
    assert r.element("t").read("drops") == "4"
    assert r.element("q").read("length") == "6"


def test_pulltee_pushes_copies_of_what_output_0_pulls(make_router):
    r = make_router("src :: _TeeFrames -> Queue -> t :: PullTee -> u :: Unqueue -> a :: _TeeSink;"
                    "t[1] -> b :: _TeeSink")
    r.initialize()
    r.element("src").send(FRAMES)
    r.run_until_idle()
    t = r.element("t")
    assert t.input_processing == ["l"] and t.output_processing == ["l", "h"]
    assert r.element("a").received == r.element("b").received == FRAMES
    assert r.pool.n_used == 0


def test_million_packets_through_a_branching_graph_leak_no_slot(make_router):
    r = make_router("""
        src :: InfiniteSource(LIMIT 1000000, BURST 1024);
        src -> t :: Tee(4);
        t[0] -> c0 :: Counter -> Discard;
        t[1] -> cl :: Classifier(0/52 1/61, 0/00, -);
        cl[0] -> Strip(14) -> Unstrip(14) -> c1 :: Counter -> Discard;
        cl[1] -> Discard;
        cl[2] -> Discard;
        t[2] -> rs :: RandomSample(0.5, SEED 1);
        rs[0] -> Paint(3) -> cp :: CheckPaint(3) -> Discard;
        rs[1] -> Discard;
        t[3] -> q :: Queue(4096) -> u :: Unqueue(512) -> c3 :: Counter -> Discard;
    """, n_slots=16384)
    t0 = time.monotonic()
    r.run_until_idle()
    elapsed = time.monotonic() - t0
    assert r.element("c0").count == 1_000_000
    assert r.element("c1").count == 1_000_000        # the default data starts with "Ra"
    assert r.element("c3").count + r.element("q").drops == 1_000_000
    assert 480_000 < r.element("rs").drops < 520_000
    assert r.pool.n_free == r.pool.n_slots
    assert elapsed < 10
