"""ICMPPingResponder: echo requests become replies dpkt accepts (addresses
swapped, type 0, TTL 255, both checksums right, payload kept); everything else
goes to output 1 unchanged, or is dropped."""
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
    """_PRFrames -- test source: pushes IP frames with nh set to their start"""
    CLASS_NAME = "_PRFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.nh[batch.idx] = batch.pool.off[batch.idx]
        self.emit(0, batch)


class _Sink(Element):
    """_PRSink -- test sink keeping bytes and dst_ip"""
    CLASS_NAME = "_PRSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.frames, self.dst = [], []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        self.dst += batch.pool.dst_ip[batch.idx].tolist()
        batch.kill()


register(_Frames)
register(_Sink)

PR = "src :: _PRFrames -> p :: ICMPPingResponder -> replies :: _PRSink; p[1] -> other :: _PRSink"


def icmp_packet(icmp_type=8, code=0, ident=1, seq=1, data=b"ping", src="10.0.0.1",
                dst="10.0.0.2", opts=b"", df=0, mf=0, offset=0, proto=1) -> bytes:
    icmp = dpkt.icmp.ICMP(type=icmp_type, code=code,
                          data=dpkt.icmp.ICMP.Echo(id=ident, seq=seq, data=data))
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=17,
                    data=bytes(icmp))
    ip.df, ip.mf, ip.offset = df, mf, offset
    if opts:
        ip.opts = opts
        ip.hl = 5 + len(opts) // 4
    return bytes(ip)


def run(frames, config=PR):
    router = Router(build_graph(config), PacketPool(256))
    try:
        router.initialize()
        router.element("src").send(frames)
        assert router.pool.n_used == 0
        return router
    finally:
        router.close()


requests = st.builds(icmp_packet, code=st.integers(0, 255), ident=st.integers(0, 0xFFFF),
                     seq=st.integers(0, 0xFFFF), data=st.binary(max_size=60),
                     src=st.sampled_from(["10.0.0.1", "192.0.2.200", "8.8.8.8"]),
                     opts=st.sampled_from([b"", b"\x01\x01\x01\x00"]), df=st.integers(0, 1))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(requests, min_size=1, max_size=30))
def test_replies_parse_in_dpkt_with_right_fields_and_checksums(frames):
    r = run(frames)
    replies = r.element("replies")
    assert len(replies.frames) == len(frames)
    for req, rep, dst in zip(frames, replies.frames, replies.dst):
        q, a = dpkt.ip.IP(req), dpkt.ip.IP(rep)
        assert (a.src, a.dst) == (q.dst, q.src)
        assert dst == struct.unpack("!I", q.src)[0]
        assert a.ttl == 255 and (a.df, a.mf, a.offset) == (0, 0, 0)
        assert a.id == q.id and a.opts == q.opts
        assert dpkt.in_cksum(rep[:a.hl * 4]) == 0
        icmp = rep[a.hl * 4:]
        assert dpkt.in_cksum(icmp) == 0
        assert a.data.type == 0 and a.data.code == q.data.code
        assert (a.data.data.id, a.data.data.seq, a.data.data.data) == \
            (q.data.data.id, q.data.data.seq, q.data.data.data)
    assert r.element("p").read("count") == str(len(frames))


def test_non_echo_packets_leave_unchanged_on_output_1():
    udp = bytes(dpkt.ip.IP(src=b"\x0a\0\0\1", dst=b"\x0a\0\0\2", p=17, data=b"12345678"))
    others = [icmp_packet(icmp_type=0), icmp_packet(icmp_type=3), udp,
              icmp_packet(mf=1), icmp_packet(offset=8), icmp_packet()[:24]]
    r = run([icmp_packet()] + others)
    assert len(r.element("replies").frames) == 1
    assert r.element("other").frames == others
    assert r.element("p").read("drops") == str(len(others))


def test_non_echo_packets_are_dropped_when_output_1_is_unconnected():
    r = run([icmp_packet(icmp_type=13), icmp_packet()],
            "src :: _PRFrames -> p :: ICMPPingResponder -> replies :: _PRSink")
    assert len(r.element("replies").frames) == 1
    assert r.element("p").read("drops") == "1"


def test_an_all_zero_reply_gets_checksum_ffff_not_0000():
    # RFC 1624 eqn. 3 alone would give 0x0000 for a message of zero bytes only
    r = run([icmp_packet(ident=0, seq=0, data=b""), icmp_packet(ident=0, seq=0, data=bytes(6))])
    assert len(r.element("replies").frames) == 2
    for rep in r.element("replies").frames:
        assert rep[22:24] == b"\xff\xff" and dpkt.in_cksum(rep[20:]) == 0
