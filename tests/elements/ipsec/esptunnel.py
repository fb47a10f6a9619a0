"""Two ESP tunnel gateways as test routers: A (192.0.2.1, hosts 198.51.100.0/24)
and B (192.0.2.2, hosts 203.0.113.0/24), one SA (SPI 234) between them.

Each gateway's graph is Click's ipsec-router.click cut down to the tunnel:
the route table, the outgoing chain to a `wire` sink, the incoming chain to
an `inner` sink, and output 2 (this router's own non-ESP packets) to `host`.
"""
import dpkt
import numpy as np

from vforward.element import PUSH_ONLY, Element, register

SPI = 234
ENC_KEY = "ABCDEFFF001DEFD2354550FE40CD708E"
AUTH_KEY = "112233EE556677888877665544332211"
A, B = "192.0.2.1", "192.0.2.2"
NET_A, NET_B = "198.51.100.0/24", "203.0.113.0/24"

CLICK_ORDER_OUT = "IPsecESPEncap -> IPsecAuthHMACSHA1(0) -> IPsecAES(1)"
CLICK_ORDER_IN = "IPsecAES(0) -> vauth :: IPsecAuthHMACSHA1(1)"
RFC_ORDER_OUT = "IPsecESPEncap -> IPsecAES(1) -> IPsecAuthHMACSHA1(0)"
RFC_ORDER_IN = "vauth :: IPsecAuthHMACSHA1(1) -> IPsecAES(0)"


class _Frames(Element):
    """_ESPFrames -- test source pushing the IP packets a test hands it"""
    CLASS_NAME = "_ESPFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))


class _Sink(Element):
    """_ESPSink -- test sink keeping the bytes of what it receives"""
    CLASS_NAME = "_ESPSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received = []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        batch.kill()


register(_Frames)
register(_Sink)


def gateway_config(me, peer, my_net, peer_net, out_chain=CLICK_ORDER_OUT,
                   in_chain=CLICK_ORDER_IN, replay=1, window=64, spi=SPI, enc=ENC_KEY):
    return f"""
src :: _ESPFrames -> CheckIPHeader -> rt :: RadixIPsecLookup(
    {me}/32 0,
    {peer_net} {peer} 1 {spi} {enc} {AUTH_KEY} {replay} {window},
    {peer}/32 3,
    {my_net} 4);
rt[0] -> StripIPHeader -> {in_chain} -> unencap :: IPsecESPUnencap
      -> CheckIPHeader -> inner :: _ESPSink;
rt[1] -> {out_chain} -> ipencap :: IPsecEncap(50) -> [0]rt;
rt[2] -> host :: _ESPSink;
rt[3] -> FixIPSrc({me}) -> wire :: _ESPSink;
rt[4] -> lan :: _ESPSink;
"""


def gateway(make_router, side="A", **kw):
    """Router for gateway A or B, initialized."""
    args = (A, B, NET_A, NET_B) if side == "A" else (B, A, NET_B, NET_A)
    r = make_router(gateway_config(*args, **kw))
    r.initialize()
    return r


def udp_packet(src, dst, payload: bytes, ttl=64) -> bytes:
    """An IPv4/UDP packet with correct checksums."""
    import socket
    udp = dpkt.udp.UDP(sport=4000, dport=5000, data=payload, ulen=8 + len(payload))
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=17, ttl=ttl,
                    data=udp, id=7)
    ip.len = 20 + len(bytes(udp))
    return bytes(ip)


def through(router, frames, sink="wire"):
    """Push frames into router's source; what its sink got (cleared)."""
    router.element("src").send(frames)
    got = router.element(sink).received
    router.element(sink).received = []
    return got


def random_payloads(n, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, int(rng.integers(0, 1400)), dtype=np.uint8).tobytes()
            for _ in range(n)]
