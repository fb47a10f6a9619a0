"""node_bundle: the files one router needs, and the MTU of links between hosts."""
import json

import pytest

from tests.node.labs import three_host_ospf_lab, two_router_lab
from vforward.graph import build_graph
from vforward.catalogue import load_builtin
from vforward.node.bundle import node_bundle
from vforward.topo.deploy import assign_underlay
from vforward.topo.model import TopologyError, parse_lab
from vforward.topo.addressing import assign
from vforward.topo.render import ETHERLINK_OVERHEAD


def lab_of(text):
    lab = assign(parse_lab(text, "lab.yaml"))
    assign_underlay(lab)
    return lab


def test_a_static_router_bundle_has_its_config_links_routes_and_attached_host():
    lab = lab_of(two_router_lab("nb"))
    files = node_bundle(lab, "r1")
    assert sorted(files) == ["node.json", "router.click"]
    spec = json.loads(files["node.json"])
    assert (spec["version"], spec["lab"], spec["node"], spec["host"]) == (1, "nb", "r1", "a")
    assert spec["bird"] is None
    (link,) = spec["links"]
    assert link["peer"]["node"] == "r2" and link["peer"]["name"] == "r2"
    assert link["peer"]["address"] == "192.0.2.2"          # the peer host's underlay address
    assert link["cross_host"] is True
    # the smaller underlay MTU (1400 on host a) less the encapsulation
    assert link["mtu"] == 1400 - ETHERLINK_OVERHEAD == 1346
    mtus = {i["name"]: i["mtu"] for i in spec["interfaces"]}
    assert mtus == {"eth1": 1346, "eth2": 1500}
    assert spec["attached_hosts"] == [{"node": "h1", "netns": "vf-nb-h1",
                                       "address": "172.16.0.2/24", "gateway": "172.16.0.1",
                                       "ipv6": False, "kernel6": []}]
    assert any(r["dev"] == "eth1" for r in spec["routes"])   # toward h2's subnet


def test_the_router_config_runs_on_its_own_and_takes_the_peer_from_a_define():
    lab = lab_of(two_router_lab("nb"))
    text = node_bundle(lab, "r1")["router.click"]
    assert "NETNS vf-nb-r1" not in text                        # its own namespace
    assert "NETNS vf-nb-h1" in text                            # the attached host's
    assert "define($PEER_eth1 192.0.2.2);" in text
    assert "IPFragmenter(1346)" in text and "MTU 1346" in text
    load_builtin()
    graph = build_graph(text, "router.click", {"PEER_eth1": "198.51.100.7"})
    sock = graph.elements["eth1_wire/sock"]
    assert sock.addr == int.from_bytes(bytes([198, 51, 100, 7]), "big")


def test_an_ospf_router_bundle_carries_its_bird_config_and_no_static_routes():
    lab = lab_of(three_host_ospf_lab("nb"))
    files = node_bundle(lab, "r2", peer_addresses={"r5": "100.64.2.2", "r1": None})
    spec = json.loads(files["node.json"])
    assert spec["bird"] == "bird.conf" and "protocol ospf" in files["bird.conf"]
    assert spec["routes"] == []
    peers = {link["peer"]["node"]: link for link in spec["links"]}
    assert peers["r5"]["peer"]["address"] == "100.64.2.2" and peers["r5"]["cross_host"]
    assert peers["r1"]["peer"]["address"] is None and not peers["r1"]["cross_host"]
    assert peers["r1"]["mtu"] == 1500 and peers["r5"]["mtu"] == 1446


def test_a_host_node_or_unknown_node_has_no_bundle_and_says_why():
    lab = lab_of(two_router_lab("nb"))
    with pytest.raises(TopologyError, match="h1 is a host.*render that router"):
        node_bundle(lab, "h1")
    with pytest.raises(TopologyError, match="no node 'r9'"):
        node_bundle(lab, "r9")


def test_a_host_mtu_below_the_minimum_is_refused_with_its_place():
    text = two_router_lab("nb").replace("mtu: 1400", "mtu: 100")
    with pytest.raises(TopologyError, match=r"lab.yaml:\d+.*mtu must be at least 576"):
        parse_lab(text, "lab.yaml")


def test_ingress_or_egress_on_a_node_of_a_lab_across_hosts_is_refused_not_dropped():
    text = three_host_ospf_lab("nb").replace("r1: {host: a}", "r1: {host: a, egress: true}")
    lab = lab_of(text)
    with pytest.raises(TopologyError, match="node r1 has 'egress:'.*deploy the lab on one "
                                            "machine, or remove 'egress:'"):
        node_bundle(lab, "r1")
    node_bundle(lab, "r2")      # the other routers still render
