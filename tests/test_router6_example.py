"""configs/examples/router6.click on real namespaces, TAPs and traffic.

    host A (namespace a)                    vforward                    host B (namespace b)
    2001:db8:1::2/64 --TAP-- 2001:db8:1::1 [ if1  router  if2 ] 2001:db8:2::1 --TAP-- 2001:db8:2::2/64

Each test brings up two namespaces, starts the router with `vforward run
configs/examples/router6.click NS1=... NS2=... CTL=...` as a subprocess (it
owns both TAPs: it is the whole router), gives the hosts their IPv6
addresses and default routes, and drives ping -6, traceroute -6 and iperf3
-6 through it.  The router is stopped and the namespaces deleted even when
a test fails.
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.control import ControlClient

netns_test = pytest.mark.netns

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "examples", "router6.click")
HOST_A, ROUTER_A, HOST_B, ROUTER_B = "2001:db8:1::2", "2001:db8:1::1", "2001:db8:2::2", \
    "2001:db8:2::1"
HOST_A_ETH = "02:00:0a:01:00:02"


def _need(*tools):
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


class Router6Bed:
    """Two host namespaces and router6.click between them."""

    def __init__(self, netns, tmp_path, *defines):
        self.a, self.b = netns("r6a"), netns("r6b")
        for space in (self.a, self.b):
            # IPv6 on, no duplicate address detection delay for the TAPs made next
            ns.run(space, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0",
                   "net.ipv6.conf.default.disable_ipv6=0", "net.ipv6.conf.default.accept_dad=0",
                   "net.ipv6.conf.all.accept_dad=0")
        tag = uuid.uuid4().hex[:6]
        self.dev_a, self.dev_b = f"v6a{tag}", f"v6b{tag}"
        self.ctl = str(tmp_path / "router6.sock")
        self.log = open(tmp_path / "router6.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vforward", "run", CONFIG, f"NS1={self.a}", f"NS2={self.b}",
             f"DEV1={self.dev_a}", f"DEV2={self.dev_b}", f"CTL={self.ctl}", *defines],
            stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()
        for space, dev, host, router in ((self.a, self.dev_a, HOST_A, ROUTER_A),
                                         (self.b, self.dev_b, HOST_B, ROUTER_B)):
            ns.ip("-6", "addr", "add", f"{host}/64", "dev", dev, "nodad", netns=space)
            ns.ip("-6", "route", "add", "default", "via", router, "dev", dev, netns=space)

    def _wait_ready(self, seconds=20.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the router exited ({self.proc.returncode}):\n"
                                     f"{self.output()}")
            with contextlib.suppress(OSError):
                with ControlClient(self.ctl, timeout=2) as c:
                    c.read("if2.dev_name")
                return
            time.sleep(0.05)
        raise AssertionError(f"the router's control socket did not answer:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def read(self, handler: str, arg: str | None = None) -> str:
        with ControlClient(self.ctl) as c:
            return c.read(handler, arg)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def bed6(netns, tmp_path):
    _need("ping")
    b = Router6Bed(netns, tmp_path)
    try:
        yield b
    finally:
        b.stop()


def ping6(space, address, *extra, count=3):
    return ns.run(space, "ping", "-6", "-n", "-c", str(count), "-i", "0.2", "-W", "2", *extra,
                  address, check=False, timeout=30)


def test_the_config_builds_with_its_defaults_and_with_overrides():
    from vforward.graph import build_graph
    with open(CONFIG) as f:
        graph = build_graph(f.read(), CONFIG, {"NS1": "h1", "IP1": "2001:db8:9::1",
                                               "NET1": "2001:db8:9::/64"})
    assert graph.elements["if1"].netns == "h1"
    assert "2001:db8:9::/64 1" in graph.elements["rt"].config


@netns_test
def test_a_ping_across_the_router_comes_back_with_hop_limit_63_and_nd_resolves_both_ways(bed6):
    for space, target in ((bed6.a, HOST_B), (bed6.b, HOST_A)):
        p = ping6(space, target)
        assert p.returncode == 0, p.stdout + bed6.output()
        assert re.findall(r"bytes from .*? ttl=(\d+)", p.stdout) == ["63"] * 3, p.stdout
    # the router learnt host A's address by soliciting it ...
    table = bed6.read("nds1.table").split()
    assert table[:3] == [HOST_A, "1", HOST_A_ETH.upper().replace(":", "-")], table
    assert int(bed6.read("nds1.queries")) >= 1
    # ... and host A learnt the router's from its advertisement
    neigh = ns.ip("-6", "neigh", "show", ROUTER_A, netns=bed6.a)
    assert "02:00:0a:01:00:01" in neigh and "router" in neigh, neigh


@netns_test
def test_traceroute_shows_the_router_then_the_host(bed6):
    _need("traceroute")
    t = ns.run(bed6.a, "traceroute", "-6", "-n", "-q", "1", "-w", "2", "-m", "5", HOST_B,
               check=False, timeout=60)
    hops = re.findall(r"^\s*(\d+)\s+(\S+)", t.stdout, re.M)
    assert [h for _, h in hops] == [ROUTER_A, HOST_B], t.stdout


@netns_test
def test_hop_limit_1_gets_time_exceeded_from_the_router(bed6):
    p = ping6(bed6.a, HOST_B, "-t", "1", count=1)
    assert p.returncode != 0
    assert re.search(rf"From {ROUTER_A}.*Time exceeded: Hop limit", p.stdout), p.stdout


@netns_test
def test_no_route_gets_unreachable(bed6):
    p = ping6(bed6.a, "2001:db8:77::1", count=1)
    assert re.search(rf"From {ROUTER_A}.*Destination unreachable: No route", p.stdout), p.stdout


@netns_test
def test_tcp_crosses_with_iperf3(bed6, iperf):
    _need("iperf3")
    end = iperf(bed6.a, bed6.b, HOST_B)
    assert end["sum_received"]["bytes"] > 1_000_000


@pytest.fixture
def bed6_narrow(netns, tmp_path):
    _need("ping")
    b = Router6Bed(netns, tmp_path, "MTU2=1400")
    try:
        yield b
    finally:
        b.stop()


@netns_test
def test_a_packet_too_big_gets_packet_too_big_and_path_mtu_discovery_completes(bed6_narrow):
    bed = bed6_narrow
    big = ping6(bed.a, HOST_B, "-M", "do", "-s", "1452", count=1)     # a 1500-byte packet
    assert re.search(r"[Pp]acket too big.*mtu\s*=\s*1400", big.stdout + big.stderr), big.stdout
    # from the router's address toward host A (where the packet came in), as Linux sends it
    assert re.search(rf"From {ROUTER_A} .*[Pp]acket too big", big.stdout), big.stdout
    route = ns.ip("-6", "route", "get", HOST_B, netns=bed.a)
    assert "mtu 1400" in route, route
    # the next big ping fits the discovered path: the kernel sends 1400-byte fragments
    p = ping6(bed.a, HOST_B, "-s", "1452", count=2)
    assert p.returncode == 0, p.stdout
    assert bed.read("mtu2.drops") == "1"
