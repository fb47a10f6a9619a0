"""BIRD for lab routers: the rendered configuration says what the topology
says (router id, OSPF costs and timers, stubs, BGP sessions) and BIRD accepts
it; two namespaces running it converge on OSPF or BGP, the kernel tables get
each other's loopbacks, a KernelRouteMirror copies the route into a router's
table, and stopping one BIRD withdraws it again."""
import concurrent.futures
import contextlib
import shutil
import tempfile
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.topo import bird
from vforward.topo.addressing import assign
from vforward.topo.model import TopologyError, parse_lab

needs_bird = pytest.mark.skipif(shutil.which("bird") is None, reason="BIRD 2 is not installed")

LAB = """\
name: birdlab
routing: ospf
topology:
  nodes:
    r1: {}
    r2: {}
    r3: {}
    h1: {kind: host}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
      cost: 7
    - endpoints: ["r2:eth2", "r3:eth1"]
    - endpoints: ["r1:eth3", "h1:eth1"]
"""


def lab_with_bgp():
    lab = assign(parse_lab(LAB, "lab.yaml"))
    lab.nodes["r1"].bgp = {"asn": 65001, "neighbors": [{"peer": "r2"}, {"peer": "r3"},
                                                       {"address": "192.0.2.9", "asn": 65100}]}
    lab.nodes["r2"].bgp = {"asn": 65002, "neighbors": [{"peer": "r1"}]}
    lab.nodes["r3"].bgp = {"asn": 65001, "neighbors": [{"peer": "r1"}]}
    return lab


def squash(text):
    return " ".join(text.split())


def test_config_has_router_id_ospf_costs_timers_stubs_and_kernel_export():
    lab = lab_with_bgp()
    r1 = lab.nodes["r1"]
    text = squash(bird.bird_config(lab, r1))
    assert f"router id {r1.loopback.ip};" in text
    assert 'interface "lo", "eth1", "eth3";' in text
    assert "export where source != RTS_DEVICE; }; merge paths on; scan time 2;" in text
    assert 'interface "eth1" { type ptp; cost 7; hello 1; dead 4; retransmit 2; };' in text
    assert 'interface "eth3" { type broadcast; stub yes; cost 10; };' in text
    assert f'interface "lo" {r1.loopback.network} {{ stub yes; }};' in text
    assert "ecmp yes;" in text


def test_bgp_sessions_use_link_addresses_to_neighbours_and_loopbacks_beyond():
    lab = lab_with_bgp()
    r1, r2, r3 = (lab.nodes[n] for n in ("r1", "r2", "r3"))
    text = squash(bird.bird_config(lab, r1))
    a, b = r1.interfaces["eth1"].address.ip, r2.interfaces["eth1"].address.ip
    assert (f"protocol bgp bgp_r2 {{ local {a} as 65001; neighbor {b} as 65002; direct;"
            in text)
    assert (f"protocol bgp bgp_r3 {{ local {r1.loopback.ip} as 65001; neighbor "
            f"{r3.loopback.ip} as 65001;" in text)
    r3_session = text[text.index("protocol bgp bgp_r3"):]
    assert "next hop self;" in r3_session[:r3_session.index("protocol bgp bgp_192")]
    assert "neighbor 192.0.2.9 as 65100; multihop;" in text
    assert "export where source ~ [RTS_DEVICE, RTS_BGP];" in text
    with pytest.raises(TopologyError, match="peer 'r9' is not a router"):
        r2.bgp = {"asn": 65002, "neighbors": [{"peer": "r9"}]}
        bird.bird_config(lab, r2)
    with pytest.raises(TopologyError, match="needs its 'asn'"):
        r2.bgp = {"asn": 65002, "neighbors": [{"address": "192.0.2.1"}]}
        bird.bird_config(lab, r2)
    with pytest.raises(TopologyError, match="asn must be an AS number"):
        r2.bgp = {"asn": "x", "neighbors": []}
        bird.bird_config(lab, r2)
    with pytest.raises(TopologyError, match="is a host"):
        bird.bird_config(lab, lab.nodes["h1"])


@needs_bird
def test_bird_accepts_every_rendered_config(tmp_path):
    lab = lab_with_bgp()
    for node in lab.routers():
        bird.check_config(bird.write_config(lab, node, str(tmp_path / f"{node.name}.conf")))


@needs_bird
def test_a_rejected_config_raises_with_birds_message(tmp_path, netns):
    conf = tmp_path / "bad.conf"
    conf.write_text("router id 10.0.0.1;\nprotocol ospf v2 { area 0 { interfce \"x\"; }; }\n")
    with pytest.raises(bird.BirdError, match=r"bad\.conf.*syntax error"):
        bird.start_bird(netns("bb"), str(conf), str(tmp_path))


# -- two namespaces running BIRD -----------------------------------------------------------
PAIR = """\
name: {name}
routing: {routing}
topology:
  nodes:
    ra: {{}}
    rb: {{}}
  links:
    - endpoints: ["ra:{ea}", "rb:{eb}"]
      cost: 5
"""


@contextlib.contextmanager
def bird_pair(netns, routing="ospf", bgp=False):
    """Two routers ra, rb in namespaces joined by a veth pair (kernel mode), each
    with its loopback and a BIRD running the rendered configuration.  Yields
    (lab, {node: namespace}, {node: (pid, control socket)})."""
    tag = uuid.uuid4().hex[:6]
    ea, eb = f"a{tag}", f"b{tag}"
    lab = assign(parse_lab(PAIR.format(name=f"b{tag}", routing=routing, ea=ea, eb=eb)))
    if bgp:
        lab.nodes["ra"].bgp = {"asn": 65001, "neighbors": [{"peer": "rb"}]}
        lab.nodes["rb"].bgp = {"asn": 65002, "neighbors": [{"peer": "ra"}]}
    spaces = {"ra": netns("ba"), "rb": netns("bb")}
    ns.veth_pair(ea, spaces["ra"], eb, spaces["rb"])
    run_dir = tempfile.mkdtemp(prefix="vfbird")
    birds = {}
    try:
        for name, node in lab.nodes.items():
            space = spaces[name]
            ns.ip("address", "add", str(node.loopback), "dev", "lo", netns=space)
            for iface in node.interfaces.values():
                ns.ip("address", "add", iface.address.with_prefixlen, "dev", iface.name,
                      netns=space)
            d = f"{run_dir}/{name}"
            conf = bird.write_config(lab, node, f"{run_dir}/{name}.conf")
            birds[name] = (bird.start_bird(space, conf, d), bird.socket_path(d))
        yield lab, spaces, birds
    finally:
        for pid, _ in birds.values():
            bird.stop_bird(pid)
        shutil.rmtree(run_dir, ignore_errors=True)


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def in_loop(router, fn):
    fut = concurrent.futures.Future()
    router.loop.call_soon_threadsafe(lambda: fut.set_result(fn()))
    return fut.result(5)


@needs_bird
@pytest.mark.netns
def test_ospf_converges_and_the_mirror_follows_the_route_in_and_out(netns, make_router, running):
    with bird_pair(netns) as (lab, spaces, birds):
        ra, rb = lab.nodes["ra"], lab.nodes["rb"]
        ea = next(iter(ra.interfaces.values()))
        eb = next(iter(rb.interfaces.values()))
        sock_a = birds["ra"][1]
        assert wait_for(lambda: "Full" in bird.birdc(sock_a, "show ospf neighbors"), 15), \
            bird.birdc(sock_a, "show ospf neighbors")
        rb_lo = str(rb.loopback.ip)
        assert wait_for(lambda: rb_lo in ns.ip("route", netns=spaces["ra"]), 10)
        route = ns.ip("route", "show", rb_lo, netns=spaces["ra"])
        assert f"via {eb.address.ip} dev {ea.name} proto bird" in route
        assert wait_for(lambda: str(ra.loopback.ip) in ns.ip("route", netns=spaces["rb"]), 10)

        r = make_router(f"Idle -> rt :: RadixIPLookup -> Discard;"
                        f"mirror :: KernelRouteMirror(rt, {ea.name} 0, NETNS {spaces['ra']});")
        with running(r):
            rt = r.element("rt")
            want = f"{rb_lo}/32\t\t{eb.address.ip}\t0"
            table = lambda: in_loop(r, lambda: rt.read("table"))    # noqa: E731
            assert wait_for(lambda: want in table(), 2), table()
            assert f"{ea.address.network}\t\t-\t\t0" in table()
            pid_b = birds["rb"][0]
            bird.stop_bird(pid_b)
            # dead interval (4 s), SPF, kernel export, mirror
            assert wait_for(lambda: rb_lo not in table(), 10), table()
            assert rb_lo not in ns.ip("route", netns=spaces["ra"])
            assert f"{ea.address.network}" in table()


@needs_bird
@pytest.mark.netns
def test_ebgp_session_exchanges_loopbacks(netns):
    with bird_pair(netns, routing="static", bgp=True) as (lab, spaces, birds):
        ra, rb = lab.nodes["ra"], lab.nodes["rb"]
        sock_a = birds["ra"][1]
        assert wait_for(lambda: "Established" in bird.birdc(sock_a, "show protocols bgp_rb"), 15), \
            bird.birdc(sock_a, "show protocols all bgp_rb")
        eb = next(iter(rb.interfaces.values()))
        assert wait_for(lambda: str(rb.loopback.ip) in ns.ip("route", netns=spaces["ra"]), 10)
        assert f"via {eb.address.ip}" in ns.ip("route", "show", str(rb.loopback.ip),
                                               netns=spaces["ra"])
        assert wait_for(lambda: str(ra.loopback.ip) in ns.ip("route", netns=spaces["rb"]), 10)
        assert "ospf" not in bird.birdc(sock_a, "show protocols")
