"""StripIPHeader / UnstripIPHeader: packets start at their transport header, and back."""
import struct

from vforward.element import PUSH_ONLY, Element, register


class _IPFrames(Element):
    """_IPFrames -- test source: Ethernet frames with nh at byte 14"""
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.nh[batch.idx] = batch.pool.off[batch.idx] + 14
        self.emit(0, batch)


class _Keep(Element):
    """_Keep -- test sink keeping packet bytes"""
    PORTS = "1/0"
    PROCESSING = "a/a"

    def configure(self, args):
        args.finish()
        self.frames = []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        batch.kill()


register(_IPFrames)
register(_Keep)


def frame(ihl=5, payload=b"UDPHDR..data"):
    ip = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, 4 * ihl + len(payload), 0, 0, 64, 17, 0,
                     bytes(4), bytes(4)) + bytes(4 * ihl - 20)
    return bytes(14) + ip + payload


def test_strip_removes_ethernet_and_ip_header_with_options_and_unstrip_restores(make_router):
    r = make_router("src :: _IPFrames -> StripIPHeader -> a :: Tee -> k1 :: _Keep;"
                    "a[1] -> UnstripIPHeader -> k2 :: _Keep")
    r.initialize()
    f5, f7 = frame(5), frame(7)
    r.element("src").send([f5, f7, bytes(20)])
    assert r.element("k1").frames == [b"UDPHDR..data", b"UDPHDR..data", bytes(20)]
    assert r.element("k2").frames == [f5[14:], f7[14:], bytes(20)]
