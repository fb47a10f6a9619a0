"""The compiled TAP reader (cext/taprx.pyx) against its plain-Python twin, on real TAPs.

configs/examples/router.click (OFFLOAD false, and true) is built between two
namespaces and initialised, but its loop is not run: the test sends random
mixes of frames into host A's TAP through a packet socket, calls one reader
(compiled or reference) once, and collects what the router wrote to both
TAPs.  Both readers must write the same frames and move the same counters,
whether the batch crosses in the compiled path (transit) or is handed to
the elements (ARP, a ping to the router, TTL 1, a bad checksum, no route,
a frame for another MAC, mixed in one batch).
"""
from __future__ import annotations

import os
import socket
import struct
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vforward import netns as ns
from vforward.cext import taprx, taprx_reference
from vforward.graph import build_graph
from vforward.runtime import Router

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(ROOT, "configs", "examples", "router.click")
ROUTER_MAC, HOST_MAC = bytes.fromhex("02000a010001"), bytes.fromhex("02000a010002")
HOST_A, ROUTER_A, HOST_B = "10.1.0.2", "10.1.0.1", "10.2.0.2"
COUNTERS = [("if1", "count"), ("if1", "tx_count"), ("if2", "tx_count"), ("ttl1", "count"),
            ("ttl2", "count"), ("chk", "drops"), ("if1", "drops"), ("if2", "drops"),
            ("if1", "gso_count")]
PACKET_OUTGOING = 4


def _checksum(b: bytes) -> int:
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _ip(dst: str, proto: int, body: bytes, ttl: int = 64, bad_sum: bool = False) -> bytes:
    h = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 7, 0, ttl, proto, 0,
                              socket.inet_aton(HOST_A), socket.inet_aton(dst)))
    h[10:12] = struct.pack("!H", _checksum(bytes(h)) ^ (0x5555 if bad_sum else 0))
    return bytes(h) + body


def _frame(kind: str, size: int, seq: int) -> bytes:
    payload = bytes((seq + i) & 0xFF for i in range(size))
    udp = struct.pack("!HHHH", 4000 + seq, 9, 8 + len(payload), 0) + payload
    ether = ROUTER_MAC + HOST_MAC + b"\x08\x00"
    if kind == "transit":
        return ether + _ip(HOST_B, 17, udp)
    if kind == "ttl1":
        return ether + _ip(HOST_B, 17, udp, ttl=1)
    if kind == "bad_checksum":
        return ether + _ip(HOST_B, 17, udp, bad_sum=True)
    if kind == "no_route":
        return ether + _ip("192.0.2.9", 17, udp)
    if kind == "ping_router":
        icmp = bytearray(struct.pack("!BBHHH", 8, 0, 0, 0x77, seq) + payload)
        icmp[2:4] = struct.pack("!H", _checksum(bytes(icmp) + b"\0" * (len(icmp) & 1)))
        return ether + _ip(ROUTER_A, 1, bytes(icmp))
    if kind == "other_mac":
        return bytes.fromhex("02000a0100ee") + HOST_MAC + b"\x08\x00" + _ip(HOST_B, 17, udp)
    assert kind == "arp"
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, HOST_MAC, socket.inet_aton(HOST_A),
                      bytes(6), socket.inet_aton(ROUTER_A))
    return b"\xff" * 6 + HOST_MAC + b"\x08\x06" + arp


KINDS = ["transit", "ttl1", "bad_checksum", "no_route", "ping_router", "other_mac", "arp"]
mixes = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(18, 1400)), min_size=1,
                 max_size=6)
transit_only = st.lists(st.tuples(st.just("transit"), st.integers(18, 1472)), min_size=1,
                        max_size=8)


def _packet_socket(space: str, dev: str) -> socket.socket:
    with ns.entered(space):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
    s.bind((dev, 0))
    s.setblocking(False)
    return s


def _received(s: socket.socket) -> list[bytes]:
    """Frames the router wrote to this host's TAP (not the host's own)."""
    out = []
    deadline = time.monotonic() + 0.05
    while time.monotonic() < deadline:
        try:
            data, addr = s.recvfrom(65536)
        except BlockingIOError:
            time.sleep(0.002)
            continue
        if addr[2] != PACKET_OUTGOING:
            out.append(data)
    return out


def _comparable(frame: bytes) -> bytes:
    """The frame without the IP ID and header checksum the router's own
    packets (ICMP errors) take from a running counter."""
    if len(frame) >= 34 and frame[12:14] == b"\x08\x00":
        return frame[:18] + b"\0\0" + frame[20:24] + b"\0\0" + frame[26:]
    return frame


@pytest.fixture(params=["false", "true"], ids=["plain", "offload"])
def bed(netns, tmp_path, request):
    a, b = netns("txa"), netns("txb")
    for space in (a, b):
        ns.run(space, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
               "net.ipv6.conf.default.disable_ipv6=1")
    tag = uuid.uuid4().hex[:6]
    dev_a, dev_b = f"txa{tag}", f"txb{tag}"
    with open(CONFIG) as f:
        router = Router(build_graph(f.read(), CONFIG, {
            "NS1": a, "NS2": b, "DEV1": dev_a, "DEV2": dev_b, "OFFLOAD": request.param,
            "CTL": str(tmp_path / "ctl.sock")}))
    router.initialize()
    try:
        el = router.elements
        el["arpq1"].write("insert", "10.1.0.2 02:00:0a:01:00:02")
        el["arpq2"].write("insert", "10.2.0.2 02:00:0a:02:00:02")
        for space, dev in ((a, dev_a), (b, dev_b)):
            ns.ip("link", "set", dev, "multicast", "off", netns=space)
            ns.ip("neigh", "replace", ROUTER_A if space == a else "10.2.0.1", "lladdr",
                  "02:00:0a:01:00:01" if space == a else "02:00:0a:02:00:01", "dev", dev,
                  "nud", "permanent", netns=space)
        sock_a, sock_b = _packet_socket(a, dev_a), _packet_socket(b, dev_b)
        yield router, sock_a, sock_b
    finally:
        router.close()


def _reference_reader(router):
    from vforward.elements.io.kerneltun import KernelTun
    from vforward.elements.ip.fusedforward import FusedForward
    from vforward.elements.ip.fusedinput import FusedInput
    from vforward.packet import Batch
    from vforward import kernels
    tap = router.elements["if1"]
    return taprx_reference.TapReceive(tap, router.pool, tap._read_burst, {
        "fused_input": FusedInput, "fused_forward": FusedForward, "sink": KernelTun,
        "sink_push": KernelTun.push, "batch": Batch,
        "forward_to_port": kernels.load("ipforward").forward_to_port})


def _run(router, reader, sock_a, sock_b, frames):
    el = router.elements
    _received(sock_a)                   # nothing left over from the last example
    _received(sock_b)
    el["if2"].io.drain(el["if2"]._dev.fd, 1000)     # what host B's kernel sent back
    before = {c: int(el[c[0]].read(c[1])) for c in COUNTERS}
    written = reader.written
    for f in frames:
        sock_a.send(f)
    reader()
    after = {c: int(el[c[0]].read(c[1])) - before[c] for c in COUNTERS}
    out_a = sorted(_comparable(f) for f in _received(sock_a))
    out_b = sorted(_received(sock_b))
    return out_a, out_b, after, reader.written - written


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(mix=st.one_of(mixes, transit_only))
def test_the_compiled_reader_writes_and_counts_what_its_reference_does(bed, mix):
    router, sock_a, sock_b = bed
    compiled = router.elements["if1"]._rx
    assert isinstance(compiled, taprx.TapReceive)
    reference = _reference_reader(router)
    frames = [_frame(kind, size, i) for i, (kind, size) in enumerate(mix)]
    got = _run(router, compiled, sock_a, sock_b, frames)
    want = _run(router, reference, sock_a, sock_b, frames)
    assert got == want
    out_a, out_b, counts, took_path = got
    assert counts[("if1", "count")] == len(frames)
    if all(kind == "transit" for kind, _ in mix):
        assert took_path == 1 and len(out_b) == len(frames)
        assert all(f[22] == 63 for f in out_b)          # TTL decremented
    else:
        assert took_path == 0
