"""Unstrip: moves the packet start back into the headroom, undoing Strip."""
import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Frames(Element):
    """_UnstripFrames -- test source pushing the frames a test hands it"""
    CLASS_NAME = "_UnstripFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, offset=None):
        pool = self.router.pool
        if offset is None:
            self.emit(0, pool.from_bytes(frames))
            return
        batch = pool.alloc(len(frames))   # packets `offset` bytes into their slots
        for slot, frame in zip(batch.idx, frames):
            pool.data[slot, offset:offset + len(frame)] = list(frame)
            pool.off[slot] = offset
            pool.length[slot] = len(frame)
        self.emit(0, batch)


class _Sink(Element):
    """_UnstripSink -- test sink keeping bytes and offsets of every packet it receives"""
    CLASS_NAME = "_UnstripSink"
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


def test_unstrip_undoes_strip(make_router):
    r = make_router("src :: _UnstripFrames -> Strip(14) -> Paint(1) -> Unstrip(14) "
                    "-> k :: _UnstripSink")
    r.initialize()
    frames = [bytes(range(60)), bytes(range(30, 50))]
    r.element("src").send(frames)
    k = r.element("k")
    assert k.received == frames
    assert k.offsets == [r.pool.headroom] * 2


def test_unstrip_exposes_headroom_bytes(make_router):
    r = make_router("src :: _UnstripFrames -> Unstrip(4) -> k :: _UnstripSink")
    r.initialize()
    r.pool.data[:, r.pool.headroom - 4:r.pool.headroom] = [9, 8, 7, 6]
    r.element("src").send([b"data"])
    assert r.element("k").received == [b"\x09\x08\x07\x06data"]
    assert r.element("k").offsets == [r.pool.headroom - 4]


def test_packets_short_of_headroom_move_within_their_slot(make_router):
    r = make_router("src :: _UnstripFrames -> u :: Unstrip(8) -> k :: _UnstripSink")
    r.initialize()
    r.element("src").send([b"ABCDEFGH", b"xy"], offset=3)
    k = r.element("k")
    assert [p[8:] for p in k.received] == [b"ABCDEFGH", b"xy"]
    assert k.offsets == [0, 0]
    assert r.element("u").read("drops") == "0"


def test_packets_with_no_room_in_their_slot_are_dropped_and_counted(make_router):
    r = make_router("src :: _UnstripFrames -> u :: Unstrip(8) -> k :: _UnstripSink")
    r.initialize()
    big = bytes(r.pool.slot_size - 4)
    r.element("src").send([big, b"ok"], offset=2)
    assert [len(p) for p in r.element("k").received] == [10]
    assert r.element("u").read("drops") == "1"
    assert r.pool.n_used == 0


def test_bad_length_is_a_graph_error_naming_it(make_router):
    with pytest.raises(GraphError, match="argument LENGTH"):
        make_router("InfiniteSource -> Unstrip(two) -> Discard")
