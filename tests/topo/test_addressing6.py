"""IPv6 addressing of dual-stack labs: `ipv6: true` at the top, on a node or
on a link decides which links and routers carry IPv6; each such link gets a
/64 (router end ::1), each dual-stack router a /128 loopback, from pools that
default to 2001:db8::/32 and can be changed; the static IPv6 routes follow
the links that carry IPv6."""
import ipaddress

import pytest

from vforward.topo.addressing import assign
from vforward.topo.model import TopologyError, parse_lab
from vforward.topo.routes import static_routes6

RING = """\
name: six
{top}
topology:
  nodes:
    r1: {{{r1}}}
    r2: {{}}
    r3: {{}}
    h1: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "r3:eth1"]
    - endpoints: ["r3:eth2", "r1:eth2"]{link3}
    - endpoints: ["h1:eth1", "r1:eth3"]
"""


def lab(top="", r1="", link3=""):
    return assign(parse_lab(RING.format(top=top, r1=r1, link3=link3), "six.yaml"))


def test_ipv6_at_the_top_gives_every_link_a_64_and_every_router_a_128_loopback():
    l = lab(top="ipv6: true")
    assert l.ipv6 and all(n.ipv6 for n in l.nodes.values())
    subnets = [link.subnet6 for link in l.links]
    assert len(set(subnets)) == 4 and all(s.prefixlen == 64 for s in subnets)
    doc = ipaddress.ip_network("2001:db8::/32")
    assert all(s.subnet_of(doc) for s in subnets)
    r1 = l.nodes["r1"]
    assert r1.interfaces["eth1"].address6 == ipaddress.IPv6Interface(f"{subnets[0][1]}/64")
    assert l.nodes["r2"].interfaces["eth1"].address6.ip == subnets[0][2]
    # the router end of a host link is ::1, the host ::2
    assert r1.interfaces["eth3"].address6.ip == subnets[3][1]
    assert l.nodes["h1"].interfaces["eth1"].address6.ip == subnets[3][2]
    loops = [n.loopback6 for n in l.routers()]
    assert len(set(loops)) == 3 and all(x.network.prefixlen == 128 and x.ip in doc for x in loops)
    assert l.nodes["h1"].loopback6 is None
    # IPv4 is untouched beside it
    assert all(i.address.version == 4 for n in l.nodes.values() for i in n.interfaces.values())


def test_without_ipv6_nothing_gets_an_ipv6_address():
    l = lab()
    assert not l.ipv6
    assert all(i.address6 is None for n in l.nodes.values() for i in n.interfaces.values())
    assert static_routes6(l) == {}


def test_ipv6_on_a_node_makes_its_links_and_their_other_ends_dual_stack():
    l = lab(r1="ipv6: true")
    assert [link.ipv6 for link in l.links] == [True, False, True, True]
    assert l.nodes["r2"].ipv6 and l.nodes["r3"].ipv6 and l.nodes["h1"].ipv6
    assert l.links[1].subnet6 is None
    assert l.nodes["r2"].interfaces["eth2"].address6 is None


def test_a_link_may_say_no_under_a_dual_stack_lab():
    l = lab(top="ipv6: true", link3="\n      ipv6: false")
    assert [link.ipv6 for link in l.links] == [True, True, False, True]
    # r2 and r3 reach each other's loopbacks only around the ring, over IPv6 links
    routes = {str(r.prefix): r for r in static_routes6(l)["r3"]}
    r1 = l.nodes["r1"]
    assert routes[str(r1.loopback6.network)].interface == "eth1"
    assert routes[str(r1.loopback6.network)].gateway == l.nodes["r2"].interfaces["eth2"].address6.ip


def test_static_ipv6_routes_reach_every_64_and_loopback():
    l = lab(top="ipv6: true")
    prefixes = {link.subnet6 for link in l.links} | {r.loopback6.network for r in l.routers()}
    for r in l.routers():
        got = {route.prefix for route in static_routes6(l)[r.name]}
        assert got == prefixes - {r.loopback6.network}


def test_the_pools_can_be_changed():
    l = lab(top="ipv6: true\naddressing: {p2p6: 2001:db8:aa::/56, lan6: 2001:db8:bb::/48, "
                "loopback6: 2001:db8:cc::/120}")
    assert str(l.links[0].subnet6) == "2001:db8:aa::/64"
    assert str(l.links[1].subnet6) == "2001:db8:aa:1::/64"
    assert str(l.links[3].subnet6) == "2001:db8:bb::/64"
    assert str(l.nodes["r1"].loopback6) == "2001:db8:cc::1/128"


def test_a_hand_set_loopback6_is_kept_and_skipped_by_the_pool():
    l = lab(top="ipv6: true", r1="loopback6: '2001:db8:ff::1/128'")
    assert str(l.nodes["r1"].loopback6) == "2001:db8:ff::1/128"
    assert str(l.nodes["r2"].loopback6) == "2001:db8:ff::2/128"


@pytest.mark.parametrize("top, message", [
    ("ipv6: yes please", "ipv6"),
    ("ipv6: true\naddressing: {p2p6: 10.0.0.0/8}", "addressing.p2p6 must be an IPv6 prefix"),
    ("ipv6: true\naddressing: {lan6: '2001:db8::/96'}", "smaller than one /64"),
])
def test_bad_ipv6_settings_name_the_place(top, message):
    with pytest.raises(TopologyError, match=message) as e:
        lab(top=top)
    assert "six.yaml:" in str(e.value)


def test_a_validation_over_ipv6_needs_dual_stack_ends():
    text = RING.format(top="", r1="", link3="") + \
        "validate:\n  - ping: {from: h1, to: r2, family: ipv6}\n"
    with pytest.raises(TopologyError, match="node h1 has no IPv6"):
        parse_lab(text, "six.yaml")
    l = parse_lab("ipv6: true\n" + text, "six.yaml")
    assert l.validations[0].family == "ipv6"
    l = parse_lab("ipv6: true\n" + text.replace("to: r2, family: ipv6", "to: '2001:db8::1'"),
                  "six.yaml")
    assert l.validations[0].family == "ipv6"


def test_defaults_may_make_every_node_dual_stack():
    l = lab(top="defaults: {ipv6: true}")
    assert all(n.ipv6 for n in l.nodes.values()) and all(link.ipv6 for link in l.links)


def test_a_link_mtu_below_the_ipv6_minimum_is_refused_with_the_place():
    with pytest.raises(TopologyError, match=r"six.yaml:\d+: .*mtu must be at least 1280"):
        lab(top="ipv6: true", link3="\n      mtu: 1000")
    assert lab(link3="\n      mtu: 1400").links[2].mtu == 1400


def test_a_hand_set_subnet6_is_used_and_skipped_by_the_pool():
    l = lab(top="ipv6: true", link3="\n      subnet6: '2001:db8::/64'")
    assert str(l.links[2].subnet6) == "2001:db8::/64"
    assert str(l.nodes["r3"].interfaces["eth2"].address6) == "2001:db8::1/64"
    assert str(l.links[0].subnet6) == "2001:db8:0:1::/64"     # the pool went past it
    assert len({link.subnet6 for link in l.links}) == 4
    # a subnet6 alone makes its link (and its routers) dual-stack
    l = lab(link3="\n      subnet6: '2001:db8:99::/64'")
    assert [link.ipv6 for link in l.links] == [False, False, True, False]
    with pytest.raises(TopologyError, match=r"six.yaml:\d+: subnet6 must be an IPv6 prefix"):
        lab(link3="\n      subnet6: 10.0.0.0/30")
