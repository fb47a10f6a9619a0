"""SetIPChecksum: every header checksum equals dpkt's; packets without a whole
header at nh are dropped and counted."""
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
    """_SICFrames -- test source: pushes frames with nh at a given offset"""
    CLASS_NAME = "_SICFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, nh=0):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.nh[batch.idx] = batch.pool.off[batch.idx] + nh
        self.emit(0, batch)


class _Sink(Element):
    """_SICSink -- test sink keeping bytes"""
    CLASS_NAME = "_SICSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.frames = []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        batch.kill()


register(_Frames)
register(_Sink)


def dpkt_checksummed(frame: bytes, nh: int) -> bytes:
    """frame with the IP header at nh checksummed by dpkt from scratch."""
    hl = (frame[nh] & 0x0F) * 4
    header = frame[nh:nh + 10] + b"\0\0" + frame[nh + 12:nh + hl]
    return frame[:nh + 10] + struct.pack("!H", dpkt.in_cksum(header)) + frame[nh + 12:]


def has_whole_header(frame: bytes, nh: int) -> bool:
    return len(frame) >= nh + 20 and 20 <= (frame[nh] & 0x0F) * 4 <= len(frame) - nh


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(min_size=0, max_size=90), min_size=1, max_size=30),
       st.sampled_from([0, 14]))
def test_checksums_match_dpkt_and_headerless_packets_are_dropped(frames, nh):
    frames = [bytes(nh) + (bytes([0x45 if i % 3 else f[0] if f else 0]) + f[1:] if f else f)
              for i, f in enumerate(frames)]
    router = Router(build_graph("src :: _SICFrames -> s :: SetIPChecksum -> sink :: _SICSink"),
                    PacketPool(64))
    try:
        router.initialize()
        router.element("src").send(frames, nh=nh)
        kept = [f for f in frames if has_whole_header(f, nh)]
        assert router.element("sink").frames == [dpkt_checksummed(f, nh) for f in kept]
        assert router.element("s").read("drops") == str(len(frames) - len(kept))
        assert router.pool.n_used == 0
    finally:
        router.close()


def test_a_real_packet_gets_the_checksum_dpkt_would_write(make_router):
    ip = dpkt.ip.IP(src=socket.inet_aton("10.0.0.1"), dst=socket.inet_aton("10.0.0.2"), p=17,
                    data=b"abc", opts=b"\x01\x01\x01\x00")
    ip.hl = 6
    good = bytes(ip)
    broken = good[:10] + b"\x12\x34" + good[12:]
    r = make_router("src :: _SICFrames -> SetIPChecksum -> sink :: _SICSink")
    r.initialize()
    r.element("src").send([broken])
    assert r.element("sink").frames == [good]
