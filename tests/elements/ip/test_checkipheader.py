"""CheckIPHeader: accepts exactly the packets a dpkt-based model calls valid, counts
the rest per reason in Click's words, sets nh and dst_ip, cuts padding."""
import socket
import struct

import dpkt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError, build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router

TINY, VERSION, HLEN, LENGTH, CHECKSUM, SADDR = (
    "tiny packet", "bad IP version", "bad IP header length", "bad IP length",
    "bad IP checksum", "bad source address")
REASONS = (TINY, VERSION, HLEN, LENGTH, CHECKSUM, SADDR)


class _Frames(Element):
    """_CIHFrames -- test source pushing the frames a test hands it"""
    CLASS_NAME = "_CIHFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))


class _Sink(Element):
    """_CIHSink -- test sink keeping bytes, dst_ip and nh (relative to the packet start)"""
    CLASS_NAME = "_CIHSink"
    PORTS = "1/0"
    PROCESSING = "a/a"

    def configure(self, args):
        args.finish()
        self.frames, self.dst, self.nh = [], [], []

    def push(self, port, batch):
        pool = batch.pool
        self.frames += batch.to_bytes()
        self.dst += pool.dst_ip[batch.idx].tolist()
        self.nh += (pool.nh[batch.idx].astype(int) - pool.off[batch.idx]).tolist()
        batch.kill()


register(_Frames)
register(_Sink)


# -- the model ------------------------------------------------------------------
def model(frame: bytes, offset=0, checksum=True):
    """Click's verdict on frame, reading the header with dpkt: a reason, or None."""
    b = frame[offset:]
    if len(b) < 20:
        return TINY
    try:
        ip = dpkt.ip.IP(b)
    except dpkt.UnpackError:          # dpkt refuses header lengths below 20 bytes
        return VERSION if b[0] >> 4 != 4 else HLEN
    hlen = ip.hl * 4
    if ip.v != 4:
        return VERSION
    if hlen < 20 or hlen > len(b):
        return HLEN
    if not hlen <= ip.len <= len(b):
        return LENGTH
    if checksum and dpkt.in_cksum(b[:hlen]) != 0:
        return CHECKSUM
    src = struct.unpack("!I", ip.src)[0]
    if src == 0xFFFFFFFF or src >> 28 == 0xE:
        return SADDR
    return None


def good_form(frame: bytes, offset=0):
    """(bytes cut to the IP length, dst as an integer) of a valid frame."""
    ip = dpkt.ip.IP(frame[offset:])
    return frame[:offset + ip.len], struct.unpack("!I", ip.dst)[0]


def ip_packet(src="10.0.0.1", dst="10.0.0.2", proto=17, payload=b"payload", opts=b"",
              ttl=64) -> bytes:
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=proto, ttl=ttl,
                    data=payload)
    if opts:
        ip.opts = opts
        ip.hl = 5 + len(opts) // 4
    return bytes(ip)


def fix_checksum(p: bytes) -> bytes:
    hl = (p[0] & 0x0F) * 4
    h = p[:10] + b"\0\0" + p[12:hl]
    return p[:10] + struct.pack("!H", dpkt.in_cksum(h)) + p[12:]


# -- random frames -----------------------------------------------------------------
addr = st.integers(0, 0xFFFFFFFF).map(lambda a: socket.inet_ntoa(struct.pack("!I", a)))
valid_packets = st.builds(
    ip_packet, src=addr, dst=addr, proto=st.sampled_from([1, 6, 17, 47]),
    payload=st.binary(max_size=80),
    opts=st.sampled_from([b"", b"\x01\x01\x01\x00", b"\x94\x04\x00\x00" * 2]))


@st.composite
def frames(draw):
    """A valid packet, often broken in one of the ways CheckIPHeader checks."""
    p = bytearray(draw(valid_packets))
    kind = draw(st.sampled_from(["ok", "ok", "truncate", "pad", "byte", "version", "hl", "len",
                                 "checksum", "src", "src"]))
    if kind == "truncate":
        p = p[:draw(st.integers(0, len(p) - 1))]
    elif kind == "pad":
        p += draw(st.binary(min_size=1, max_size=20))
    elif kind == "byte":
        i = draw(st.integers(0, min(len(p), 24) - 1))
        p[i] = draw(st.integers(0, 255))
    elif kind == "version":
        p[0] = (draw(st.integers(0, 15)) << 4) | (p[0] & 0x0F)
        p = bytearray(fix_checksum(bytes(p)))
    elif kind == "hl":
        p[0] = 0x40 | draw(st.integers(0, 15))
        p = bytearray(fix_checksum(bytes(p))) if (p[0] & 0xF) * 4 <= len(p) else p
    elif kind == "len":
        p[2:4] = struct.pack("!H", draw(st.integers(0, len(p) + 40)))
        p = bytearray(fix_checksum(bytes(p)))
    elif kind == "checksum":
        p[10] ^= draw(st.integers(1, 255))
    elif kind == "src":
        p[12:16] = struct.pack("!I", draw(st.sampled_from([0xFFFFFFFF, 0xE0000001, 0xEFFFFFFF])))
        p = bytearray(fix_checksum(bytes(p)))
    return bytes(p)


def run(config: str, batch):
    router = Router(build_graph(config, "test.click"), PacketPool(512))
    try:
        router.initialize()
        router.element("src").send(batch)
        assert router.pool.n_used == 0, "CheckIPHeader leaked packet slots"
        return router
    finally:
        router.close()


CHECK = ("src :: _CIHFrames -> c :: CheckIPHeader({args}) -> good :: _CIHSink;"
         "c[1] -> bad :: _CIHSink")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(frames(), min_size=1, max_size=40), st.sampled_from([0, 14]), st.booleans())
def test_accepts_exactly_the_packets_the_dpkt_model_accepts(batch, offset, checksum):
    batch = [b"\xee" * offset + f for f in batch]
    r = run(CHECK.format(args=f"{offset}, CHECKSUM {str(checksum).lower()}"), batch)
    verdicts = [model(f, offset, checksum) for f in batch]
    valid = [f for f, v in zip(batch, verdicts) if v is None]
    good, bad = r.element("good"), r.element("bad")
    assert good.frames == [good_form(f, offset)[0] for f in valid]
    assert good.dst == [good_form(f, offset)[1] for f in valid]
    assert good.nh == [offset] * len(valid)
    assert bad.frames == [f for f, v in zip(batch, verdicts) if v is not None]
    c = r.element("c")
    assert c.read("drops") == str(len(bad.frames))
    expected = "".join(f"{sum(v == reason for v in verdicts)}\t{reason}\n" for reason in REASONS)
    assert c.read("drop_details") == expected


def test_bad_packets_are_dropped_when_output_1_is_unconnected(make_router):
    r = make_router("src :: _CIHFrames -> c :: CheckIPHeader -> good :: _CIHSink")
    r.initialize()
    ok = ip_packet()
    r.element("src").send([ok, b"\x45short", ok[:10] + b"\0\0" + ok[12:]])
    assert r.element("good").frames == [ok]
    assert r.element("c").read("drops") == "2"
    assert r.element("c").read("drop_details").splitlines()[0] == "1\ttiny packet"
    assert r.pool.n_used == 0


def test_works_on_a_pull_path_with_bad_packets_pushed_out_of_output_1(make_router):
    r = make_router("src :: _CIHFrames -> Queue -> c :: CheckIPHeader -> Unqueue "
                    "-> good :: _CIHSink;"
                    "c[1] -> bad :: _CIHSink")
    r.initialize()
    ok = ip_packet()
    r.element("src").send([ok, b"x" * 30, ok])
    r.run_until_idle()
    assert r.element("c").input_processing == ["l"]
    assert r.element("good").frames == [ok, ok]
    assert r.element("bad").frames == [b"x" * 30]


def test_cuts_link_padding_to_the_ip_length_and_sets_annotations(make_router):
    r = make_router(CHECK.format(args="OFFSET 14"))
    r.initialize()
    eth = bytes(12) + b"\x08\x00"
    p = ip_packet(dst="192.0.2.7")
    r.element("src").send([eth + p + b"\0" * 6])
    good = r.element("good")
    assert good.frames == [eth + p]
    assert good.dst == [0xC0000207] and good.nh == [14]


def test_interfaces_make_subnet_broadcasts_bad_sources_except_to_the_router(make_router):
    r = make_router(CHECK.format(args="INTERFACES 18.26.4.9/24 10.0.0.1/30"))
    r.initialize()
    frames_ = [ip_packet(src="18.26.4.255"), ip_packet(src="10.0.0.3"), ip_packet(src="0.0.0.0"),
               ip_packet(src="18.26.4.255", dst="18.26.4.9"), ip_packet(src="18.26.4.7")]
    r.element("src").send(frames_)
    assert r.element("good").frames == frames_[3:]
    assert r.element("bad").frames == frames_[:3]
    assert r.element("c").read("drop_details").splitlines()[-1] == "3\tbad source address"


def test_badsrc_and_gooddst_lists(make_router):
    r = make_router(CHECK.format(args="BADSRC 1.2.3.4 5.6.7.8, GOODDST 9.9.9.9"))
    r.initialize()
    frames_ = [ip_packet(src="1.2.3.4"), ip_packet(src="5.6.7.8", dst="9.9.9.9"),
               ip_packet(src="1.2.3.5")]
    r.element("src").send(frames_)
    assert r.element("bad").frames == frames_[:1]
    assert r.element("good").frames == frames_[1:]


def test_old_badsrc_positional_syntax_adds_zero_and_broadcast(make_router):
    r = make_router(CHECK.format(args="1.2.3.4, 0"))
    r.initialize()
    frames_ = [ip_packet(src="1.2.3.4"), ip_packet(src="0.0.0.0"), ip_packet(src="4.3.2.1")]
    r.element("src").send(frames_)
    assert r.element("good").frames == frames_[2:]


def test_verbose_prints_every_failure_and_quiet_only_the_first(make_router, capfd):
    r = make_router(CHECK.format(args=""))
    r.initialize()
    r.element("src").send([b"a", b"b"])
    r.element("src").send([b"c"])
    assert capfd.readouterr().err.count("IP header check failed: tiny packet") == 1
    r = make_router(CHECK.format(args="VERBOSE true"))
    r.initialize()
    r.element("src").send([b"a", b"b"])
    assert capfd.readouterr().err.count("IP header check failed: tiny packet") == 2


@pytest.mark.parametrize("args, message", [
    ("INTERFACES 1.2.3.4/24, BADSRC 1.1.1.1", "INTERFACES or BADSRC/GOODDST, not both"),
    ("BADSRC 1.2.3", "argument BADSRC: expected an IPv4 address"),
    ("OFFSET -3", "argument OFFSET"),
    ("CHECKSUM maybe", "argument CHECKSUM: expected true or false"),
])
def test_bad_arguments_are_graph_errors_naming_the_argument(make_router, args, message):
    with pytest.raises(GraphError, match=message):
        make_router(CHECK.format(args=args))


def test_a_big_random_batch_agrees_with_the_model(make_router):
    rng = np.random.default_rng(7)
    base = [ip_packet(src=f"10.{i % 250}.0.1", payload=bytes(i % 60)) for i in range(1500)]
    batch = []
    for p in base:
        p = bytearray(p)
        for _ in range(rng.integers(0, 3)):
            p[rng.integers(0, 20)] = rng.integers(0, 256)
        batch.append(bytes(p[:rng.integers(0, len(p) + 1)] if rng.random() < 0.1 else p))
    r = make_router(CHECK.format(args=""))
    r.initialize()
    r.element("src").send(batch)
    valid = [f for f in batch if model(f) is None]
    assert 300 < len(valid) < 1400
    assert r.element("good").frames == [good_form(f)[0] for f in valid]
    assert r.pool.n_used == 0
