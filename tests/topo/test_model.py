"""Topology files: schema errors name the line and the fix; addressing and static routes."""
import ipaddress
import textwrap

import pytest

from vforward.topo.addressing import assign
from vforward.topo.model import TopologyError, parse_lab
from vforward.topo.routes import static_routes

RING = """\
name: ring4
topology:
  nodes:
    r1: {}
    r2: {}
    r3: {}
    r4: {}
    h1: {kind: host}
    h2: {kind: host}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "r3:eth1"]
    - endpoints: ["r3:eth2", "r4:eth1"]
      cost: 20
    - endpoints: ["r4:eth2", "r1:eth2"]
      cost: 20
    - endpoints: ["h1:eth1", "r1:eth3"]
      impair: {delay: 10ms, loss: 1%, rate: 10mbit}
    - endpoints: ["h2:eth1", "r3:eth3"]
"""


def error_of(text):
    with pytest.raises(TopologyError) as e:
        parse_lab(textwrap.dedent(text), "lab.yaml")
    return str(e.value)


def test_a_ring_parses_with_impairments_in_si_units():
    lab = parse_lab(RING, "lab.yaml")
    assert list(lab.nodes) == ["r1", "r2", "r3", "r4", "h1", "h2"]
    imp = lab.links[4].impair
    assert imp.delay == pytest.approx(0.010) and imp.loss == pytest.approx(0.01)
    assert imp.rate == pytest.approx(10e6 / 8)


def test_dangling_endpoint_names_the_line_and_suggests():
    msg = error_of(RING.replace('"r2:eth2", "r3:eth1"', '"r2:eth2", "r5:eth1"'))
    assert msg.startswith("lab.yaml:12:") and "node 'r5'" in msg


def test_interface_used_twice():
    msg = error_of(RING.replace('"r2:eth2", "r3:eth1"', '"r2:eth1", "r3:eth1"'))
    assert "lab.yaml:12:" in msg and "r2:eth1 is already used by the link at lab.yaml:11" in msg


def test_unknown_key_suggests_the_right_one():
    msg = error_of(RING.replace("cost: 20\n    - endpoints: [\"r4", "cots: 20\n    - endpoints: [\"r4", 1))
    assert "unknown key 'cots'" in msg and "did you mean 'cost'" in msg and msg.startswith("lab.yaml:14:")


@pytest.mark.parametrize("impair,expect", [("{delay: 10 parsecs}", "10ms"),
                                           ("{rate: fast}", "10Mbps"),
                                           ("{loss: 150%}", "between 0% and 100%")])
def test_bad_duration_rate_or_loss(impair, expect):
    msg = error_of(RING.replace("{delay: 10ms, loss: 1%, rate: 10mbit}", impair))
    assert expect in msg and msg.startswith("lab.yaml:")


def test_unknown_node_kind_and_bad_name():
    assert "did you mean 'router'" in error_of(RING.replace("r2: {}", "r2: {kind: ruoter}"))
    assert "lower-case" in error_of(RING.replace("name: ring4", "name: Ring_4"))


def test_invalid_yaml_names_the_line():
    assert error_of("name: x\ntopology: [\n").startswith("lab.yaml:")


def test_addressing_gives_p2p_subnets_loopbacks_and_lans():
    lab = assign(parse_lab(RING, "lab.yaml"))
    r1 = lab.nodes["r1"]
    assert r1.interfaces["eth1"].address == ipaddress.IPv4Interface("10.0.0.1/30")
    assert lab.nodes["r2"].interfaces["eth1"].address == ipaddress.IPv4Interface("10.0.0.2/30")
    # The router end of a host link is the gateway (.1).
    assert r1.interfaces["eth3"].address.ip == ipaddress.IPv4Address("172.16.0.1")
    assert lab.nodes["h1"].interfaces["eth1"].address.ip == ipaddress.IPv4Address("172.16.0.2")
    assert r1.loopback == ipaddress.IPv4Interface("10.255.0.1/32")
    macs = [i.mac for n in lab.nodes.values() for i in n.interfaces.values()]
    assert len(set(macs)) == len(macs)


def test_hand_set_addresses_are_kept_and_skipped_by_the_pool():
    text = RING.replace('    - endpoints: ["r2:eth2", "r3:eth1"]\n',
                        '    - endpoints: ["r2:eth2", "r3:eth1"]\n      addresses: [10.0.0.5/30, 10.0.0.6/30]\n')
    lab = assign(parse_lab(text, "lab.yaml"))
    assert str(lab.nodes["r2"].interfaces["eth2"].address) == "10.0.0.5/30"
    subnets = [l.subnet for l in lab.links]
    assert len(set(subnets)) == len(subnets)


def test_static_routes_follow_the_cheapest_path():
    lab = assign(parse_lab(RING, "lab.yaml"))
    routes = {str(r.prefix): r for r in static_routes(lab)["r1"]}
    h2_lan = str(lab.nodes["h2"].interfaces["eth1"].address.network)
    # r1 -> r2 -> r3 costs 20, r1 -> r4 -> r3 costs 40.
    assert routes[h2_lan].interface == "eth1"
    assert routes[h2_lan].gateway == lab.nodes["r2"].interfaces["eth1"].address.ip
    assert routes[str(lab.nodes["r4"].loopback.network)].interface == "eth2"


def test_restart_policy_defaults_to_on_failure_and_takes_the_three_policies():
    assert parse_lab(RING, "lab.yaml").restart == "on-failure"
    for policy in ("always", "on-failure", "never"):
        assert parse_lab(f"restart: {policy}\n" + RING, "lab.yaml").restart == policy


def test_a_bad_restart_policy_is_located():
    assert error_of("restart: sometimes\n" + RING).startswith("lab.yaml:1")
    assert "'x' is not always or on-failure or never" in error_of("restart: x\n" + RING)
