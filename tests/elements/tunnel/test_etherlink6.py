"""The Ethernet-over-UDP virtual link over an IPv6 underlay.

EtherLinkDecap's PEER check against IPv6 senders (dst_ip6), and two routers,
each with a KernelTap in its own namespace, joined over ::1: ARP, ping
(IPv4 and IPv6 inside) and iperf3 TCP across; stray datagrams sent to a
link end are counted and dropped.
"""
import json
import shutil
import socket
import subprocess
import time
import uuid

import numpy as np
import pytest

from vforward import netns as ns
from vforward.args import ArgumentError
from vforward.element import HandlerError
from vforward.elements.tunnel.etherlink import peer_address

from tests.elements.tunnel.test_etherlink import FRAME, KEY, header, running

PEER6 = "2001:db8::7"
PEER6_ROW = np.frombuffer(socket.inet_pton(socket.AF_INET6, PEER6), np.uint8)


def _send6(r, payloads, addr=PEER6, port=7001, dst_ip=0):
    """Datagrams as an IPv6 Socket hands them on: sender in dst_ip6, dst_ip 0."""
    batch = r.pool.from_bytes(payloads)
    r.pool.dst_ip6[batch.idx] = np.frombuffer(socket.inet_pton(socket.AF_INET6, addr), np.uint8)
    r.pool.dst_ip[batch.idx] = dst_ip
    r.pool.port[batch.idx] = port
    r.element("src").emit(0, batch)


def test_peer_address_reads_both_families_with_and_without_a_port():
    assert peer_address("[2001:db8::7]:7001") == (6, int.from_bytes(PEER6_ROW.tobytes(), "big"), 7001)
    assert peer_address("2001:db8::7")[::2] == (6, 0)
    assert peer_address("192.0.2.1:9") == (4, 0xC0000201, 9)
    for bad in ("[2001:db8::7", "[2001:db8::7]9", "[192.0.2.300]:1", "2001:db8::7:99999x"):
        with pytest.raises(ArgumentError):
            peer_address(bad)


def test_decap_with_an_ipv6_peer_refuses_other_senders_of_either_family(make_router):
    r = make_router(f"src :: _LinkDatagrams -> d :: EtherLinkDecap({KEY}, PEER [{PEER6}]:7001);"
                    "d[0] -> good :: _LinkKeep; d[1] -> bad :: _LinkKeep;")
    r.initialize()
    d = r.element("d")
    _send6(r, [header() + FRAME])                                  # the peer
    _send6(r, [header() + FRAME], port=7002)                      # wrong port
    _send6(r, [header() + FRAME], addr="2001:db8::8")             # wrong address
    _send6(r, [header() + FRAME], dst_ip=0x7F000001)              # an IPv4 sender, stale dst_ip6
    _send6(r, [header(KEY ^ 1) + FRAME, header()[:5]])            # malformed: key, truncated
    assert r.element("good").received == [FRAME]
    assert len(r.element("bad").received) == 5
    assert [d.read(h) for h in ("unknown_peer", "bad_key", "truncated", "count")] == \
        ["3", "1", "1", "1"]
    assert d.read("peer") == f"[{PEER6}]:7001"
    d.write("peer", "2001:db8::8")                                 # any port of this address
    _send6(r, [header() + FRAME], addr="2001:db8::8", port=1)
    assert d.read("count") == "2" and d.read("peer") == "2001:db8::8"
    with pytest.raises(HandlerError):
        d.write("peer", "[2001:db8::8")
    assert r.pool.n_used == 0


def test_decap_with_an_ipv4_peer_refuses_an_ipv6_sender(make_router):
    r = make_router(f"src :: _LinkDatagrams -> d :: EtherLinkDecap({KEY}, PEER 127.0.0.1:7001)"
                    " -> k :: _LinkKeep")
    r.initialize()
    _send6(r, [header() + FRAME], addr="::ffff:127.0.0.1")
    assert r.element("k").received == [] and r.element("d").read("unknown_peer") == "1"


def _free_ports6(n):
    socks = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("::1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _link_end6(space, dev, addr, mac, my_port, peer_port):
    return (f"tap :: KernelTap({addr}, NETNS {space}, DEVNAME {dev}, ETHER {mac});"
            f"udp :: Socket(UDP, ::1, {peer_port}, ::1, {my_port});"
            f"tap -> enc :: EtherLinkEncap({KEY}) -> udp;"
            f"udp -> dec :: EtherLinkDecap({KEY}, PEER [::1]:{peer_port}) -> tap;")


def test_two_routers_joined_over_an_ipv6_underlay_carry_ping_and_tcp(make_router, netns):
    left, right = netns("l6"), netns("r6")
    tag = uuid.uuid4().hex[:6]
    pa, pb = _free_ports6(2)
    ra = make_router(_link_end6(left, f"la{tag}", "10.86.0.1/24", "02:00:00:00:86:01",
                                pa, pb))
    rb = make_router(_link_end6(right, f"lb{tag}", "10.86.0.2/24", "02:00:00:00:86:02",
                                pb, pa))
    with running(ra, rb):
        assert ra.element("udp").read("local") == f"[::1]:{pa}"
        ns.ip("address", "add", "2001:db8:86::1/64", "dev", f"la{tag}", "nodad", netns=left)
        ns.ip("address", "add", "2001:db8:86::2/64", "dev", f"lb{tag}", "nodad", netns=right)
        p = ns.run(left, "ping", "-c", "3", "-i", "0.05", "-W", "2", "-n", "10.86.0.2",
                   check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        p6 = ns.run(left, "ping", "-6", "-c", "3", "-i", "0.05", "-W", "2", "-n",
                    "2001:db8:86::2", check=False)
        assert p6.returncode == 0, p6.stdout + p6.stderr
        if shutil.which("iperf3"):
            server = ns.popen(right, "iperf3", "-s", "-1", "-B", "10.86.0.2",
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                time.sleep(0.3)
                c = ns.run(left, "iperf3", "-c", "10.86.0.2", "-t", "2", "-J", check=False,
                           timeout=20)
                assert c.returncode == 0, c.stdout[-500:] + c.stderr
                bps = json.loads(c.stdout)["end"]["sum_received"]["bits_per_second"]
                assert bps > 1e6
                print(f"iperf3 over the IPv6 underlay: {bps / 1e6:.0f} Mbit/s")
            finally:
                server.kill()
                server.wait()
        assert rb.element("dec").read("drops") == "0"
        assert rb.element("udp").read("last_sender") == f"[::1]:{pa}"
        # Strays at b's link port: junk, another link's key, the right key from another port.
        dec = rb.element("dec")
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as stray:
            stray.bind(("::1", 0))
            for data in (b"junk", header(KEY ^ 1) + FRAME, header() + FRAME):
                stray.sendto(data, ("::1", pb))
            deadline = time.monotonic() + 3
            while dec.read("drops") != "3" and time.monotonic() < deadline:
                time.sleep(0.01)
        assert [dec.read(h) for h in ("truncated", "bad_key", "unknown_peer")] == ["1", "1", "1"]
        again = ns.run(left, "ping", "-c", "1", "-W", "2", "-n", "10.86.0.2", check=False)
        assert again.returncode == 0
