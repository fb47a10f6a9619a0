"""BIRD for dual-stack lab routers: OSPFv3 beside OSPFv2 on the interfaces
that carry IPv6, the IPv6 kernel table export, the loopback6 exported into
OSPFv3, and an IPv6 BGP session beside each IPv4 one with a dual-stack peer;
BIRD accepts what is rendered."""
import shutil

import pytest

from vforward.topo import bird
from vforward.topo.addressing import assign
from vforward.topo.model import parse_lab

from .test_bird import LAB, squash

needs_bird = pytest.mark.skipif(shutil.which("bird") is None, reason="BIRD 2 is not installed")


def dual_stack_lab():
    lab = assign(parse_lab("ipv6: true\n" + LAB, "lab.yaml"))
    lab.nodes["r1"].bgp = {"asn": 65001, "neighbors": [{"peer": "r2"}, {"peer": "r3"},
                                                       {"address": "192.0.2.9", "asn": 65100}]}
    lab.nodes["r2"].bgp = {"asn": 65002, "neighbors": [{"peer": "r1"}]}
    lab.nodes["r3"].bgp = {"asn": 65001, "neighbors": [{"peer": "r1"}]}
    return lab


def test_dual_stack_router_runs_ospfv3_on_its_ipv6_interfaces_and_exports_ipv6_routes():
    lab = dual_stack_lab()
    r1 = lab.nodes["r1"]
    text = squash(bird.bird_config(lab, r1))
    assert "protocol direct { ipv4; ipv6;" in text
    assert ("protocol kernel kernel6 { ipv6 { import none; export where source != RTS_DEVICE; }; "
            "merge paths on;") in text
    assert "protocol ospf v2 ospf1 {" in text
    assert (f"protocol ospf v3 ospf6 {{ ipv6 {{ import all; export where net = "
            f"{r1.loopback6.network}; }}; ecmp yes;") in text
    assert 'interface "eth1" { type ptp; cost 7; hello 1; dead 4; retransmit 2; };' in \
        text.split("ospf v3")[1]
    assert 'interface "eth3" { type broadcast; stub yes; cost 10; };' in text.split("ospf v3")[1]


def test_bgp_gets_an_ipv6_session_beside_each_one_with_a_dual_stack_peer():
    lab = dual_stack_lab()
    r1, r2, r3 = (lab.nodes[n] for n in ("r1", "r2", "r3"))
    six = {s.name: s for s in bird.bgp_sessions6(lab, r1)}
    assert set(six) == {"bgp_r26", "bgp_r36"}       # not the speaker outside the lab
    assert (six["bgp_r26"].local, six["bgp_r26"].neighbor) == \
        (r1.interfaces["eth1"].address6.ip, r2.interfaces["eth1"].address6.ip)
    assert six["bgp_r26"].direct
    assert (six["bgp_r36"].local, six["bgp_r36"].neighbor) == (r1.loopback6.ip, r3.loopback6.ip)
    text = squash(bird.bird_config(lab, r1))
    assert (f"protocol bgp bgp_r26 {{ local {r1.interfaces['eth1'].address6.ip} as 65001; "
            f"neighbor {r2.interfaces['eth1'].address6.ip} as 65002; direct;") in text
    assert "ipv6 { import all; export where source ~ [RTS_DEVICE, RTS_BGP]; next hop self; };" \
        in text


def test_an_ipv4_only_lab_has_no_ipv6_protocols():
    lab = assign(parse_lab(LAB, "lab.yaml"))
    text = bird.bird_config(lab, lab.nodes["r1"])
    assert "ipv6" not in text and "ospf v3" not in text


@needs_bird
def test_bird_accepts_every_rendered_dual_stack_config(tmp_path):
    lab = dual_stack_lab()
    for node in lab.routers():
        path = bird.write_config(lab, node, str(tmp_path / f"{node.name}.conf"))
        bird.check_config(path)
