"""FromDevice and ToDevice on real veth pairs.

The main topology is three namespaces, ns1 --veth-- nsR --veth-- ns2, with
one /24 on ns1 and ns2 and no addresses in nsR, so a router in nsR that
copies frames both ways is an Ethernet bridge:

    FromDevice(r1, NETNS nsR) -> ToDevice(r2, NETNS nsR);
    FromDevice(r2, NETNS nsR) -> ToDevice(r1, NETNS nsR);

IPv6 is off in every namespace so that the only frames on the links are the
test's own, and the element counters can be matched with the interfaces'.
Routers run in a background thread and are stopped through their loop.
"""
from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.graph import GraphError, build_graph


# -- topology --------------------------------------------------------------------------
def _quiet(name: str) -> None:
    ns.run(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    ns.run(name, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")


class Chain:
    """ns1 (a1, 10.77.0.1/24) -- r1 [nsR] r2 -- (a2, 10.77.0.2/24) ns2."""

    def __init__(self, make_ns):
        self.ns1, self.nsr, self.ns2 = make_ns("1"), make_ns("r"), make_ns("2")
        for n in (self.ns1, self.nsr, self.ns2):
            _quiet(n)
        tag = uuid.uuid4().hex[:8]
        self.a1, self.r1, self.r2, self.a2 = (f"{p}{tag}" for p in ("a1", "r1", "r2", "a2"))
        ns.veth_pair(self.a1, self.ns1, self.r1, self.nsr)
        ns.veth_pair(self.r2, self.nsr, self.a2, self.ns2)
        ns.ip("addr", "add", "10.77.0.1/24", "dev", self.a1, netns=self.ns1)
        ns.ip("addr", "add", "10.77.0.2/24", "dev", self.a2, netns=self.ns2)

    def stats(self, netns_name: str, dev: str) -> dict:
        out = ns.ip("-s", "-j", "link", "show", dev, netns=netns_name)
        s = json.loads(out)[0]["stats64"]
        return {"rx_packets": s["rx"]["packets"], "tx_packets": s["tx"]["packets"]}

    def bridge(self, **kw) -> str:
        opts = "".join(f", {k} {v}" for k, v in kw.items())
        return (f"f1 :: FromDevice({self.r1}, NETNS {self.nsr}, PROMISC true{opts});\n"
                f"f2 :: FromDevice({self.r2}, NETNS {self.nsr}, PROMISC true{opts});\n")


@pytest.fixture
def chain(netns):
    return Chain(netns)


class Running:
    """Run a router in a background thread for the length of a with block."""

    def __init__(self, router):
        self.router = router
        self.error = None
        router.initialize()            # devices open here, so errors raise here
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.router.run()
        except BaseException as e:     # surfaced by __exit__
            self.error = e

    def __enter__(self):
        self.thread.start()
        return self.router

    def __exit__(self, *exc):
        self.router.loop.call_soon_threadsafe(self.router.stop)
        self.thread.join(10)
        assert not self.thread.is_alive(), "router thread did not stop"
        if self.error is not None and exc[0] is None:
            raise self.error


def wait_for(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


# -- the bridge ------------------------------------------------------------------------
BRIDGES = {
    "push-ring": "f1 -> t2 :: ToDevice({r2}, NETNS {nsr});\n"
                 "f2 -> t1 :: ToDevice({r1}, NETNS {nsr});",
    "pull-ring": "f1 -> Queue(500) -> t2 :: ToDevice({r2}, NETNS {nsr}, BURST 32);\n"
                 "f2 -> Queue(500) -> t1 :: ToDevice({r1}, NETNS {nsr}, BURST 32);",
    "push-plain": "f1 -> t2 :: ToDevice({r2}, NETNS {nsr}, RING false);\n"
                  "f2 -> t1 :: ToDevice({r1}, NETNS {nsr}, RING false);",
}


@pytest.mark.parametrize("kind", list(BRIDGES))
def test_ping_crosses_a_bridge_of_fromdevice_and_todevice(chain, make_router, kind):
    c = chain
    rx_opts = {"RING": "false"} if kind.endswith("plain") else {}
    text = c.bridge(**rx_opts) + BRIDGES[kind].format(r1=c.r1, r2=c.r2, nsr=c.nsr)
    router = make_router(text)
    before_a2 = c.stats(c.ns2, c.a2)["rx_packets"]
    before_r1 = c.stats(c.nsr, c.r1)["rx_packets"]
    with Running(router):
        p = ns.run(c.ns1, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.77.0.2", check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 received" in p.stdout
    f1, f2, t1, t2 = (router.element(n) for n in ("f1", "f2", "t1", "t2"))
    n1, n2 = int(f1.read("count")), int(f2.read("count"))
    assert n1 >= 4 and n2 >= 4                  # ARP and three echoes each way
    assert int(t2.read("count")) == n1 and int(t1.read("count")) == n2
    for e in (f1, f2, t1, t2):
        assert e.read("drops") == "0", e.name
    # What FromDevice saw is what the wire carried, in both directions.
    assert c.stats(c.nsr, c.r1)["rx_packets"] - before_r1 == n1
    assert c.stats(c.ns2, c.a2)["rx_packets"] - before_a2 == n1
    assert router.pool.n_used == 0
    ring = not kind.endswith("plain")
    assert ("ring" in f1.read("method")) == ring and ("ring" in t2.read("method")) == ring
    if ring:
        # A Click config gets the fast path by default: frames handed over at
        # once (no block timeout), not a block ring that waits a millisecond.
        assert f1.read("method").startswith("TPACKET_V2 ring")


def test_udp_from_a_local_socket_crosses_the_bridge_with_valid_checksums(chain, make_router):
    """ns1's UDP socket leaves its checksum to the veth 'device'; FromDevice must
    complete it, or ns2's kernel drops every datagram as corrupt."""
    c = chain
    router = make_router(c.bridge() + f"f1 -> t2 :: ToDevice({c.r2}, NETNS {c.nsr});\n"
                                      f"f2 -> t1 :: ToDevice({c.r1}, NETNS {c.nsr});")
    with ns.entered(c.ns2):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("10.77.0.2", 9999))
    rx.settimeout(3)
    with ns.entered(c.ns1):
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        with Running(router):
            # One datagram first, so that ns1 has resolved ns2's address: datagrams
            # it queues while its ARP query is out may be sent after later ones.
            tx.sendto(b"warm-up", ("10.77.0.2", 9999))
            assert rx.recv(2048) == b"warm-up"
            payloads = [bytes([i]) * (100 + 37 * i) for i in range(10)]
            for p in payloads:
                tx.sendto(p, ("10.77.0.2", 9999))
            got = [rx.recv(2048) for _ in payloads]
    finally:
        tx.close()
        rx.close()
    assert got == payloads
    assert router.element("f1")._rx.checksummed >= len(payloads)


def test_a_burst_larger_than_a_ring_block_arrives_whole(chain, make_router):
    """3000 frames fill about 120 blocks of 4 KiB of a block ring (BLOCK_TIMEOUT
    above 0); FromDevice walks them all, BATCH at a time, and forwards every one."""
    c = chain
    router = make_router(
        f"f1 :: FromDevice({c.r1}, NETNS {c.nsr}, BLOCK_SIZE 4096, RING_BLOCKS 256, BURST 64, "
        "BLOCK_TIMEOUT 1ms)\n"
        f"  -> cnt :: Counter -> t2 :: ToDevice({c.r2}, NETNS {c.nsr});")
    n = 3000
    frame = b"\xff" * 6 + bytes.fromhex("020000000001") + b"\x88\xb5" + bytes(46)
    before = c.stats(c.ns2, c.a2)["rx_packets"]
    with ns.entered(c.ns1):
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx.bind((c.a1, 0))
    try:
        with Running(router):
            for i in range(n):
                tx.send(frame[:-4] + i.to_bytes(4, "big"))
            assert wait_for(lambda: router.element("cnt").count >= n)
            time.sleep(0.05)
    finally:
        tx.close()
    f1, t2 = router.element("f1"), router.element("t2")
    assert int(f1.read("count")) == n
    assert f1.read("kernel_drops") == "0" and f1.read("drops") == "0"
    assert int(t2.read("count")) == n
    assert c.stats(c.ns2, c.a2)["rx_packets"] - before == n
    assert router.pool.n_used == 0


def test_todevice_holds_queue_packets_while_the_ring_is_stuck_and_drops_the_rest(chain,
                                                                                make_router):
    c = chain
    ns.ip("link", "set", c.r2, "down", netns=c.nsr)
    router = make_router(
        f"src :: InfiniteSource(LENGTH 60, LIMIT 100, BURST 100)\n"
        f"  -> t2 :: ToDevice({c.r2}, NETNS {c.nsr}, RING_FRAMES 32, QUEUE 10);\n"
        f"t2[0] -> sent :: Counter -> Discard; t2[1] -> lost :: Counter -> Discard;")
    before = c.stats(c.ns2, c.a2)["rx_packets"]
    with Running(router):
        t2 = router.element("t2")
        assert wait_for(lambda: int(t2.read("drops")) == 100 - 32 - 10)
        assert t2.read("queue_length") == "10"
        ns.ip("link", "set", c.r2, "up", netns=c.nsr)
        assert wait_for(lambda: t2.read("queue_length") == "0")
        assert wait_for(lambda: c.stats(c.ns2, c.a2)["rx_packets"] - before == 42)
    assert t2.read("count") == "42"
    # As in Click: sent packets leave by output 0, packets that could not be sent by output 1.
    assert router.element("sent").count == 42 and router.element("lost").count == 58
    assert router.pool.n_used == 0


# -- configuration -----------------------------------------------------------------------
def test_two_todevices_on_one_device_both_send(chain, make_router):
    # Click's configs often send to one device from two places (ARP replies and
    # routed packets): each ToDevice has its own sender socket on the device.
    c = chain
    router = make_router(
        f"InfiniteSource(LENGTH 60, LIMIT 20, BURST 5) -> t1 :: ToDevice({c.r2}, NETNS {c.nsr});\n"
        f"InfiniteSource(LENGTH 60, LIMIT 30, BURST 5) -> Queue -> "
        f"t2 :: ToDevice({c.r2}, NETNS {c.nsr});")
    before = c.stats(c.ns2, c.a2)["rx_packets"]
    with Running(router):
        assert wait_for(lambda: c.stats(c.ns2, c.a2)["rx_packets"] - before == 50)
    assert (router.element("t1").read("count"), router.element("t2").read("count")) == ("20", "30")


def test_two_fromdevices_on_one_device_are_a_graph_error():
    with pytest.raises(GraphError, match="rxdevice"):
        build_graph("FromDevice(eth9) -> Discard; FromDevice(eth9) -> Discard;")
    build_graph("FromDevice(eth9) -> Discard; ToDevice@2 :: ToDevice(eth9); Idle -> ToDevice@2;")


def test_click_keywords_are_accepted():
    g = build_graph("FromDevice(eth9, SNIFFER true, PROMISC true, BURST 8, OUTBOUND false, "
                    "SNAPLEN 1500, HEADROOM 64, METHOD PCAP) -> Queue -> "
                    "ToDevice(eth8, BURST 16, METHOD LINUX);")
    f = next(e for e in g.elements.values() if e.class_name() == "FromDevice")
    assert (f.burst, f.snaplen, f.promisc) == (8, 1500, True)
    with pytest.raises(GraphError, match="METHOD"):
        build_graph("FromDevice(eth9, METHOD NETMAP) -> Discard;")


def test_a_missing_device_is_reported_with_its_namespace(netns, make_router):
    n = netns("m")
    router = make_router(f"FromDevice(nosuch0, NETNS {n}) -> Discard;")
    with pytest.raises(Exception, match=f"no device 'nosuch0' in network namespace '{n}'"):
        router.initialize()


# -- bursts and batches ----------------------------------------------------------------
def _send_frames(c, n: int) -> None:
    frame = b"\xff" * 6 + bytes.fromhex("020000000001") + b"\x88\xb5" + bytes(46)
    with ns.entered(c.ns1):
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx.bind((c.a1, 0))
    try:
        for i in range(n):
            tx.send(frame[:-4] + i.to_bytes(4, "big"))
    finally:
        tx.close()


@pytest.mark.parametrize("burst, batches", [(32, [256, 256, 88]), (4, [128])])
def test_fromdevice_reads_32_bursts_per_turn_in_batches_of_batch(chain, make_router, burst,
                                                                   batches):
    """Click's BURST 32 bounds what one readiness reads (32 x BURST frames),
    not the batch: the frames go down the graph 256 at a time (BATCH)."""
    c = chain
    router = make_router(f"f1 :: FromDevice({c.r1}, NETNS {c.nsr}, BURST {burst}) "
                         "-> q :: Queue(5000) -> Discard;")
    router.initialize()
    f1 = router.element("f1")
    sizes = []
    push = f1._out_push[0]
    f1._out_push[0] = lambda port, batch: (sizes.append(len(batch.idx)), push(port, batch))
    _send_frames(c, 600)
    assert wait_for(lambda: f1._rx.pending_blocks() >= 600)
    f1._readable()
    assert sizes == batches
    assert router.element("q")._len == sum(batches)


@pytest.mark.parametrize("burst, per_turn", [(32, 1000), (8, 256)])
def test_todevice_empties_its_queue_up_to_32_bursts_per_turn(chain, make_router, burst,
                                                            per_turn):
    """A Queue before a ToDevice with Click's BURST 32 drains in one run of
    the pull task (32 x BURST packets), as fast as a FromDevice fills it,
    instead of BURST packets per turn while the Queue overflows."""
    c = chain
    router = make_router(f"Idle -> q :: Queue(2000) -> t :: ToDevice({c.r2}, NETNS {c.nsr}, "
                         f"BURST {burst}, RING_FRAMES 2048);")
    router.initialize()
    q, t = router.element("q"), router.element("t")
    batch = router.pool.alloc(1000, 60)
    router.pool.data[batch.idx, router.pool.headroom:router.pool.headroom + 6] = 0xFF
    before = c.stats(c.ns2, c.a2)["rx_packets"]
    q.push(0, batch)
    t._run()
    assert int(t.read("count")) == per_turn
    assert q._len == 1000 - per_turn
    assert wait_for(lambda: c.stats(c.ns2, c.a2)["rx_packets"] - before == per_turn)


# -- a Queue before ToDevice: sent within the push that fills it ------------------------
def _frames(router, n: int):
    batch = router.pool.alloc(n, 60)
    router.pool.data[batch.idx, router.pool.headroom:router.pool.headroom + 6] = 0xFF
    return batch


def test_todevice_sends_a_packet_pushed_into_its_empty_queue_within_that_push(chain,
                                                                             make_router):
    """An idle router's packet leaves within the push that filled the Queue,
    not on a later turn of the loop; the Queue's own counts are unchanged."""
    c = chain
    router = make_router(f"Idle -> q :: Queue(100) -> t :: ToDevice({c.r2}, NETNS {c.nsr}, "
                         "BURST 32);")
    router.initialize()
    q, t = router.element("q"), router.element("t")
    router._run_tasks()             # the task's first run finds the Queue empty and sleeps
    assert not t._task.scheduled
    before = c.stats(c.ns2, c.a2)["rx_packets"]
    q.push(0, _frames(router, 1))
    assert t.read("count") == "1" and q.read("length") == "0"      # no task has run
    assert q.read("highwater_length") == "1" and q.read("drops") == "0"
    assert wait_for(lambda: c.stats(c.ns2, c.a2)["rx_packets"] - before == 1)
    assert router.pool.n_used == 0


def test_todevice_pulled_at_once_keeps_its_budget_and_leaves_the_rest_to_its_task(chain,
                                                                                 make_router):
    c = chain
    router = make_router(f"Idle -> q :: Queue(2000) -> t :: ToDevice({c.r2}, NETNS {c.nsr}, "
                         "BURST 8, RING_FRAMES 2048);")
    router.initialize()
    q, t = router.element("q"), router.element("t")
    router._run_tasks()
    q.push(0, _frames(router, 1000))
    assert t.read("count") == "256" and q.read("length") == "744"   # 32 x BURST, then wait
    assert t._task.scheduled
    router._run_tasks()
    assert t.read("count") == "512"


def test_a_push_while_todevice_waits_for_its_ring_stays_in_the_queue(chain, make_router):
    c = chain
    ns.ip("link", "set", c.r2, "down", netns=c.nsr)
    router = make_router(f"Idle -> q :: Queue(200) -> t :: ToDevice({c.r2}, NETNS {c.nsr}, "
                         "RING_FRAMES 32);")
    router.initialize()
    q, t = router.element("q"), router.element("t")
    router._run_tasks()
    q.push(0, _frames(router, 40))
    assert t.read("count") == "32" and t.read("queue_length") == "8"
    q.push(0, _frames(router, 5))
    assert q.read("length") == "5" and t.read("count") == "32"      # not pulled meanwhile
    assert t.read("drops") == "0" and q.read("drops") == "0"


# -- Click's AF_PACKET router config --------------------------------------------------------
def test_click_afpacket_router_config_forwards_ping_udp_and_tcp_with_its_counters(netns,
                                                                                make_router):
    """bench/afpacket_router.click as a Click user runs it, between two hosts:
    ping, UDP and iperf3 TCP cross it; nothing is dropped on the way, and
    the devices' counters match what the hosts' interfaces counted."""
    import os
    import subprocess
    a, r, b = netns("afa"), netns("afr"), netns("afb")
    tag = uuid.uuid4().hex[:6]
    a1, r1, r2, a2 = (f"af{x}{tag}" for x in ("a1", "r1", "r2", "a2"))
    for n in (a, r, b):
        _quiet(n)
    ns.veth_pair(a1, a, r1, r)
    ns.veth_pair(r2, r, a2, b)
    for space, dev in ((a, a1), (r, r1), (r, r2), (b, a2)):
        ns.run(space, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off")
    for space, dev, addr, gw in ((a, a1, "10.1.0.2", "10.1.0.1"), (b, a2, "10.2.0.2", "10.2.0.1")):
        ns.ip("addr", "add", f"{addr}/24", "dev", dev, netns=space)
        ns.ip("route", "add", "default", "via", gw, netns=space)
    macs = [ns.run(r, "cat", f"/sys/class/net/{d}/address").stdout.strip() for d in (r1, r2)]
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "bench", "afpacket_router.click")
    with open(path) as f:
        text = f.read()
    # The router's devices are in namespace r: the config runs there, as Click would.
    with ns.entered(r):
        router = make_router(text, defines={"DEV1": r1, "DEV2": r2, "ETH1": macs[0],
                                            "ETH2": macs[1]})
        running = Running(router)
    with ns.entered(b):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("10.2.0.2", 9999))
    rx.settimeout(3)
    with ns.entered(a):
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server = ns.popen(b, "iperf3", "-s", "-1", "-B", "10.2.0.2", stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
    try:
        with running:
            p = ns.run(a, "ping", "-c", "3", "-i", "0.2", "-W", "2", "10.2.0.2", check=False)
            assert "3 received" in p.stdout, p.stdout + p.stderr
            for i in range(20):
                tx.sendto(bytes([i]) * 200, ("10.2.0.2", 9999))
            assert [rx.recv(2048) for _ in range(20)] == [bytes([i]) * 200 for i in range(20)]
            t = ns.run(a, "iperf3", "-c", "10.2.0.2", "-t", "1", "--connect-timeout", "3000",
                       check=False, timeout=30)
            assert t.returncode == 0 and "receiver" in t.stdout, t.stdout + t.stderr
            time.sleep(0.1)
    finally:
        tx.close()
        rx.close()
        server.kill()
        server.wait()
    devices = [e for e in router.elements.values() if e.class_name() in ("FromDevice", "ToDevice")]
    queues = [e for e in router.elements.values() if e.class_name() == "Queue"]
    for e in devices + queues:
        assert e.read("drops") == "0", (e.name, e.read("count") if e in devices else "")
    rx_r1 = next(e for e in devices if e.class_name() == "FromDevice" and e.devname == r1)
    tx_r2 = next(e for e in devices if e.class_name() == "ToDevice" and e.devname == r2)
    assert int(rx_r1.read("count")) > 1000 and rx_r1.read("dev_name") == r1
    assert rx_r1.read("method").startswith("TPACKET_V2 ring")
    assert int(tx_r2.read("count")) == chain_stats(b, a2)["rx_packets"], \
        (tx_r2.read("count"), chain_stats(b, a2))
    assert router.pool.n_used == sum(int(q.read("length")) for q in queues)


def chain_stats(space: str, dev: str) -> dict:
    s = json.loads(ns.ip("-s", "-j", "link", "show", dev, netns=space))[0]["stats64"]
    return {"rx_packets": s["rx"]["packets"]}


def test_a_queue_kept_by_a_hot_swap_no_longer_feeds_the_removed_todevice(chain, make_router):
    from vforward.hotswap import hotswap
    c = chain
    router = make_router(f"Idle -> q :: Queue(100) -> t :: ToDevice({c.r2}, NETNS {c.nsr});")
    router.initialize()
    router._run_tasks()
    old = router.element("t")
    assert "q" in hotswap(router, "Idle -> q :: Queue(100) -> d :: Discard;")["kept"]
    q = router.element("q")
    q.push(0, _frames(router, 3))
    assert old.read("count") == "0" and q.read("length") == "3"     # left for Discard's task
    router._run_tasks()
    assert q.read("length") == "0" and router.pool.n_used == 0
