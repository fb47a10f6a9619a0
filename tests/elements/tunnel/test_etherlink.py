"""The Ethernet-over-UDP virtual link: header checks, and two routers joined by it.

The link tests run two routers, each with a KernelTap in its own namespace,
joined by EtherLinkEncap -> Socket -> EtherLinkDecap over 127.0.0.1, and
send ARP, ping and a short iperf3 TCP run across.
"""
import contextlib
import shutil
import socket
import subprocess
import threading
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.element import PUSH_ONLY, Element, HandlerError, register

KEY = 0x1234_5678_9ABC_DEF0
FRAME = bytes.fromhex("02000000000102000000000208004500") + b"x" * 60


class _Datagrams(Element):
    """_LinkDatagrams -- test source: payloads with the sender in dst_ip/port, as Socket sets it"""
    CLASS_NAME = "_LinkDatagrams"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, payloads, sender=(0x7F000001, 7001)):
        batch = self.router.pool.from_bytes(payloads)
        self.router.pool.dst_ip[batch.idx] = sender[0]
        self.router.pool.port[batch.idx] = sender[1]
        self.emit(0, batch)


class _Keep(Element):
    """_LinkKeep -- test sink keeping the bytes it receives"""
    CLASS_NAME = "_LinkKeep"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received = []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        batch.kill()


register(_Datagrams)
register(_Keep)


def header(key=KEY, version=1, kind=0):
    return bytes([version, kind, 0, 0]) + key.to_bytes(8, "big")


def test_encap_then_decap_gives_back_the_frames(make_router):
    r = make_router(f"src :: _LinkDatagrams -> e :: EtherLinkEncap({KEY}) "
                    f"-> d :: EtherLinkDecap({KEY}, 127.0.0.1:7001) -> k :: _LinkKeep")
    r.initialize()
    frames = [FRAME, FRAME[:14], FRAME + b"tail" * 300]
    r.element("src").send(frames)
    assert r.element("k").received == frames
    assert r.element("e").read("count") == r.element("d").read("count") == "3"
    assert r.pool.n_used == 0


def test_encap_writes_version_type_and_key(make_router):
    r = make_router("src :: _LinkDatagrams -> EtherLinkEncap(0xfeed) -> k :: _LinkKeep")
    r.initialize()
    r.element("src").send([FRAME])
    assert r.element("k").received == [header(0xFEED) + FRAME]


def test_decap_counts_and_refuses_what_is_not_its_links(make_router):
    r = make_router(f"src :: _LinkDatagrams -> d :: EtherLinkDecap({KEY}, PEER 127.0.0.1:7001);"
                    "d[0] -> good :: _LinkKeep; d[1] -> bad :: _LinkKeep;")
    r.initialize()
    src, d = r.element("src"), r.element("d")
    refused = [
        header()[:7],                          # truncated header
        header() + FRAME[:10],                 # no whole Ethernet header
        header(version=2) + FRAME,             # a version this end does not speak
        header(kind=9) + FRAME,                # a type it does not know
        header(KEY ^ 1) + FRAME,               # another link's key
        header(KEY >> 32) + FRAME,             # a 32-bit key is not the 64-bit one
    ]
    src.send(refused)
    src.send([header() + FRAME], sender=(0x7F000001, 9999))     # right key, wrong port
    src.send([header() + FRAME], sender=(0x0A000001, 7001))     # wrong address
    src.send([header() + FRAME, header() + b"\xff" * 64])       # these two are fine
    assert r.element("good").received == [FRAME, b"\xff" * 64]
    assert r.element("bad").received == refused + [header() + FRAME] * 2   # as they came
    assert [d.read(h) for h in ("truncated", "bad_version", "bad_key", "unknown_peer")] == \
        ["2", "2", "2", "2"]
    assert d.read("drops") == "8" and d.read("count") == "2"
    d.write("reset")
    assert d.read("drops") == "0"


def test_decap_without_output_1_drops_and_handlers_change_key_and_peer(make_router):
    r = make_router(f"src :: _LinkDatagrams -> d :: EtherLinkDecap({KEY}) -> k :: _LinkKeep")
    r.initialize()
    src, d = r.element("src"), r.element("d")
    src.send([header() + FRAME], sender=(0x0A000001, 1))        # no PEER: anyone
    d.write("key", "7")
    d.write("peer", "127.0.0.1")
    src.send([header() + FRAME, header(7) + FRAME])              # old key refused
    src.send([header(7) + FRAME], sender=(0x0A000001, 1))        # stranger refused
    assert r.element("k").received == [FRAME, FRAME]
    assert d.read("key") == "7" and d.read("peer") == "127.0.0.1"
    assert d.read("bad_key") == "1" and d.read("unknown_peer") == "1"
    assert r.pool.n_used == 0
    with pytest.raises(HandlerError):
        d.write("key", "-1")


# -- two routers joined by the link -----------------------------------------------

@contextlib.contextmanager
def running(*routers):
    threads = []
    for r in routers:
        r.initialize()
    for r in routers:
        t = threading.Thread(target=r.run, daemon=True)
        t.start()
        threads.append(t)
    try:
        yield routers
    finally:
        for r, t in zip(routers, threads):
            r.loop.call_soon_threadsafe(r.stop)
            t.join(10)
            assert not t.is_alive()


def free_ports(n):
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def link_end(space, dev, addr, mac, key, my_port, peer_port, underlay="127.0.0.1"):
    return (f"tap :: KernelTap({addr}, NETNS {space}, DEVNAME {dev}, ETHER {mac});"
            f"udp :: Socket(UDP, {underlay}, {peer_port}, {underlay}, {my_port});"
            f"tap -> enc :: EtherLinkEncap({key}) -> udp;"
            f"udp -> dec :: EtherLinkDecap({key}, PEER {underlay}:{peer_port}) -> tap;")


def test_two_routers_joined_by_a_udp_link_carry_arp_ping_and_tcp(make_router, netns):
    left, right = netns("ll"), netns("lr")
    tag = uuid.uuid4().hex[:6]
    pa, pb = free_ports(2)
    ra = make_router(link_end(left, f"la{tag}", "10.83.0.1/24", "02:00:00:00:83:01", KEY,
                              pa, pb))
    rb = make_router(link_end(right, f"lb{tag}", "10.83.0.2/24", "02:00:00:00:83:02", KEY,
                              pb, pa))
    with running(ra, rb):
        p = ns.run(left, "ping", "-c", "3", "-i", "0.05", "-W", "2", "-n", "10.83.0.2",
                   check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "02:00:00:00:83:02" in ns.ip("neigh", "show", "10.83.0.2", netns=left)  # ARP
        if shutil.which("iperf3"):
            server = ns.popen(right, "iperf3", "-s", "-1", "-B", "10.83.0.2",
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(0.3)
                c = ns.run(left, "iperf3", "-c", "10.83.0.2", "-t", "2", "-J", check=False,
                           timeout=20)
                assert c.returncode == 0, c.stdout[-500:] + c.stderr
                import json
                bps = json.loads(c.stdout)["end"]["sum_received"]["bits_per_second"]
                assert bps > 1e6
                print(f"iperf3 over the link: {bps / 1e6:.0f} Mbit/s")
            finally:
                server.kill()
                server.wait()
    for r in (ra, rb):
        dec, udp = r.element("dec"), r.element("udp")
        assert dec.read("drops") == "0"
        assert int(udp.read("count")) >= 4
    for a, b in ((ra, rb), (rb, ra)):
        print(a.counter_summary(), b.counter_summary())
    assert int(rb.element("dec").read("count")) <= int(ra.element("enc").read("count"))


def test_two_experiments_on_one_host_do_not_see_each_others_frames(make_router, netns):
    """Experiment 2's left end is (mis)configured to send to experiment 1's right
    end: experiment 1 drops every such datagram (wrong key) and counts it."""
    l1, r1, l2 = netns("x1"), netns("y1"), netns("x2")
    tag = uuid.uuid4().hex[:5]
    p1a, p1b, p2a = free_ports(3)
    a1 = make_router(link_end(l1, f"xa{tag}", "10.84.0.1/24", "02:00:00:00:84:01", 1, p1a, p1b))
    b1 = make_router(link_end(r1, f"xb{tag}", "10.84.0.2/24", "02:00:00:00:84:02", 1, p1b, p1a))
    a2 = make_router(link_end(l2, f"xc{tag}", "10.84.0.1/24", "02:00:00:00:84:03", 2, p2a, p1b))
    with running(a1, b1, a2):
        ns.run(l2, "ping", "-c", "2", "-i", "0.05", "-W", "1", "-n", "10.84.0.2", check=False)
        ok = ns.run(l1, "ping", "-c", "2", "-i", "0.05", "-W", "2", "-n", "10.84.0.2",
                    check=False)
        assert ok.returncode == 0
        dec = b1.element("dec")
        deadline = time.monotonic() + 2
        while dec.read("drops") == "0" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert int(dec.read("bad_key")) >= 1
        assert "02:00:00:00:84:03" not in ns.ip("neigh", netns=r1)


def test_the_example_link_configs_build_and_mirror_each_other():
    import os
    from vforward.graph import build_graph
    here = os.path.dirname(os.path.abspath(__file__))
    examples = os.path.join(here, "..", "..", "..", "configs", "examples")
    ends = []
    for name in ("udp-link-a.click", "udp-link-b.click"):
        path = os.path.join(examples, name)
        with open(path) as f:
            ends.append(build_graph(f.read(), path))
    a, b = (g.elements for g in ends)
    assert a["link"].port == b["link"].local_port and b["link"].port == a["link"].local_port
    assert a["decap"].key == b["decap"].key != 0
