"""IPAddrRewriter: Basic NAT of source addresses, for any protocol, with
checksums right, address ranges and prefixes, expiry and capacity."""
from __future__ import annotations

import socket

import dpkt
import pytest

from vforward.cext import rewriter_reference
from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError

TCP, UDP, ICMP = 6, 17, 1
PRIV, PRIV2, PRIV3, SERVER = "10.0.0.2", "10.0.0.3", "10.0.0.4", "198.51.100.2"


class _Source(Element):
    """_NATAddrSource -- test source: pushes IP packets with nh at their start"""
    CLASS_NAME = "_NATAddrSource"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.nh[batch.idx] = batch.pool.off[batch.idx]
        self.emit(0, batch)


class _Sink(Element):
    """_NATAddrSink -- test sink keeping bytes and dst_ip annotations"""
    CLASS_NAME = "_NATAddrSink"
    PORTS = "1/0"
    PROCESSING = "a/a"

    def configure(self, args):
        args.finish()
        self.frames, self.dst = [], []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        self.dst += batch.pool.dst_ip[batch.idx].tolist()
        batch.kill()

    def take(self):
        out, self.frames = self.frames, []
        return out


register(_Source)
register(_Sink)


def inet(a):
    return socket.inet_aton(a)


def pkt(proto, src, dst, payload=b"data", offset=0, mf=0, udp_zero=False):
    if proto == TCP:
        data = dpkt.tcp.TCP(sport=1000, dport=80, flags=0x18, data=payload)
    elif proto == UDP:
        data = dpkt.udp.UDP(sport=1000, dport=53, ulen=8 + len(payload), data=payload)
    elif proto == ICMP:
        data = dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=5, seq=1, data=payload))
    else:
        data = payload
    ip = dpkt.ip.IP(src=inet(src), dst=inet(dst), p=proto, ttl=64, id=3, data=data)
    ip.offset, ip.mf = offset, mf
    raw = bytearray(bytes(ip))
    if udp_zero:
        raw[26:28] = b"\0\0"
    return bytes(raw)


def ends(frame):
    return socket.inet_ntoa(frame[12:16]), socket.inet_ntoa(frame[16:20])


CONFIG = ("inside :: _NATAddrSource; outside :: _NATAddrSource;\n"
          "rw :: IPAddrRewriter({specs});\n"
          "inside -> [0]rw; outside -> [1]rw;\n"
          "rw[0] -> out :: _NATAddrSink; rw[1] -> back :: _NATAddrSink;\n")


class BasicNat:
    def __init__(self, make_router, specs="pattern 203.0.113.1-203.0.113.2# - 0 1, drop",
                 impl=None):
        self.router = make_router(CONFIG.format(specs=specs))
        self.rw = self.router.element("rw")
        if impl is not None:
            self.rw.use_kernels(impl)
        self.router.initialize()
        self.clock = 50.0
        self.rw._clock = lambda: self.clock

    def send_in(self, *frames):
        self.router.element("inside").send(list(frames))
        return self.router.element("out").take()

    def send_out(self, *frames):
        self.router.element("outside").send(list(frames))
        return self.router.element("back").take()


@pytest.fixture(params=["kernel", "reference"])
def nat(make_router, request):
    return BasicNat(make_router, impl=rewriter_reference if request.param == "reference"
                    else None)


@pytest.mark.parametrize("proto", [TCP, UDP, ICMP, 47])
def test_source_address_is_mapped_for_any_protocol_and_back(nat, proto):
    out = nat.send_in(pkt(proto, PRIV, SERVER))
    assert out == [pkt(proto, "203.0.113.1", SERVER)]
    back = nat.send_out(pkt(proto, SERVER, "203.0.113.1", b"reply"))
    assert back == [pkt(proto, SERVER, PRIV, b"reply")]
    assert nat.router.element("back").dst == [int.from_bytes(inet(PRIV), "big")]


def test_each_host_gets_its_own_address_until_none_is_left(nat):
    out = nat.send_in(pkt(UDP, PRIV, SERVER), pkt(UDP, PRIV2, SERVER), pkt(UDP, PRIV3, SERVER),
                      pkt(TCP, PRIV, SERVER))
    assert [ends(f)[0] for f in out] == ["203.0.113.1", "203.0.113.2", "203.0.113.1"]
    assert nat.rw.read("mapping_failures") == "1" and nat.rw.read("nmappings") == "2"
    assert nat.rw.read("table") == (
        "10.0.0.2 => 203.0.113.1 [*0 1] i0 exp7200\n203.0.113.1 => 10.0.0.2 [0 *1] i0 exp7200\n"
        "10.0.0.3 => 203.0.113.2 [*0 1] i0 exp7200\n203.0.113.2 => 10.0.0.3 [0 *1] i0 exp7200\n")


def test_fragments_are_rewritten_too(nat):
    later = pkt(UDP, PRIV, SERVER, b"x" * 16, offset=64)
    out = nat.send_in(pkt(UDP, PRIV, SERVER, b"y" * 16, mf=1), later)
    assert [ends(f)[0] for f in out] == ["203.0.113.1"] * 2
    assert out[1][20:] == later[20:] and dpkt.in_cksum(out[1][:20]) == 0


def test_zero_udp_checksum_stays_zero(nat):
    out = nat.send_in(pkt(UDP, PRIV, SERVER, udp_zero=True))
    assert out == [pkt(UDP, "203.0.113.1", SERVER, udp_zero=True)]


def test_unsolicited_inbound_is_dropped_and_broken_headers_counted(nat):
    assert nat.send_out(pkt(UDP, SERVER, "203.0.113.9")) == []
    assert nat.send_out(b"\x45" + b"\0" * 10) == []
    assert nat.rw.read("drop_details").splitlines()[0] == "1\tno mapping"
    assert "1\tmalformed header" in nat.rw.read("drop_details")


def test_prefix_range_skips_network_and_broadcast_addresses(make_router):
    n = BasicNat(make_router, specs="pattern 192.0.2.0/30# - 0 1, drop")
    out = n.send_in(pkt(UDP, PRIV, SERVER), pkt(UDP, PRIV2, SERVER), pkt(UDP, PRIV3, SERVER))
    assert [ends(f)[0] for f in out] == ["192.0.2.1", "192.0.2.2"]


def test_mapping_expires_after_timeout(make_router):
    n = BasicNat(make_router, specs="pattern 203.0.113.1 - 0 1, drop, TIMEOUT 60")
    n.send_in(pkt(UDP, PRIV, SERVER))
    n.clock += 61
    assert n.rw.reap() == 1
    assert len(n.send_in(pkt(UDP, PRIV2, SERVER))) == 1       # the address is free again


def test_destination_must_be_a_dash(make_router):
    with pytest.raises(GraphError, match="destination must be '-'"):
        make_router(CONFIG.format(specs="pattern 1.2.3.4 5.6.7.8 0 1, drop"))
    with pytest.raises(GraphError, match="SADDR DADDR"):
        make_router(CONFIG.format(specs="pattern 1.2.3.4 1024 - 0 1, drop"))
    # Click's 4-field form is taken: its ports are checked, then ignored
    make_router(CONFIG.format(specs="pattern 1.2.3.4 1024 - - 0 1, drop"))


def test_keep_and_pass_specs(make_router):
    n = BasicNat(make_router, specs="keep 0 1, pass 1")
    p = pkt(TCP, PRIV, SERVER)
    assert n.send_in(p) == [p]
    stranger = pkt(TCP, SERVER, "10.9.9.9")
    assert n.send_out(stranger) == [stranger]
