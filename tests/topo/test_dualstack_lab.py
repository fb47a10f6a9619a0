"""The four-router ring dual-stack under BIRD: OSPFv3 beside OSPFv2, its
IPv6 routes mirrored into every router's IPv6 table (and the same lab in
kernel mode, where the Linux kernel forwards, for comparison).  Across it ping -6 and
iperf3 -6 TCP work, traceroute -6 shows the routers of the path, a hop
limit of 1 gets "time exceeded" from the first router, a destination
without a route gets "no route" (IPv4: "net unreachable") from it, and a packet too big
for the smaller-MTU link r2--r3 gets "packet too big" from r2 (its address toward the sender), after which
both hosts have learnt the path MTU and the large pings and TCP get through."""
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest

from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.render import netns_name
from vforward.topo.state import load_state
from vforward.topo.validate import address_owners, reach, traceroute

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="labs need root"),
              pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed")]

SMALL_MTU = 1400


@pytest.fixture(scope="module", params=["user", "kernel"])
def lab(request, tmp_path_factory, ring_lab_text):
    name = "s" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("ospf6") / "ring.yaml"
    text = ring_lab_text(name, routing="ospf", extra="ipv6: true\n")
    r2r3 = '- endpoints: ["r2:eth2", "r3:eth1"]\n'
    text = text.replace(r2r3, r2r3 + f"      mtu: {SMALL_MTU}\n")
    path.write_text(text)
    deploy(str(path), mode=request.param, log=lambda *a: None)
    try:
        lab = prepare(str(path))
        ok, took = reach(lab, "h1", h2(lab), within=40)
        assert ok, "OSPFv3 never converged"
        print(f"\nOSPFv3 converged ({request.param} mode): h1 reached h2 over IPv6 "
              f"{took:.1f}s after deploy")
        yield lab
    finally:
        if load_state(name) is not None:
            destroy(name)


def h2(lab):
    return str(lab.nodes["h2"].interfaces["eth1"].address6.ip)


def ping6(lab, src, *args):
    return subprocess.run(["ip", "netns", "exec", netns_name(lab, src), "ping", "-6", "-n",
                           *args], capture_output=True, text=True, timeout=30).stdout


def test_every_node_reaches_every_ipv6_address_of_the_lab(lab):
    targets = {n: str(lab.nodes[n].loopback6.ip) for n in ("r1", "r2", "r3", "r4")}
    targets["h2"] = h2(lab)
    for src in ("h1", "r2", "r4"):
        for dst, addr in targets.items():
            if src != dst:
                ok, _ = reach(lab, src, addr, within=20)
                assert ok, f"{src} cannot reach {dst} ({addr}) over IPv6"


def test_traceroute6_shows_the_routers_of_the_shortest_path(lab):
    owners = address_owners(lab)
    assert [owners.get(h, h) for h in traceroute(lab, "h1", h2(lab))] == ["r1", "r2", "r3", "h2"]


def test_iperf3_tcp_over_ipv6_crosses_the_lab(lab, iperf):
    end = iperf(netns_name(lab, "h1"), netns_name(lab, "h2"), h2(lab))
    assert end["sum_received"]["bytes"] > 1_000_000


def test_hop_limit_1_gets_time_exceeded_from_the_first_router(lab):
    out = ping6(lab, "h1", "-c", "1", "-W", "1", "-t", "1", h2(lab))
    r1 = str(lab.nodes["r1"].interfaces["eth3"].address6.ip)
    assert re.search(rf"From {re.escape(r1)} .*Time exceeded", out), out


def test_no_route_gets_destination_unreachable_from_the_first_router(lab):
    # 2001:db8:ffff::/48 and 198.51.100.0/24 are routed nowhere in the lab: r1
    # answers as Linux does, IPv6 "no route" and IPv4 "net unreachable"
    r1 = lab.nodes["r1"].interfaces["eth3"]
    out = ping6(lab, "h1", "-c", "1", "-W", "1", "2001:db8:ffff::1")
    assert re.search(rf"From {re.escape(str(r1.address6.ip))} .*Destination unreachable: "
                     "No route", out), out
    out = subprocess.run(["ip", "netns", "exec", netns_name(lab, "h1"), "ping", "-4", "-n", "-c",
                          "1", "-W", "1", "198.51.100.77"], capture_output=True, text=True,
                         timeout=30).stdout
    assert re.search(rf"From {re.escape(str(r1.address.ip))} .*Destination Net Unreachable",
                     out), out


def test_too_big_gets_packet_too_big_and_path_mtu_discovery_completes(lab, iperf):
    h1 = netns_name(lab, "h1")
    subprocess.run(["ip", "-n", h1, "-6", "route", "flush", "cache"], capture_output=True)
    # 1452 bytes of payload make a 1500-byte packet, too big for r2--r3
    out = ping6(lab, "h1", "-c", "1", "-W", "1", "-M", "do", "-s", "1452", h2(lab))
    m = re.search(rf"From (\S+) .*Packet too big: mtu={SMALL_MTU}", out)
    # from r2's address toward h1 (the way it came in), as Linux picks it
    assert m and m.group(1) == str(lab.nodes["r2"].interfaces["eth1"].address6.ip), out
    route = subprocess.run(["ip", "-n", h1, "-6", "route", "get", h2(lab)],
                           capture_output=True, text=True).stdout
    assert f"mtu {SMALL_MTU}" in route, route
    # now h1 fragments to the path MTU; h2's first large reply is too big for
    # r3--r2 in turn, and h2 learns the path MTU back; then every large ping
    # is answered, and TCP's segments fit
    ping6(lab, "h1", "-c", "2", "-i", "0.05", "-W", "1", "-s", "1452", h2(lab))
    h1_addr = str(lab.nodes["h1"].interfaces["eth1"].address6.ip)
    route = subprocess.run(["ip", "-n", netns_name(lab, "h2"), "-6", "route", "get", h1_addr],
                           capture_output=True, text=True).stdout
    assert f"mtu {SMALL_MTU}" in route, route
    out = ping6(lab, "h1", "-c", "3", "-i", "0.05", "-W", "1", "-s", "1452", h2(lab))
    assert "3 received" in out, out
    end = iperf(h1, netns_name(lab, "h2"), h2(lab))
    assert end["sum_received"]["bytes"] > 1_000_000


def test_ospfv3_equal_cost_paths_reach_the_ipv6_table_as_one_multipath_route(lab):
    # r2 -> r4 costs 30 both ways round the ring: via r1 and via r3
    if load_state(lab.name).mode != "user":      # the kernel forwards: its own table
        r4 = str(lab.nodes["r4"].loopback6.ip)
        deadline = time.monotonic() + 20
        while True:
            shown = subprocess.run(["ip", "-n", netns_name(lab, "r2"), "-6", "route", "show", r4],
                                   capture_output=True, text=True).stdout
            if shown.count("nexthop via fe80::") == 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert shown.count("nexthop via fe80::") == 2, shown
        return
    from vforward.control import ControlClient
    r4 = f"{lab.nodes['r4'].loopback6.network}"
    client = ControlClient(load_state(lab.name).sockets["r2"])
    try:
        deadline = time.monotonic() + 20
        while True:
            line = next((ln for ln in client.read("rt6.table").splitlines()
                         if ln.startswith(r4)), "")
            if len(line.split()) == 5 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        routes = client.read("mirror6.routes")
    finally:
        client.close()
    hops = line.split()[1:]
    assert len(hops) == 4 and all(h.startswith("fe80::") for h in hops[0::2]), line
    assert sorted(hops[1::2]) == ["0", "1"], line     # out of eth1 (to r1) and eth2 (to r3)
    assert f"{r4} fe80::" in routes
