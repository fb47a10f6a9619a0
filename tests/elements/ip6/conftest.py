"""IPv6 packets and test elements shared by the tests of elements/ip6 (the
`six` fixture hands the packet builders to a test)."""
import struct
from types import SimpleNamespace

import pytest

from vforward.element import PUSH_ONLY, Element, register


def addr(text):
    import ipaddress
    return ipaddress.IPv6Address(text).packed


def ip6_packet(src="2001:db8:1::2", dst="2001:db8:2::2", hlim=64, nxt=17, payload=b"payload!"):
    return struct.pack("!IHBB", 6 << 28, len(payload), nxt, hlim) + addr(src) + addr(dst) + payload


def udp6(src="2001:db8:1::2", dst="2001:db8:2::2", sport=1000, dport=2000, hlim=64):
    return ip6_packet(src, dst, hlim, 17, struct.pack("!HHHH", sport, dport, 12, 0) + b"data")


class Frames6(Element):
    """_Frames6 -- test source: pushes frames with nh at their start"""
    CLASS_NAME = "_Frames6"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, annotate_dst=False):
        batch = self.router.pool.from_bytes(frames)
        pool = batch.pool
        pool.nh[batch.idx] = pool.off[batch.idx]
        if annotate_dst:
            for s in batch.idx.tolist():
                o = int(pool.off[s])
                pool.dst_ip6[s] = pool.data[s, o + 24:o + 40]
        self.emit(0, batch)


class Sink6(Element):
    """_Sink6 -- test sink keeping bytes and dst_ip6 annotations"""
    CLASS_NAME = "_Sink6"
    PORTS = "1/0"
    PROCESSING = "a/a"

    def configure(self, args):
        args.finish()
        self.frames = []
        self.dst6 = []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        self.dst6 += [batch.pool.dst_ip6[s].tobytes() for s in batch.idx.tolist()]
        batch.kill()


register(Frames6)
register(Sink6)


@pytest.fixture
def six():
    return SimpleNamespace(addr=addr, ip6_packet=ip6_packet, udp6=udp6)
