"""EtherRewrite: both addresses rewritten in place for a batch; type and payload untouched."""
import dpkt
import numpy as np
import pytest

from vforward.element import PUSH_ONLY, Element, HandlerError, register
from vforward.graph import GraphError

SRC = bytes.fromhex("020000000001")
DST = bytes.fromhex("020000000002")
CONFIG = ("src :: _RewriteFrames -> e :: EtherRewrite(02:00:00:00:00:01, 02:00:00:00:00:02)"
          " -> k :: _RewriteSink")


class _Frames(Element):
    """_RewriteFrames -- test source pushing the frames or batch a test hands it"""
    CLASS_NAME = "_RewriteFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))

    def send_batch(self, batch):
        self.emit(0, batch)


class _Sink(Element):
    """_RewriteSink -- test sink keeping bytes and slots of every packet it receives"""
    CLASS_NAME = "_RewriteSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received, self.slots = [], []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        self.slots += batch.idx.tolist()
        batch.kill()


register(_Frames)
register(_Sink)


def frames(n, seed=3):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        data = rng.integers(0, 256, int(rng.integers(0, 300)), dtype=np.uint8).tobytes()
        ip = dpkt.ip.IP(src=bytes([10, 0, 0, 1]), dst=bytes([10, 0, 1, i & 255]), p=17,
                        data=dpkt.udp.UDP(sport=i, dport=9, data=data))
        out.append(bytes(dpkt.ethernet.Ethernet(
            dst=rng.integers(0, 256, 6, dtype=np.uint8).tobytes(),
            src=rng.integers(0, 256, 6, dtype=np.uint8).tobytes(),
            type=[0x0800, 0x88B5][i % 2], data=bytes(ip))))
    return out


def done(r):
    r.cleanup()
    assert r.pool.n_used == 0


def test_rewrites_both_addresses_and_nothing_else(make_router):
    r = make_router(CONFIG)
    r.initialize()
    pool = r.pool
    sent = frames(200)
    batch = pool.from_bytes(sent)
    slots = batch.idx.copy()
    before = pool.data.copy()
    r.element("src").send_batch(batch)
    k = r.element("k")
    assert k.received == [DST + SRC + f[12:] for f in sent]
    assert k.slots == slots.tolist()
    want = before.copy()
    want[slots, pool.headroom:pool.headroom + 12] = np.frombuffer(DST + SRC, np.uint8)
    assert np.array_equal(pool.data, want)
    for got, orig in zip(k.received, sent):
        eth = dpkt.ethernet.Ethernet(got)
        assert (eth.dst, eth.src) == (DST, SRC)
        assert eth.type == dpkt.ethernet.Ethernet(orig).type
    done(r)


def test_frames_shorter_than_a_header_are_dropped_and_counted(make_router):
    r = make_router(CONFIG)
    r.initialize()
    r.element("src").send([b"short", b"x" * 14, b""])
    assert r.element("k").received == [DST + SRC + b"xx"]
    assert r.element("e").read("drops") == "2"
    done(r)


def test_handlers_read_and_set_the_addresses(make_router):
    r = make_router(CONFIG)
    r.initialize()
    e = r.element("e")
    assert (e.read("src"), e.read("dst")) == ("02-00-00-00-00-01", "02-00-00-00-00-02")
    e.write("src", "aa:bb:cc:dd:ee:ff")
    e.write("dst", "11-22-33-44-55-66")
    r.element("src").send([b"\0" * 14 + b"data"])
    assert r.element("k").received == [bytes.fromhex("112233445566aabbccddeeff0000") + b"data"]
    with pytest.raises(HandlerError, match="SRC"):
        e.write("src", "1:2:3")
    done(r)


def test_both_addresses_are_required(make_router):
    with pytest.raises(GraphError, match="missing argument DST"):
        make_router("Idle -> EtherRewrite(1:1:1:1:1:1) -> Discard")
