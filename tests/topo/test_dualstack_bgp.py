"""Multiprotocol BGP in a dual-stack lab: two routers in different ASes, a
host behind each; the IPv6 session beside the IPv4 one carries the hosts'
/64s, the IPv6 mirror puts them in each router's IPv6 table, and the hosts
reach each other over IPv6 and IPv4."""
import os
import shutil
import uuid

import pytest

from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.state import load_state
from vforward.topo.validate import reach
from tests.labtexts import line_lab

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="labs need root"),
              pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed")]

def lab_text(name: str) -> str:
    return line_lab(name, head="ipv6: true\n", r1="{bgp: {asn: 65001, neighbors: [r2]}}",
                    r2="{bgp: {asn: 65002, neighbors: [r1]}}")


def test_ebgp_carries_ipv6_routes_beside_ipv4_ones(tmp_path):
    name = "b" + uuid.uuid4().hex[:6]
    path = tmp_path / "bgp.yaml"
    path.write_text(lab_text(name))
    deploy(str(path), log=lambda *a: None)
    try:
        lab = prepare(str(path))
        h2 = lab.nodes["h2"].interfaces["eth1"]
        ok, took = reach(lab, "h1", str(h2.address6.ip), within=30)
        assert ok, "h1 never reached h2 over IPv6"
        print(f"\nBGP: h1 reached h2 over IPv6 {took:.1f}s after deploy")
        assert reach(lab, "h1", str(h2.address.ip), within=10)[0]
        from vforward.control import ControlClient
        client = ControlClient(load_state(name).sockets["r1"])
        try:
            routes = client.read("mirror6.routes")
        finally:
            client.close()
        assert str(h2.address6.network) in routes, routes
    finally:
        if load_state(name) is not None:
            destroy(name)
