"""DecIPTTL: live packets leave with TTL - 1 and exactly the checksum dpkt
recomputes; expired ones leave unchanged on output 1 (or are dropped)."""
import socket
import struct

import dpkt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router


class _Frames(Element):
    """_DTFrames -- test source: pushes IP frames with nh set to their start"""
    CLASS_NAME = "_DTFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.nh[batch.idx] = batch.pool.off[batch.idx]
        self.emit(0, batch)


class _Sink(Element):
    """_DTSink -- test sink keeping bytes"""
    CLASS_NAME = "_DTSink"
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

DT = "src :: _DTFrames -> dt :: DecIPTTL({}) -> live :: _DTSink; dt[1] -> dead :: _DTSink"


def ip_packet(ttl, dst="10.0.0.2", payload=b"data", opts=b"", tos=0, ident=0) -> bytes:
    ip = dpkt.ip.IP(src=socket.inet_aton("10.0.0.1"), dst=socket.inet_aton(dst), ttl=ttl, p=17,
                    tos=tos, id=ident, data=payload)
    if opts:
        ip.opts = opts
        ip.hl = 5 + len(opts) // 4
    return bytes(ip)


def decremented(frame: bytes) -> bytes:
    """The model: dpkt reads the header, TTL - 1, checksum recomputed by dpkt."""
    ip = dpkt.ip.IP(frame)
    hl = ip.hl * 4
    header = bytearray(frame[:hl])
    header[8] = ip.ttl - 1
    header[10:12] = b"\0\0"
    header[10:12] = struct.pack("!H", dpkt.in_cksum(bytes(header)))
    return bytes(header) + frame[hl:]


def run(config, frames):
    router = Router(build_graph(config), PacketPool(256))
    try:
        router.initialize()
        router.element("src").send(frames)
        assert router.pool.n_used == 0
        return router
    finally:
        router.close()


packets = st.builds(ip_packet, ttl=st.integers(0, 255), payload=st.binary(max_size=40),
                    opts=st.sampled_from([b"", b"\x01\x01\x01\x00", b"\x94\x04\x00\x00"]),
                    tos=st.integers(0, 255), ident=st.integers(0, 0xFFFF),
                    dst=st.sampled_from(["10.0.0.2", "224.0.0.5", "255.255.255.255"]))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(packets, min_size=1, max_size=40))
def test_output_equals_dpkt_recomputed_checksum_packet(frames):
    r = run(DT.format(""), frames)
    assert r.element("live").frames == [decremented(f) for f in frames if f[8] > 1]
    assert r.element("dead").frames == [f for f in frames if f[8] <= 1]
    for f in r.element("live").frames:
        assert dpkt.in_cksum(f[:(f[0] & 15) * 4]) == 0
    assert r.element("dt").read("count") == str(sum(f[8] > 1 for f in frames))
    assert r.element("dt").read("drops") == str(sum(f[8] <= 1 for f in frames))


def test_expired_packets_are_dropped_when_output_1_is_unconnected(make_router):
    r = make_router("src :: _DTFrames -> dt :: DecIPTTL -> live :: _DTSink")
    r.initialize()
    r.element("src").send([ip_packet(1), ip_packet(2), ip_packet(0)])
    assert r.element("live").frames == [decremented(ip_packet(2))]
    assert r.element("dt").read("drops") == "2"
    assert r.pool.n_used == 0


def test_multicast_false_passes_multicast_untouched_in_order(make_router):
    frames = [ip_packet(5), ip_packet(5, dst="224.0.0.9"), ip_packet(1, dst="239.1.1.1"),
              ip_packet(1), ip_packet(9)]
    r = make_router(DT.format("MULTICAST false"))
    r.initialize()
    r.element("src").send(frames)
    assert r.element("live").frames == [decremented(frames[0]), frames[1], frames[2],
                                        decremented(frames[4])]
    assert r.element("dead").frames == [frames[3]]


def test_works_on_a_pull_path_and_resets_counts(make_router):
    r = make_router("src :: _DTFrames -> Queue -> dt :: DecIPTTL -> Unqueue -> live :: _DTSink;"
                    "dt[1] -> dead :: _DTSink")
    r.initialize()
    r.element("src").send([ip_packet(64), ip_packet(1)])
    r.run_until_idle()
    assert r.element("live").frames == [decremented(ip_packet(64))]
    assert r.element("dead").frames == [ip_packet(1)]
    dt = r.element("dt")
    assert (dt.read("count"), dt.read("drops")) == ("1", "1")
    dt.write("reset")
    assert (dt.read("count"), dt.read("drops")) == ("0", "0")


def test_ttl_255_and_checksum_wraparound_cases_match_full_recomputation(make_router):
    frames = [ip_packet(255, ident=i * 257, tos=i) for i in range(256)]
    r = make_router(DT.format(""))
    r.initialize()
    r.element("src").send(frames)
    assert r.element("live").frames == [decremented(f) for f in frames]
