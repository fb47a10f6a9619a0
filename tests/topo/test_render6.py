"""The generated configuration of dual-stack lab routers: IPv6 classified
beside IPv4 on every interface that carries it, rt6 with the connected /64s
(and, on a static lab, the routes to the others), a second mirror on an OSPF
lab, the link MTU in the IPv6 MTU check; the graph builds.  An IPv4-only
lab's routers have no IPv6 part."""
from vforward.graph import build_graph
from vforward.topo import render
from vforward.topo.addressing import assign
from vforward.topo.deploy import assign_underlay
from vforward.topo.model import parse_lab

LAB = """\
name: r6
{top}
topology:
  nodes:
    r1: {{}}
    r2: {{}}
    h1: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
      mtu: 1400
    - endpoints: ["h1:eth1", "r1:eth2"]
"""


def config(top, node="r1"):
    lab = assign(parse_lab(LAB.format(top=top), "r6.yaml"))
    assign_underlay(lab)
    return lab, render.configs(lab)[node]


def test_a_static_dual_stack_router_classifies_and_routes_ipv6_and_builds():
    lab, text = config("ipv6: true")
    r2 = lab.nodes["r2"]
    h1 = lab.nodes["h1"].interfaces["eth1"]
    assert (f"rt6 :: RadixIP6Lookup({lab.links[0].subnet6} 0, {h1.address6.network} 1, "
            f"{r2.loopback6.network} {r2.interfaces['eth1'].address6.ip} 0, NOROUTE 2);") in text
    cfg2 = render.configs(lab)["r2"]
    assert (f"{h1.address6.network} {lab.nodes['r1'].interfaces['eth1'].address6.ip} 0"
            in cfg2)
    assert "eth1_in[2] -> eth1_in6;" in text and "eth2_in[2] -> eth2_in6;" in text
    assert "eth1_mtu6 :: CheckLength(1400, SEGMENTS true)" in text
    # errors come from the interface the route back leaves by; no route gets one too
    assert ('eth1_mtu6[1] -> ICMP6Error(2001:db8::1, toobig, PMTU 1400, ROUTES rt6, '
            'SOURCES "2001:db8::1 2001:db8:1::1") -> rt6;') in text
    assert ('rt6[2] -> ICMP6Error(2001:db8::1, unreachable, noroute, ROUTES rt6, '
            'SOURCES "2001:db8::1 2001:db8:1::1", LIMIT errlimit) -> rt6;') in text
    assert "NOROUTE 2);" in text and "errlimit :: ICMPErrorLimit;" in text
    assert "eth1_kernel :: KernelTap(10.0.0.1/30, DEVNAME eth1" in text and "MTU 1400" in text
    assert "mirror6" not in text
    graph = build_graph(text, "r1.click")
    assert graph.elements["rt6"].class_name() == "RadixIP6Lookup"


def test_an_ospf_dual_stack_router_mirrors_both_families():
    _, text = config("ipv6: true\nrouting: ospf")
    assert "rt6 :: RadixIP6Lookup(2001:db8::/64 0, 2001:db8:1::/64 1, NOROUTE 2);" in text
    assert "mirror :: KernelRouteMirror(rt, eth1 0, eth2 1, NETNS vf-r6-r1);" in text
    assert "mirror6 :: KernelRouteMirror(rt6, eth1 0, eth2 1, NETNS vf-r6-r1);" in text
    build_graph(text, "r1.click")


def test_an_ipv4_only_router_has_no_ipv6_part():
    _, text = config("")
    for word in ("rt6", "in6", "IP6", "ICMP6"):
        assert word not in text
    assert "eth1_in[2] -> eth1_tokernel;" in text


def test_a_router_with_ipv6_on_one_link_only_builds():
    text = LAB.format(top="routing: ospf").replace(
        '["h1:eth1", "r1:eth2"]', '["h1:eth1", "r1:eth2"]\n      ipv6: true')
    lab = assign(parse_lab(text, "r6.yaml"))
    assign_underlay(lab)
    cfg = render.configs(lab)["r1"]
    assert "eth1_in[2] -> eth1_tokernel;" in cfg and "eth2_in[2] -> eth2_in6;" in cfg
    assert "mirror6 :: KernelRouteMirror(rt6, eth2 1, NETNS vf-r6-r1);" in cfg
    build_graph(cfg, "r1.click")
