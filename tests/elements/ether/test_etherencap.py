"""EtherEncap: one header pushed into the headroom of a whole batch, nothing else touched."""
import dpkt
import numpy as np
import pytest

from vforward.element import PUSH_ONLY, Element, HandlerError, register
from vforward.graph import GraphError

SRC = bytes.fromhex("010203040506")
DST = bytes.fromhex("0a0b0c0d0e0f")
CONFIG = ("src :: _EncapFrames -> e :: EtherEncap(0x0800, 01:02:03:04:05:06, 0a:0b:0c:0d:0e:0f)"
          " -> k :: _EncapSink")


class _Frames(Element):
    """_EncapFrames -- test source pushing the frames (or the batch) a test hands it"""
    CLASS_NAME = "_EncapFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))

    def send_batch(self, batch):
        self.emit(0, batch)


class _Sink(Element):
    """_EncapSink -- test sink keeping bytes, slots and offsets; frees or keeps the batches"""
    CLASS_NAME = "_EncapSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received, self.slots, self.offsets, self.kept = [], [], [], []
        self.keep = False

    def push(self, port, batch):
        self.received += batch.to_bytes()
        self.slots += batch.idx.tolist()
        self.offsets += batch.pool.off[batch.idx].tolist()
        if self.keep:
            self.kept.append(batch)
        else:
            batch.kill()


register(_Frames)
register(_Sink)


def ip_packets(n, seed=1):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        payload = rng.integers(0, 256, int(rng.integers(0, 200)), dtype=np.uint8).tobytes()
        ip = dpkt.ip.IP(src=bytes([10, 0, 0, 1]), dst=bytes([10, 1, i >> 8 & 255, i & 255]),
                        p=17, data=dpkt.udp.UDP(sport=1000 + i, dport=53, data=payload))
        ip.len = len(bytes(ip))
        out.append(bytes(ip))
    return out


def done(r):
    r.cleanup()
    assert r.pool.n_used == 0


def test_prepends_the_configured_header_bytes_exactly(make_router):
    r = make_router(CONFIG)
    r.initialize()
    packets = ip_packets(5)
    r.element("src").send(packets)
    k = r.element("k")
    assert k.received == [DST + SRC + b"\x08\x00" + p for p in packets]
    for frame, p in zip(k.received, packets):
        eth = dpkt.ethernet.Ethernet(frame)
        assert (eth.dst, eth.src, eth.type) == (DST, SRC, 0x0800)
        assert bytes(eth.data) == p
    assert k.offsets == [r.pool.headroom - 14] * 5
    done(r)


def test_writes_only_the_fourteen_header_bytes_of_each_slot(make_router):
    r = make_router(CONFIG)
    r.initialize()
    pool = r.pool
    packets = ip_packets(300, seed=2)
    batch = pool.from_bytes(packets)
    slots = batch.idx.copy()
    pool.data[slots, :pool.headroom] = 0x5A          # recognisable headroom garbage
    before = pool.data.copy()
    k = r.element("k")
    k.keep = True
    r.element("src").send_batch(batch)
    hdr = np.frombuffer(DST + SRC + b"\x08\x00", np.uint8)
    want = before.copy()
    want[slots, pool.headroom - 14:pool.headroom] = hdr
    assert np.array_equal(pool.data, want)             # every other byte of the pool as it was
    assert np.array_equal(pool.length[slots], [len(p) + 14 for p in packets])
    assert k.slots == slots.tolist()                   # same slots, no copies
    for b in k.kept:
        b.kill()
    done(r)


def test_handlers_read_and_change_the_header(make_router):
    r = make_router(CONFIG)
    r.initialize()
    e = r.element("e")
    assert e.read("src") == "01-02-03-04-05-06"
    assert e.read("dst") == "0A-0B-0C-0D-0E-0F"
    assert e.read("ethertype") == "2048"
    e.write("dst", "ff:ff:ff:ff:ff:ff")
    e.write("ethertype", "0x86DD")
    e.write("src", "00-00-C0-AE-67-EF")
    r.element("src").send([b"payload"])
    assert r.element("k").received == [b"\xff" * 6 + bytes.fromhex("0000C0AE67EF") + b"\x86\xdd"
                                       + b"payload"]
    assert e.read("ethertype") == "34525"
    with pytest.raises(HandlerError, match="DST"):
        e.write("dst", "not-a-mac")
    with pytest.raises(HandlerError, match="ETHERTYPE"):
        e.write("ethertype", "0x10000")
    done(r)


def test_a_packet_without_headroom_is_moved_and_one_without_room_is_dropped(make_router):
    r = make_router(CONFIG)
    r.initialize()
    pool = r.pool
    batch = pool.from_bytes([b"moved-packet", b"fits"])
    a, b = (int(s) for s in batch.idx)
    # a: its start pushed to 4 bytes into the slot; b: a slot filled from byte 4 to the end
    pool.data[a, 4:16] = np.frombuffer(b"moved-packet", np.uint8)
    pool.off[a] = 4
    pool.nh[a] = 4
    pool.off[b] = 4
    pool.length[b] = pool.slot_size - 4
    r.element("src").send_batch(batch)
    assert r.element("k").received == [DST + SRC + b"\x08\x00" + b"moved-packet"]
    assert pool.nh[a] == pool.off[a] + 14
    assert r.element("e").read("drops") == "1"
    done(r)


def test_works_on_a_pull_path(make_router):
    r = make_router("src :: _EncapFrames -> Queue -> EtherEncap(0x0806, 1:1:1:1:1:1, 2:2:2:2:2:2)"
                    " -> Unqueue -> k :: _EncapSink")
    r.initialize()
    r.element("src").send([b"x", b"yz"])
    r.run_until_idle()
    h = b"\x02" * 6 + b"\x01" * 6 + b"\x08\x06"
    assert r.element("k").received == [h + b"x", h + b"yz"]
    done(r)


def test_bad_arguments_are_graph_errors_naming_them(make_router):
    with pytest.raises(GraphError, match="missing argument DST"):
        make_router("Idle -> EtherEncap(0x0800, 1:1:1:1:1:1) -> Discard")
    with pytest.raises(GraphError, match="argument ETHERTYPE"):
        make_router("Idle -> EtherEncap(0x10000, 1:1:1:1:1:1, 2:2:2:2:2:2) -> Discard")
    with pytest.raises(GraphError, match="argument SRC"):
        make_router("Idle -> EtherEncap(0x0800, 1:1:1:1:1, 2:2:2:2:2:2) -> Discard")
