"""MarkIPHeader: sets nh to OFFSET bytes into each packet and changes nothing else."""
import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Frames(Element):
    """_MIHFrames -- test source: pushes frames with a given dst_ip annotation"""
    CLASS_NAME = "_MIHFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, dst_ip=0):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.dst_ip[batch.idx] = dst_ip
        self.emit(0, batch)


class _Sink(Element):
    """_MIHSink -- test sink keeping bytes, nh relative to the packet, dst_ip"""
    CLASS_NAME = "_MIHSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.got = []

    def push(self, port, batch):
        pool = batch.pool
        for slot, data in zip(batch.idx, batch.to_bytes()):
            nh = int(pool.nh[slot]) - int(pool.off[slot])
            self.got.append((data, nh, int(pool.dst_ip[slot])))
        batch.kill()


register(_Frames)
register(_Sink)


@pytest.mark.parametrize("args, offset", [("", 0), ("14", 14), ("OFFSET 4", 4)])
def test_sets_nh_offset_bytes_in_and_leaves_the_rest_alone(make_router, args, offset):
    r = make_router(f"src :: _MIHFrames -> MarkIPHeader({args}) -> sink :: _MIHSink")
    r.initialize()
    frames = [b"\x45" + bytes(40) + b"pad", b"x" * 3, bytes(100)]
    r.element("src").send(frames, dst_ip=1234)
    assert r.element("sink").got == [(f, offset, 1234) for f in frames]


def test_works_on_a_pull_path(make_router):
    r = make_router("src :: _MIHFrames -> Queue -> m :: MarkIPHeader(2) -> Unqueue "
                    "-> sink :: _MIHSink")
    r.initialize()
    r.element("src").send([b"abcdef"])
    r.run_until_idle()
    assert r.element("m").input_processing == ["l"]
    assert r.element("sink").got == [(b"abcdef", 2, 0)]


def test_offset_must_be_a_non_negative_integer(make_router):
    with pytest.raises(GraphError, match="argument OFFSET"):
        make_router("Idle -> MarkIPHeader(-1) -> Discard")
    with pytest.raises(GraphError, match="argument OFFSET.*below 65536"):
        make_router("Idle -> MarkIPHeader(70000) -> Discard")
