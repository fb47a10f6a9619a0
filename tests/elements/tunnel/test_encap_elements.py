"""UDPIPEncap and IPEncap: headers pushed into the headroom of whole batches."""

import dpkt
import numpy as np
import pytest

from vforward.element import PUSH_ONLY, Element, HandlerError, register
from vforward.graph import GraphError


class _Frames(Element):
    """_TunnelFrames -- test source pushing the packets a test hands it"""
    CLASS_NAME = "_TunnelFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, dst_ips=None):
        batch = self.router.pool.from_bytes(frames)
        if dst_ips is not None:
            self.router.pool.dst_ip[batch.idx] = dst_ips
        slots = batch.idx.copy()
        self.emit(0, batch)
        return slots


class _Sink(Element):
    """_TunnelSink -- test sink keeping bytes and annotations of what it receives"""
    CLASS_NAME = "_TunnelSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received, self.slots, self.nh_off, self.dst_ip, self.user = [], [], [], [], []

    def push(self, port, batch):
        pool = batch.pool
        self.received += batch.to_bytes()
        self.slots += batch.idx.tolist()
        self.nh_off += (pool.nh[batch.idx] - pool.off[batch.idx]).tolist()
        self.dst_ip += pool.dst_ip[batch.idx].tolist()
        self.user += pool.user[batch.idx].tolist()
        batch.kill()


register(_Frames)
register(_Sink)


def _run(make_router, element, frames, dst_ips=None):
    r = make_router(f"src :: _TunnelFrames -> e :: {element} -> k :: _TunnelSink")
    r.initialize()
    slots = r.element("src").send(frames, dst_ips)
    return r, r.element("e"), r.element("k"), slots


def _payloads(n, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, int(rng.integers(0, 1400)), dtype=np.uint8).tobytes()
            for _ in range(n)]


def test_udpipencap_builds_valid_udp_ip_headers_in_place(make_router):
    payloads = _payloads(40)
    r, e, k, slots = _run(make_router, "UDPIPEncap(10.0.0.1, 1234, 10.0.0.2, 5678)", payloads)
    assert k.slots == slots.tolist()              # the same slots: nothing copied
    for i, (frame, payload) in enumerate(zip(k.received, payloads)):
        ip = dpkt.ip.IP(frame)
        assert (ip.src, ip.dst, ip.p, ip.ttl, ip.df, ip.offset) == (b"\x0a\0\0\x01", b"\x0a\0\0\x02",
                                                                 17, 250, 0, 0)
        assert ip.id == i and ip.len == len(payload) + 28
        assert ip.udp.sport == 1234 and ip.udp.dport == 5678 and ip.udp.data == payload
        sum_ip = ip.sum
        ip.sum = 0
        assert dpkt.ip.IP(bytes(ip)).sum == sum_ip
        udp = dpkt.udp.UDP(bytes(ip.udp))
        sent_sum = udp.sum
        udp.sum = 0
        ip.data = udp
        ip.sum = 0
        assert dpkt.ip.IP(bytes(ip)).udp.sum == sent_sum and sent_sum != 0
    assert set(k.nh_off) == {0} and set(k.dst_ip) == {0x0A000002}
    assert e.read("count") == "40" and e.read("drops") == "0"
    assert r.pool.n_used == 0


def test_udpipencap_without_checksum_and_with_dst_anno(make_router):
    r, e, k, _ = _run(make_router, "UDPIPEncap(192.168.1.1, 9, DST_ANNO, 4789, false)",
                      [b"abc", b"defg"], dst_ips=[0xC0A80002, 0xC0A80003])
    dsts = [dpkt.ip.IP(f).dst for f in k.received]
    assert dsts == [b"\xc0\xa8\x00\x02", b"\xc0\xa8\x00\x03"]
    assert [dpkt.ip.IP(f).udp.sum for f in k.received] == [0, 0]
    assert e.read("dst") == "DST_ANNO"


def test_udpipencap_handlers_read_and_write_the_fields(make_router):
    r, e, k, _ = _run(make_router, "UDPIPEncap(10.0.0.1, 1, 10.0.0.2, 2)", [])
    assert [e.read(h) for h in ("src", "sport", "dst", "dport")] == \
        ["10.0.0.1", "1", "10.0.0.2", "2"]
    e.write("src", "10.9.9.9")
    e.write("sport", "7000")
    e.write("dst", "10.8.8.8")
    e.write("dport", "7001")
    r.element("src").send([b"x"])
    ip = dpkt.ip.IP(k.received[0])
    assert (ip.src, ip.dst, ip.udp.sport, ip.udp.dport) == (bytes([10, 9, 9, 9]),
                                                            bytes([10, 8, 8, 8]), 7000, 7001)
    with pytest.raises(HandlerError):
        e.write("sport", "70000")
    with pytest.raises(HandlerError):
        e.write("dst", "not-an-address")


def test_packets_without_headroom_are_moved_once_or_dropped(make_router):
    r = make_router("src :: _TunnelFrames -> e :: UDPIPEncap(10.0.0.1, 1, 10.0.0.2, 2) "
                    "-> k :: _TunnelSink")
    r.initialize()
    pool = r.pool
    batch = pool.from_bytes([b"a" * 100, b"b" * 100, b"c" * 100])
    first, second, third = (int(s) for s in batch.idx)
    pool.data[first, 0:100] = pool.data[first, 128:228]
    pool.off[first] = 0                                 # no headroom left: moved back
    pool.off[second] = 0
    pool.length[second] = pool.slot_size                # a full slot: cannot take 28 bytes
    r.element("src").emit(0, batch)
    k = r.element("k")
    assert [dpkt.ip.IP(f).udp.data for f in k.received] == [b"a" * 100, b"c" * 100]
    assert r.element("e").read("drops") == "1" and pool.n_used == 0


def test_ipencap_wraps_ip_in_ip_with_keywords(make_router):
    inner = bytes(dpkt.ip.IP(src=b"\x01\x01\x01\x01", dst=b"\x02\x02\x02\x02", p=17,
                             data=b"hello"))
    r, e, k, _ = _run(make_router, "IPEncap(ipip, 10.0.0.1, 10.0.0.2, TTL 9, DSCP 46, DF true)",
                      [inner, inner])
    outer = [dpkt.ip.IP(f) for f in k.received]
    assert [o.id for o in outer] == [0, 1]
    o = outer[0]
    assert (o.p, o.ttl, o.tos, o.df) == (4, 9, 46 << 2, 1)
    assert bytes(o.data) == inner and o.len == len(inner) + 20
    assert set(k.dst_ip) == {0x0A000002} and set(k.nh_off) == {0}


def test_ipencap_protocol_numbers_dst_anno_and_handlers(make_router):
    r, e, k, _ = _run(make_router, "IPEncap(47, 10.0.0.1, DST_ANNO, ECT 2)", [b"gre"],
                      dst_ips=[0x0B000001])
    o = dpkt.ip.IP(k.received[0])
    assert o.p == 47 and o.dst == b"\x0b\0\0\x01" and o.tos == 2
    assert e.read("dst") == "DST_ANNO" and e.read("src") == "10.0.0.1"
    e.write("dst", "10.0.0.9")
    assert e.read("dst") == "10.0.0.9"


@pytest.mark.parametrize("config, words", [
    ("IPEncap(nosuch, 10.0.0.1, 10.0.0.2)", "protocol"),
    ("IPEncap(4, 10.0.0.1, 10.0.0.2, TOS 4, DSCP 3)", "TOS"),
    ("UDPIPEncap(10.0.0.1, 99999, 10.0.0.2, 1)", "port"),
    ("UDPIPEncap(10.0.0.1, 1, 10.0.0.2)", "DPORT"),
])
def test_bad_arguments_are_refused_with_a_sentence(make_router, config, words):
    with pytest.raises(GraphError, match=words):
        make_router(f"src :: _TunnelFrames -> {config} -> _TunnelSink()")
