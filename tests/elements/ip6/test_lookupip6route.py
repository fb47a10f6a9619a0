"""LookupIP6Route / RadixIP6Lookup / StaticIP6Lookup: IPRouteTable over the IPv6 poptrie,
with the IPv4 lookups' route syntax, handlers and ECMP groups."""
import ipaddress
import random

import pytest

from vforward.cext.fib6_reference import Fib6Reference
from vforward.graph import GraphError
from vforward.elements.ip6.ip6family import flow_hash6, flow_hash6_reference

DYNAMIC = ["LookupIP6Route", "RadixIP6Lookup"]
OUTS = "rt[0] -> o0 :: _Sink6; rt[1] -> o1 :: _Sink6; rt[2] -> o2 :: _Sink6"


def _router(make_router, cls, routes):
    r = make_router(f"src :: _Frames6 -> rt :: {cls}({routes}); {OUTS}")
    r.initialize()
    return r


def _outputs(r):
    return [r.element(f"o{i}").frames for i in range(3)]


@pytest.mark.parametrize("cls", DYNAMIC + ["StaticIP6Lookup"])
def test_random_tables_route_as_the_reference_says(make_router, six, cls):
    rng = random.Random(7)
    ref = Fib6Reference()
    routes = {}
    for _ in range(40):
        plen = rng.choice([16, 32, 40, 44, 48, 56, 64, 128])
        net = ipaddress.IPv6Network((0x20010db8 << 96 | rng.getrandbits(32) << 72, plen),
                                    strict=False)
        routes[net] = rng.randrange(3)
    for net, out in routes.items():
        ref.insert(int(net.network_address), net.prefixlen, out)
    r = _router(make_router, cls, ", ".join(f"{n} {o}" for n, o in routes.items()))
    dsts = [str(ipaddress.IPv6Address(int(n.network_address) + rng.getrandbits(16)))
            for n in routes] + ["2001:db8::1", "3fff::1"]
    frames = [six.udp6(dst=d) for d in dsts]
    r.element("src").send(frames, annotate_dst=True)
    want = [[], [], []]
    for d, f in zip(dsts, frames):
        out = ref.lookup(int(ipaddress.IPv6Address(d)))
        if out != 0xFFFF:
            want[out].append(f)
    assert _outputs(r) == want
    assert r.element("rt").read("drops") == str(sum(ref.lookup(int(ipaddress.IPv6Address(d)))
                                                    == 0xFFFF for d in dsts))
    assert r.pool.n_used == 0


@pytest.mark.parametrize("cls", DYNAMIC)
def test_handlers_add_remove_set_ctrl_table_and_lookup(make_router, six, cls):
    r = _router(make_router, cls, "2001:db8::/32 1, ::/0 fe80::1 2")
    rt = r.element("rt")
    assert rt.read("lookup", "2001:db8::5") == "1"
    assert rt.read("lookup", "2001:db9::5") == "2 fe80::1"
    rt.write("add", "2001:db8:1::/48 fe80::2 0")
    assert rt.read("lookup", "2001:db8:1::5") == "0 fe80::2"
    with pytest.raises(Exception, match="conflicts with existing route"):
        rt.write("add", "2001:db8:1::/48 1")
    rt.write("set", "2001:db8:1::/48 1")
    with pytest.raises(Exception, match="line 2.*nothing was changed"):
        rt.write("ctrl", "remove 2001:db8:1::/48\nadd 2001:db8:zz::/48 1")
    assert rt.read("lookup", "2001:db8:1::5") == "1"
    rt.write("ctrl", "remove 2001:db8:1::/48\nadd 2001:db8:2::/48 - 0")
    assert rt.read("lookup", "2001:db8:1::5") == "1" and rt.read("lookup", "2001:db8:2::1") == "0"
    assert rt.read("table").splitlines()[0].split() == ["::/0", "fe80::1", "2"]
    with pytest.raises(Exception, match="expected an IPv6 address"):
        rt.read("lookup", "10.0.0.1")
    r.element("src").send([six.udp6(dst="2001:db9::1")], annotate_dst=True)
    assert r.element("o2").dst6 == [six.addr("fe80::1")]      # the gateway, as the next hop


def test_a_route_to_an_unconnected_output_or_a_bad_route_is_an_error(make_router):
    with pytest.raises(GraphError, match="output 1 of .rt. .LookupIP6Route. is not connected"):
        make_router("src :: _Frames6 -> rt :: LookupIP6Route(2001:db8::/32 5) -> s :: _Sink6")
    with pytest.raises(GraphError, match="argument 1: route .2001:db8::/129 0.: .129. is not a prefix length"):
        make_router("src :: _Frames6 -> rt :: LookupIP6Route(2001:db8::/129 0) -> s :: _Sink6")


def test_a_multipath_route_keeps_each_flow_on_one_output_and_uses_both(make_router, six):
    r = _router(make_router, "LookupIP6Route", "2001:db8::/32 fe80::1 1 fe80::2 2, ::/0 0")
    frames = [six.udp6(dst="2001:db8::9", sport=p) for p in range(1000, 1064)] * 2
    r.element("src").send(frames, annotate_dst=True)
    o1, o2 = r.element("o1").frames, r.element("o2").frames
    assert o1 and o2 and len(o1) + len(o2) == len(frames)
    assert not set(o1) & set(o2)        # each flow on one path
    hashes = flow_hash6(r.pool, r.pool.alloc(0).idx)
    assert len(hashes) == 0
    assert flow_hash6_reference(frames[0]) != flow_hash6_reference(frames[1])


def test_noroute_output_takes_what_no_route_matches_until_a_default_route_exists(make_router,
                                                                                 six):
    r = _router(make_router, "RadixIP6Lookup", "2001:db8:1::/48 0, NOROUTE 2")
    send = lambda: r.element("src").send([six.udp6(dst="2001:db8:1::9"),
                                          six.udp6(dst="3fff::1")], annotate_dst=True)
    send()
    assert [len(o) for o in _outputs(r)] == [1, 0, 1]
    assert r.element("rt").read("lookup", "3fff::1") == "-1"
    r.element("rt").write("add", "::/0 1")            # a daemon's default route wins
    send()
    assert [len(o) for o in _outputs(r)] == [2, 1, 1]
    r.element("rt").write("remove", "::/0")
    send()
    assert [len(o) for o in _outputs(r)] == [3, 1, 2]
    assert r.element("rt").read("drops") == "0"
    with pytest.raises(GraphError, match="not connected"):
        make_router("src :: _Frames6 -> rt :: RadixIP6Lookup(2001:db8::/32 0, NOROUTE 1) "
                    "-> o0 :: _Sink6")


@pytest.mark.parametrize("per_batch", [1, 3, 4])
def test_short_batches_take_the_same_routes_and_gateways_as_long_ones(make_router, six,
                                                                      per_batch):
    # Batches of up to four take a scalar path; longer ones the batch lookup.
    rng = random.Random(per_batch)
    routes = "2001:db8::/32 1, 2001:db8:1::/48 fe80::1 0, 2001:db8:2::/48 fe80::2 2, ::/0 fe80::9 2"
    dsts = [f"2001:db8:{rng.choice([0, 1, 2, 3])}::{rng.getrandbits(16):x}" for _ in range(30)]
    dsts += ["3fff::1", "2001:db9::1"]
    frames = [six.udp6(dst=d) for d in dsts]
    long_r = _router(make_router, "LookupIP6Route", routes)
    long_r.element("src").send(frames, annotate_dst=True)
    short_r = _router(make_router, "LookupIP6Route", routes)
    for at in range(0, len(frames), per_batch):
        short_r.element("src").send(frames[at:at + per_batch], annotate_dst=True)
    for i in range(3):
        a, b = long_r.element(f"o{i}"), short_r.element(f"o{i}")
        assert sorted(zip(a.frames, a.dst6)) == sorted(zip(b.frames, b.dst6))
    assert short_r.element("o0").dst6 and set(short_r.element("o0").dst6) == {six.addr("fe80::1")}
    assert short_r.pool.n_used == 0
