"""GetIPAddress: copies 4 packet bytes at OFFSET into dst_ip (or user), host order."""
import struct

import numpy as np
import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Frames(Element):
    """_GIAFrames -- test source: pushes frames with given dst_ip and user annotations"""
    CLASS_NAME = "_GIAFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, anno=0):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.dst_ip[batch.idx] = anno
        batch.pool.user[batch.idx] = anno
        self.emit(0, batch)


class _Sink(Element):
    """_GIASink -- test sink keeping bytes, dst_ip and user"""
    CLASS_NAME = "_GIASink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.frames, self.dst, self.user = [], [], []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        self.dst += batch.pool.dst_ip[batch.idx].tolist()
        self.user += batch.pool.user[batch.idx].tolist()
        batch.kill()


register(_Frames)
register(_Sink)


def test_copies_four_bytes_at_offset_for_random_packets(make_router):
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, rng.integers(20, 200), dtype=np.uint8).tobytes()
              for _ in range(300)]
    r = make_router("src :: _GIAFrames -> GetIPAddress(16) -> sink :: _GIASink")
    r.initialize()
    r.element("src").send(frames, anno=7)
    sink = r.element("sink")
    assert sink.frames == frames
    assert sink.dst == [struct.unpack_from("!I", f, 16)[0] for f in frames]
    assert sink.user == [7] * len(frames)


def test_packets_too_short_keep_their_annotation(make_router):
    r = make_router("src :: _GIAFrames -> GetIPAddress(30) -> sink :: _GIASink")
    r.initialize()
    long = bytes(30) + b"\x0a\x00\x00\x01"
    r.element("src").send([bytes(33), long, b""], anno=99)
    assert r.element("sink").dst == [99, 0x0A000001, 99]


def test_anno_user_sets_the_user_annotation(make_router):
    r = make_router("src :: _GIAFrames -> GetIPAddress(0, ANNO user) -> sink :: _GIASink")
    r.initialize()
    r.element("src").send([b"\xc0\x00\x02\x01rest"], anno=5)
    sink = r.element("sink")
    assert sink.user == [0xC0000201] and sink.dst == [5]


@pytest.mark.parametrize("config, message", [
    ("GetIPAddress", "missing argument OFFSET"),
    ("GetIPAddress(16, ANNO paint)", "argument ANNO: expected an address annotation"),
    ("GetIPAddress(x)", "argument OFFSET"),
])
def test_bad_arguments_are_graph_errors(make_router, config, message):
    with pytest.raises(GraphError, match=message):
        make_router(f"Idle -> {config} -> Discard")


def test_the_compiled_path_for_offset_16_at_the_ip_header_matches_the_general_one(make_router):
    """With nh == off (as after MarkIPHeader/CheckIPHeader and Strip), GetIPAddress(16)
    takes the compiled copy; short packets keep their old annotation either way."""
    frames = [bytes(range(40)), bytes(range(100, 119)), bytes(range(50, 80))]
    got = {}
    for mark in ("MarkIPHeader -> ", ""):
        r = make_router(f"src :: _GIAFrames -> {mark}GetIPAddress(16) -> out :: _GIASink;")
        r.initialize()
        r.element("src").send(frames, anno=7)
        got[mark] = r.element("out").dst
    expected = [struct.unpack("!I", f[16:20])[0] if len(f) >= 20 else 7 for f in frames]
    assert got["MarkIPHeader -> "] == got[""] == expected
