"""KernelTap and KernelTun on real devices in real namespaces.

Each test builds a small graph whose devices live in fresh namespaces, runs
the router in a background thread (its devices are opened by
`router.initialize()` in the test's thread, so setup errors surface there),
sends real traffic with ping and checks what came through and the counters.
"""
import asyncio
import errno
import os
import signal
import struct
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.args import ArgumentError
from vforward.cext import tapio
from vforward.element import PUSH_ONLY, Element, register
from vforward.elements.io.burstwriter import BurstWriter
from vforward.graph import GraphError


def _dev(tag):
    """A device name unique to this test run (15 characters at most)."""
    return f"{tag}{uuid.uuid4().hex[:8]}"


def ping(netns_name, address, count=3):
    p = ns.run(netns_name, "ping", "-c", str(count), "-i", "0.05", "-W", "2", "-n", address,
               check=False)
    return p.returncode == 0, p.stdout + p.stderr


def link_exists(netns_name, dev):
    return ns.ip("link", "show", "dev", dev, netns=netns_name, check=False) != ""


@pytest.mark.parametrize("tap", ["KernelTap(", "KernelTun(TAP true, ADDR "])
def test_kerneltap_bridge_carries_arp_and_ping_between_namespaces(make_router, netns, tap, running):
    left, right = netns("tl"), netns("tr")
    ta, tb = _dev("ta"), _dev("tb")
    r = make_router(f"a :: {tap}10.71.0.1/24, NETNS {left}, DEVNAME {ta}, "
                    f"ETHER 02:00:00:00:71:01);"
                    f"b :: {tap}10.71.0.2/24, NETNS {right}, DEVNAME {tb});"
                    "a -> b; b -> a;")
    with running(r):
        ok, out = ping(left, "10.71.0.2")
        assert ok, out
        neigh = ns.ip("neigh", "show", "10.71.0.1", netns=right)
        assert "02:00:00:00:71:01" in neigh   # ETHER set the left device's MAC
    a, b = r.element("a"), r.element("b")
    assert int(a.read("count")) >= 4          # an ARP request or reply and 3 echo requests
    assert a.read("count") == b.read("tx_count")
    assert b.read("count") == a.read("tx_count")
    assert a.read("drops") == b.read("drops") == "0"
    assert a.read("dev_name") == ta and a.read("address") == "10.71.0.1/24"
    assert r.pool.n_used == 0


def test_device_disappears_when_the_router_closes(make_router, netns):
    space = netns("tc")
    name = _dev("tc")
    r = make_router(f"t :: KernelTap(10.72.0.1/24, NETNS {space}, DEVNAME {name}) -> Discard;")
    r.initialize()
    assert link_exists(space, name)
    assert "10.72.0.1/24" in ns.ip("addr", "show", "dev", name, netns=space)
    r.close()
    assert not link_exists(space, name)


def test_default_names_are_free_vf_tap_and_vf_tun_devices(make_router, netns):
    space = netns("td")
    r = make_router(f"a :: KernelTap(10.73.0.1/24, NETNS {space}) -> Discard;"
                    f"b :: KernelTap(10.73.1.1/24, NETNS {space}) -> Discard;"
                    f"c :: KernelTun(10.73.2.1/24, NETNS {space}) -> Discard;")
    r.initialize()
    names = [r.element(n).read("dev_name") for n in "abc"]
    assert names[0].startswith("vf-tap") and names[1].startswith("vf-tap")
    assert names[0] != names[1]
    assert names[2].startswith("vf-tun")
    assert all(link_exists(space, n) for n in names)


def test_kerneltun_routes_ping_between_namespaces_with_gateways(make_router, netns, running):
    left, right = netns("ul"), netns("ur")
    ua, ub = _dev("ua"), _dev("ub")
    r = make_router(f"a :: KernelTun(10.74.1.1/24, 10.74.1.254, NETNS {left}, DEVNAME {ua});"
                    f"b :: KernelTun(10.74.2.1/24, GATEWAY 10.74.2.254, NETNS {right}, "
                    f"DEVNAME {ub}, MTU 1400);"
                    "a[0] -> b; b[0] -> a; a[1] -> Discard; b[1] -> Discard;")
    with running(r):
        ok, out = ping(left, "10.74.2.1")
        assert ok, out
        assert "default via 10.74.1.254" in ns.ip("route", netns=left)
        assert "mtu 1400" in ns.ip("link", "show", "dev", ub, netns=right)
    a, b = r.element("a"), r.element("b")
    assert int(a.read("count")) >= 3 and a.read("count") == b.read("tx_count")
    assert int(b.read("count")) >= 3 and b.read("count") == a.read("tx_count")


class _Keep(Element):
    """_TunKeep -- keeps (bytes, nh - off, ts_ns) of what it receives"""
    CLASS_NAME = "_TunKeep"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.got = []

    def push(self, port, batch):
        p = batch.pool
        self.got += [(p.packet_bytes(int(s)), int(p.nh[s]) - int(p.off[s]), int(p.ts_ns[s]))
                     for s in batch.idx]
        batch.kill()


register(_Keep)


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _echo_request(src: bytes, dst: bytes, ident: int) -> bytes:
    icmp = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"vforward" * 4
    icmp = icmp[:2] + struct.pack("!H", _checksum(icmp)) + icmp[4:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0x4000, 64, 1, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
    return ip + icmp


def test_kerneltun_emits_ip_with_network_header_and_timestamp(make_router, netns, running):
    space = netns("ue")
    r = make_router(f"t :: KernelTun(10.75.0.1/24, NETNS {space}) -> k :: _TunKeep;")
    with running(r):      # no one answers: the echo requests just leave through the device
        ns.run(space, "ping", "-c", "2", "-i", "0.05", "-W", "0.3", "10.75.0.9", check=False)
    got = [g for g in r.element("k").got if g[0][0] >> 4 == 4]
    assert len(got) >= 2
    for frame, nh, ts in got:
        assert frame[16:20] == bytes([10, 75, 0, 9])     # destination
        assert nh == 0 and ts > 0


def test_kerneltun_writes_from_the_network_header_and_drops_non_ip(make_router, netns, running):
    space = netns("uw")
    r = make_router(f"s :: Idle -> t :: KernelTun(10.79.0.1/24, NETNS {space}) -> k :: _TunKeep;")
    with running(r):
        pool = r.pool
        request = _echo_request(bytes([10, 79, 0, 2]), bytes([10, 79, 0, 1]), 0x5151)
        batch = pool.from_bytes([b"E" * 14 + request, b"\x00" * 40])
        pool.nh[batch.idx[0]] = pool.off[batch.idx[0]] + 14   # an IP header after a link header
        t = r.element("t")
        r.loop.call_soon_threadsafe(t.push, 0, batch)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not any(
                g[0][20] == 0 and g[0][24:26] == b"\x51\x51" for g in r.element("k").got):
            time.sleep(0.02)
    replies = [g[0] for g in r.element("k").got if g[0][20] == 0 and g[0][24:26] == b"\x51\x51"]
    assert replies and replies[0][12:20] == bytes([10, 79, 0, 1, 10, 79, 0, 2])
    assert t.read("tx_count") == "1" and t.read("drops") == "1"   # the zeros are not IP


def test_pull_input_writes_whatever_the_queue_holds(make_router, netns, running):
    left, right = netns("ql"), netns("qr")
    qa, qb = _dev("qa"), _dev("qb")
    r = make_router(f"a :: KernelTap(10.76.0.1/24, NETNS {left}, DEVNAME {qa}, BURST 4);"
                    f"b :: KernelTap(10.76.0.2/24, NETNS {right}, DEVNAME {qb}, BURST 4);"
                    "a -> Queue(50) -> b; b -> Queue(50) -> a;")
    with running(r):
        ok, out = ping(left, "10.76.0.2", count=4)
        assert ok, out
    a, b = r.element("a"), r.element("b")
    assert a.input_processing == ["l"]
    assert int(a.read("count")) >= 5 and a.read("count") == b.read("tx_count")
    assert r.pool.n_used == 0


def test_kerneltap_drops_runts_and_frames_longer_than_mtu(make_router, netns):
    space = netns("tm")
    r = make_router(f"s :: Idle -> t :: KernelTap(10.77.0.1/24, NETNS {space}, MTU 576) -> Discard;")
    r.initialize()
    t = r.element("t")
    frame = bytes(6) + bytes.fromhex("020000000001") + b"\x88\xb5"
    t.push(0, r.pool.from_bytes([frame + bytes(100), frame[:10], frame + bytes(581),
                                 frame + bytes(576)]))
    assert t.read("tx_count") == "2" and t.read("drops") == "2"   # MTU + 14 + one VLAN tag
    assert r.pool.n_used == 0


def test_frames_are_thrown_away_not_spun_on_when_the_pool_is_empty(make_router, netns, running):
    space = netns("te")
    r = make_router(f"t :: KernelTap(10.80.0.1/24, NETNS {space}) -> Discard;", n_slots=64)
    held = r.pool.alloc(64)                              # some element keeps every packet
    with running(r):
        # An ARP request for .9 leaves the kernel; no answer comes.
        ns.run(space, "ping", "-c", "1", "-W", "0.5", "10.80.0.9", check=False)
    t = r.element("t")
    assert int(t.read("rx_drops")) >= 1 and t.read("count") == "0"
    held.kill()


# -- configuration errors: no device is touched --------------------------------------

def test_the_same_device_twice_is_a_graph_error(make_router):
    with pytest.raises(GraphError, match="uses device 'x0'"):
        make_router("a :: KernelTap(10.0.0.1/24, DEVNAME x0) -> b :: KernelTap(10.0.1.1/24, "
                    "DEVNAME x0) -> a;")
    make_router("a :: KernelTap(10.0.0.1/24, DEVNAME x0, NETNS n1) -> "
                "b :: KernelTap(10.0.1.1/24, DEVNAME x0, NETNS n2) -> a;")


@pytest.mark.parametrize("config,message", [
    ("KernelTap(10.0.0.1/24, 10.0.1.1)", "not inside ADDR/MASK"),
    ("KernelTun(10.0.0.1/24, DEVNAME abcdefghijklmnop)", "1 to 15 characters"),
    ("KernelTun(10.0.0.1/24, MTU 20)", "MTU"),
    ("KernelTap(10.0.0.1/24, TAP true)", "unknown keyword TAP"),
    ("KernelTun(nonsense)", "IPv4 address"),
])
def test_bad_arguments_are_explained(make_router, config, message):
    with pytest.raises((GraphError, ArgumentError), match=message):
        make_router(f"{config} -> Discard;")


def test_click_forms_of_addr_mask_are_accepted(make_router):
    r = make_router("a :: KernelTun(10.0.0.1 255.255.0.0, HEADROOM 64) -> Discard;"
                    "b :: KernelTun(10.1.0.1/255.255.255.0, DEV_GATEWAY 10.1.0.9, TAP true) "
                    "-> Discard;")
    assert r.element("a").read("address") == "10.0.0.1/16"
    assert r.element("b").read("address") == "10.1.0.1/24"
    assert r.element("b").tap and r.element("b").gateway


# -- the writer's back-pressure, on a packet-mode pipe that fills after 16 writes --------

def test_burst_writer_holds_what_the_kernel_refuses_and_resumes(make_router):
    router = make_router("Idle -> Discard;")
    router.initialize()
    pool = router.pool
    r, w = os.pipe2(os.O_NONBLOCK | os.O_DIRECT)
    drained = []
    try:
        writer = BurstWriter(router, w, tapio, capacity=20, on_drained=lambda: drained.append(1))
        frames = [i.to_bytes(2, "big") * 50 for i in range(60)]
        writer.send(pool.from_bytes(frames))
        assert writer.blocked
        assert writer.sent == 16 and writer.backlog_length == 20 and writer.drops == 24
        writer.send(pool.from_bytes([b"late"]))          # queued behind, over capacity: dropped
        assert writer.drops == 25
        received = []
        for _ in range(10):
            while True:
                try:
                    received.append(os.read(r, 4096))
                except BlockingIOError:
                    break
            if not writer.blocked:
                break
            router.loop.run_until_complete(asyncio.sleep(0.01))
        assert received == frames[:36]                    # in order: 16 at once, 20 resumed
        assert writer.sent == 36 and not writer.blocked and drained == [1]
        assert pool.n_used == 0
    finally:
        os.close(r)
        os.close(w)


def test_burst_writer_drops_only_the_packet_the_kernel_refuses(make_router):
    router = make_router("Idle -> Discard;")
    router.initialize()
    pool = router.pool
    errors = []
    r, w = os.pipe2(os.O_NONBLOCK | os.O_DIRECT)
    os.close(r)                                          # writes now fail with EPIPE
    try:
        old = signal.signal(signal.SIGPIPE, signal.SIG_IGN)
        writer = BurstWriter(router, w, tapio, on_error=errors.append)
        writer.send(pool.from_bytes([b"x"] * 3))
        signal.signal(signal.SIGPIPE, old)
        assert writer.drops == 3 and writer.sent == 0 and set(errors) == {errno.EPIPE}
        assert pool.n_used == 0 and not writer.blocked
    finally:
        os.close(w)


def test_pull_input_sleeps_while_the_device_pushes_back_and_loses_nothing(make_router, netns):
    class _Frames(Element):
        """_TunFrames -- test source pushing the frames a test hands it"""
        CLASS_NAME = "_TunFrames"
        PORTS = "0/1"
        PROCESSING = PUSH_ONLY

        def send(self, frames):
            self.emit(0, self.router.pool.from_bytes(frames))
    register(_Frames)
    space = netns("tp")
    r = make_router(f"src :: _TunFrames -> q :: Queue(200) -> "
                    f"t :: KernelTap(10.78.0.1/24, NETNS {space}, BURST 8) -> Discard;")
    r.initialize()
    t = r.element("t")
    # The device never pushes back, so the writer gets a packet-mode pipe instead,
    # which takes 16 writes and then answers EAGAIN until it is read.
    pr, pw = os.pipe2(os.O_NONBLOCK | os.O_DIRECT)
    t._writer.fd = pw
    try:
        frames = [bytes(12) + b"\x88\xb5" + i.to_bytes(2, "big") * 30 for i in range(60)]
        r.element("src").send(frames)
        received = []
        for _ in range(100):
            r.loop.run_until_complete(asyncio.sleep(0.005))
            assert t._writer.backlog_length <= 8           # at most one pulled burst waits
            while True:
                try:
                    received.append(os.read(pr, 4096))
                except BlockingIOError:
                    break
            if len(received) == 60:
                break
        assert received == frames
        assert t.read("tx_count") == "60" and t.read("drops") == "0"
        assert r.element("q").read("drops") == "0"
    finally:
        t._writer.fd = t._dev.fd
        os.close(pr)
        os.close(pw)
