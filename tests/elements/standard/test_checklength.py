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


def test_with_segments_a_super_frame_is_judged_by_its_segments(make_router):
    from vforward.packet import GSO_SLOT_SIZE, GSO_TCPV6, PacketPool
    from vforward.graph import build_graph
    from vforward.runtime import Router
    r = Router(build_graph("src :: _CLFrames -> cl :: CheckLength(1400, SEGMENTS true) -> "
                           "ok :: _CLSink; cl[1] -> long :: _CLSink", "test.click"),
               PacketPool(64, GSO_SLOT_SIZE))
    try:
        r.initialize()
        pool = r.pool
        # IPv6 + TCP (data offset 5) + 8000 bytes, to leave as 1300-byte segments;
        # then the same with 1400-byte segments, whose IP length (1460) is too long.
        tcp = bytes(12) + bytes([0x50]) + bytes(7)
        packets = [bytes(40) + tcp + bytes(8000)] * 2 + [b"x" * 1401]
        batch = pool.from_bytes(packets)
        for s, seg in zip(batch.idx[:2], (1300, 1400)):
            pool.nh[s] = pool.off[s]
            pool.csum_start[s] = pool.off[s] + 40
            pool.gso_type[s] = GSO_TCPV6
            pool.gso_size[s] = seg
        r.element("cl").push(0, batch)
        assert [len(f) for f in r.element("ok").frames] == [8060]
        assert [len(f) for f in r.element("long").frames] == [8060, 1401]
    finally:
        r.close()
