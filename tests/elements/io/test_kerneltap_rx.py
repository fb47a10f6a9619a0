"""KernelTap's compiled reader (cext/taprx.pyx) in configs/examples/router.click.

The router runs in this process on two real TAPs between two namespaces,
with OFFLOAD false and true (TCP then crosses as super-frames): transit traffic
must cross it in the reader's one call (its `written` count grows), while
ARP, a ping to the router and an expired TTL must take the elements' way
and give what they give; with VFORWARD_NO_FUSION=1 everything takes it.
"""
from __future__ import annotations

import os
import re
import shutil
import uuid

import pytest

from vforward import netns as ns
from vforward.elements.io.kerneltun import KernelTap
from vforward.graph import build_graph
from vforward.runtime import Router

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__)))))
CONFIG = os.path.join(ROOT, "configs", "examples", "router.click")
HOST_A, ROUTER_A, HOST_B = "10.1.0.2", "10.1.0.1", "10.2.0.2"


@pytest.fixture
def bed(netns, tmp_path, request):
    """(router, a, b): router.click between namespaces a and b, OFFLOAD false
    unless the test asks for true (parametrize bed indirectly)."""
    a, b = netns("rxa"), netns("rxb")
    for space in (a, b):
        ns.run(space, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
               "net.ipv6.conf.default.disable_ipv6=1")
    tag = uuid.uuid4().hex[:6]
    defines = {"NS1": a, "NS2": b, "DEV1": f"rxa{tag}", "DEV2": f"rxb{tag}",
               "OFFLOAD": getattr(request, "param", "false"), "CTL": str(tmp_path / "ctl.sock")}
    with open(CONFIG) as f:
        router = Router(build_graph(f.read(), CONFIG, defines))
    return router, a, b


def _ping(space, address, *args, count=3):
    return ns.run(space, "ping", "-c", str(count), "-i", "0.2", "-W", "2", *args, address,
                  check=False).stdout


def _written(router) -> int:
    return sum(t._rx.written for t in router.elements.values()
               if isinstance(t, KernelTap) and getattr(t, "_rx", None) is not None)


both_kinds_of_tap = pytest.mark.parametrize("bed", ["false", "true"], ids=["plain", "offload"],
                                            indirect=True)


@both_kinds_of_tap
def test_transit_pings_cross_in_the_compiled_reader_with_ttl_63(bed, running):
    router, a, b = bed
    with running(router):
        out = _ping(a, HOST_B, count=4)
        assert "4 received" in out, out
        assert re.search(r"ttl=63", out)
        # The first request waited for ARP (the elements' way); the rest went through.
        assert _written(router) >= 4
        el = router.elements
        assert el["ttl2"].count >= 4 and el["ttl1"].count >= 4
        assert int(el["if1"].read("count")) >= 4 and int(el["if2"].read("tx_count")) >= 4


@both_kinds_of_tap
def test_udp_and_tcp_cross_the_router(bed, running, iperf):
    if shutil.which("iperf3") is None:
        pytest.skip("iperf3 is not installed")
    router, a, b = bed
    with running(router):
        assert "1 received" in _ping(a, HOST_B, count=1)
        before = _written(router)
        tcp = iperf(a, b, HOST_B, "-t", "1")
        assert tcp["sum_received"]["bytes"] > 100_000
        udp = iperf(a, b, HOST_B, "-u", "-b", "5M", "-t", "1")
        assert udp["sum"]["packets"] > 100 and udp["sum"]["lost_percent"] < 5
        assert _written(router) > before + 100


def test_arp_and_pings_to_the_router_take_the_elements_way(bed, running):
    router, a, b = bed
    with running(router):
        out = _ping(a, ROUTER_A, count=2)
        assert "2 received" in out, out
        assert _written(router) == 0        # ARP and the router's own replies: no transit
        assert int(router.elements["if1"].read("tx_count")) >= 3     # an ARP reply and two echo replies


def test_ttl_1_gets_time_exceeded_from_the_routers_address(bed, running):
    router, a, b = bed
    with running(router):
        assert "1 received" in _ping(a, HOST_B, count=1)
        out = _ping(a, HOST_B, "-t", "1", count=1)
        assert re.search(rf"From {re.escape(ROUTER_A)} .*[Tt]ime to live exceeded", out), out
        assert "1 received" in _ping(a, HOST_B, count=1)


def test_without_fusion_the_reader_hands_every_batch_to_the_elements(bed, running,
                                                                     monkeypatch):
    monkeypatch.setenv("VFORWARD_NO_FUSION", "1")
    router, a, b = bed
    # (the graph was wired when it was built: build it again with fusion off)
    from vforward.graph import connect_pushes
    connect_pushes(list(router.elements.values()))
    with running(router):
        out = _ping(a, HOST_B, count=3)
        assert "3 received" in out, out
        assert _written(router) == 0
        assert router.elements["ttl2"].count >= 3
