"""A lab's underlay family: IPv6 `hosts:` addresses, the errors of bad ones,
74 bytes of link overhead over IPv6 against 54 over IPv4, and what the
router configs and node bundles say about it."""
import json

import pytest

from tests.node.labs import two_router_lab
from vforward.catalogue import load_builtin
from vforward.graph import build_graph
from vforward.node.bundle import node_bundle
from vforward.topo import render, underlay
from vforward.topo.addressing import assign
from vforward.topo.deploy import assign_underlay
from vforward.topo.model import TopologyError, parse_lab


def _v6(text):
    return text.replace("address: 192.0.2.1", 'address: "2001:db8::1"').replace(
        "address: 192.0.2.2", 'address: "2001:db8::2"')


def lab_of(text):
    lab = assign(parse_lab(text, "lab.yaml"))
    assign_underlay(lab)
    return lab


def test_ipv6_host_addresses_make_an_ipv6_underlay_and_local_follows():
    lab = lab_of(_v6(two_router_lab("u6")))
    assert lab.hosts == {"local": "::1", "a": "2001:db8::1", "b": "2001:db8::2"}
    assert underlay.lab_family(lab) == 6
    assert lab.links[0].underlay["r1:eth1"][0] == "2001:db8::1"
    assert underlay.lab_family(lab_of(two_router_lab("u4"))) == 4


def test_a_link_between_ipv6_hosts_loses_74_bytes_and_between_ipv4_hosts_54():
    for text, overhead in ((_v6(two_router_lab("u6")), 74), (two_router_lab("u4"), 54)):
        lab = lab_of(text)
        r1 = lab.nodes["r1"]
        assert render.interface_mtu(lab, r1.interfaces["eth1"]) == 1400 - overhead  # host a: 1400
        assert render.interface_mtu(lab, r1.interfaces["eth2"]) == 1500     # h1, same host
        config = render.router_config(lab, r1)
        assert f"IPFragmenter({1400 - overhead})" in config


def test_routers_on_ipv6_hosts_use_the_ipv6_link_class_and_their_bundles_say_so():
    load_builtin()
    lab = lab_of(_v6(two_router_lab("u6")))
    r1 = lab.nodes["r1"]
    config = render.router_config(lab, r1)
    assert "elementclass UDPLink6" in config and "PEER [$remote_ip]:$remote_port" in config
    assert "UDPLink6(2001:db8::1, " in config
    graph = build_graph(config, "r1.click")
    assert graph is not None
    files = node_bundle(lab, "r1", {"r2": "2001:db8:64:2::2"})
    assert "UDPLink6(::, " in files["router.click"]
    spec = json.loads(files["node.json"])
    assert spec["underlay_family"] == 6
    assert spec["links"][0]["peer"]["family"] == 6
    assert spec["links"][0]["peer"]["address"] == "2001:db8:64:2::2"
    build_graph(files["router.click"], "r1.click", {"PEER_eth1": "2001:db8:64:2::2"})
    ipv4 = render.router_config(lab_of(two_router_lab("u4")), lab_of(two_router_lab("u4")).nodes["r1"])
    assert "UDPLink6" not in ipv4 and "PEER $remote_ip:$remote_port" in ipv4


@pytest.mark.parametrize("a, b, words", [
    ('"2001:db8::1"', "192.0.2.2",
     r"lab.yaml:\d+.*host b has an IPv4 address and host a an IPv6 one; .*one family"),
    ('"fe80::1"', '"fe80::2"', r"lab.yaml:\d+.*host a address fe80::1 is link-local"),
    ('"2001:db8::zz"', '"2001:db8::2"', r"lab.yaml:\d+.*host a needs an 'address' \(its IPv4 or IPv6"),
    ('"::"', '"2001:db8::2"', r"host a address :: is not one host's"),
    ('"ff02::1"', '"2001:db8::2"', r"host a address ff02::1 is not one host's"),
])
def test_bad_host_addresses_are_refused_with_their_place_and_the_fix(a, b, words):
    text = two_router_lab("ub").replace("address: 192.0.2.1", f"address: {a}").replace(
        "address: 192.0.2.2", f"address: {b}")
    with pytest.raises(TopologyError, match=words):
        parse_lab(text, "lab.yaml")
