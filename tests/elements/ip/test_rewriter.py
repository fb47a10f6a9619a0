"""Rewriter: Click 1's address-pair rewriter -- a fake source per conversation, back again."""
import socket
import struct

import dpkt
import pytest

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError

FAKENET, LOCAL = "10.0.0.0", "198.51.100.47"


class _RwSource(Element):
    """_RwSource -- test source: pushes IP packets, no header annotation (as Click 1)"""
    CLASS_NAME = "_RwSource"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))


class _RwSink(Element):
    """_RwSink -- test sink keeping bytes and destination annotations"""
    CLASS_NAME = "_RwSink"
    PORTS = "1/0"
    PROCESSING = "a/a"

    def configure(self, args):
        args.finish()
        self.frames, self.dst = [], []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        self.dst += [socket.inet_ntoa(struct.pack("!I", d))
                     for d in batch.pool.dst_ip[batch.idx].tolist()]
        batch.kill()


register(_RwSource)
register(_RwSink)


def ip(src, dst, proto=17, udp_zero=False):
    if proto == 6:
        data = dpkt.tcp.TCP(sport=1000, dport=80, seq=1, flags=0x02, data=b"hi")
    elif proto == 1:
        data = dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=3, seq=1, data=b"x"))
    else:
        data = dpkt.udp.UDP(sport=1000, dport=53, ulen=10, data=b"hi")
    raw = bytearray(bytes(dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst),
                                     p=proto, ttl=64, data=data)))
    if udp_zero:
        raw[26:28] = b"\0\0"
    return bytes(raw)


def addresses(frame):
    return socket.inet_ntoa(frame[12:16]), socket.inet_ntoa(frame[16:20])


def checksums_ok(frame):
    if dpkt.in_cksum(frame[:20]):
        return False
    proto, seg = frame[9], frame[20:]
    if proto == 17 and seg[6:8] == b"\0\0":
        return True
    if proto in (6, 17):
        return dpkt.in_cksum(frame[12:20] + struct.pack("!BBH", 0, proto, len(seg)) + seg) == 0
    return dpkt.in_cksum(seg) == 0


@pytest.fixture
def rw(make_router):
    r = make_router(f"rw :: Rewriter({FAKENET}, {LOCAL}, 10);\n"
                    "fwd :: _RwSource -> [0]rw[0] -> out :: _RwSink;\n"
                    "rev :: _RwSource -> [1]rw[1] -> back :: _RwSink;")
    r.initialize()
    return r


@pytest.mark.parametrize("proto", [6, 17, 1])
def test_each_address_pair_gets_its_own_fake_source_and_replies_come_back(rw, proto):
    rw.element("fwd").send([ip("192.0.2.1", "192.0.2.9", proto),
                            ip("192.0.2.2", "192.0.2.9", proto),
                            ip("192.0.2.1", "192.0.2.9", proto)])
    out = rw.element("out").frames
    assert [addresses(f) for f in out] == [("10.0.0.1", LOCAL), ("10.0.0.2", LOCAL),
                                           ("10.0.0.1", LOCAL)]
    assert all(checksums_ok(f) for f in out)
    rw.element("rev").send([ip(LOCAL, "10.0.0.2", proto)])
    (back,) = rw.element("back").frames
    assert addresses(back) == ("192.0.2.9", "192.0.2.2") and checksums_ok(back)
    assert rw.element("back").dst == ["192.0.2.2"]
    assert rw.element("rw").read("rewrite_table").splitlines() == [
        f"192.0.2.1/192.0.2.9 -> 10.0.0.1/{LOCAL}", f"192.0.2.2/192.0.2.9 -> 10.0.0.2/{LOCAL}"]


def test_unknown_fake_addresses_and_other_protocols_are_dropped(rw):
    rw.element("rev").send([ip(LOCAL, "10.0.0.5")])
    rw.element("fwd").send([ip("192.0.2.1", "192.0.2.9", proto=47)])
    assert rw.element("back").frames == [] and rw.element("out").frames == []
    assert rw.element("rw").read("drops") == "2" and rw.pool.n_used == 0


def test_a_zero_udp_checksum_stays_zero(rw):
    rw.element("fwd").send([ip("192.0.2.1", "192.0.2.9", udp_zero=True)])
    (out,) = rw.element("out").frames
    assert out[26:28] == b"\0\0" and dpkt.in_cksum(out[:20]) == 0


def test_63_pairs_fill_the_table_and_idle_pairs_are_forgotten_after_a_period(rw):
    e = rw.element("rw")
    rw.element("fwd").send([ip(f"192.0.2.{n}", "192.0.2.200") for n in range(1, 65)])
    assert len(rw.element("out").frames) == 63 and e.read("drops") == "1"
    e._forget_idle()                 # a period in which pair 1 alone was used
    e.used.clear()
    rw.element("rev").send([ip(LOCAL, "10.0.0.1")])
    e._forget_idle()
    assert e.read("rewrite_table").splitlines() == [f"192.0.2.1/192.0.2.200 -> 10.0.0.1/{LOCAL}"]


def test_a_bad_period_is_refused(make_router):
    with pytest.raises(GraphError, match="PERIOD: the cleanup period must be a positive"):
        make_router("Idle -> rw :: Rewriter(10.0.0.0, 1.2.3.4, 0) -> Discard; Idle -> [1]rw[1] "
                    "-> Discard")
