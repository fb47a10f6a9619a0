"""KernelRouteMirror over a RadixIP6Lookup: the namespace's IPv6 main table,
changed with `ip -6 route`, reaches the IPv6 table; link-local gateways and
multipath routes (as OSPFv3 installs them) are mirrored, link-local and
multicast destinations are not."""
import time

import pytest

from vforward import netns as ns

from .test_kernelroutes import in_loop, lines, wait_for

pytestmark = pytest.mark.netns

CONFIG = """
Idle -> rt6 :: RadixIP6Lookup;
rt6[0] -> Discard; rt6[1] -> Discard;
mirror6 :: KernelRouteMirror(rt6, d0 0, d1 1, NETNS {ns});
"""


@pytest.fixture
def space6(netns):
    name = netns("km6")
    for dev, addr in (("d0", "2001:db8:1::1/64"), ("d1", "2001:db8:2::1/64")):
        ns.ip("link", "add", dev, "type", "veth", "peer", "name", f"p{dev}", netns=name)
        ns.ip("-6", "address", "add", addr, "dev", dev, "nodad", netns=name)
        ns.ip("link", "set", f"p{dev}", "up", netns=name)
        ns.ip("link", "set", dev, "up", netns=name)
    return name


def table(router):
    return in_loop(router, lambda: router.element("rt6").read("table"))


def test_ipv6_routes_with_link_local_and_multipath_next_hops_are_mirrored(make_router, space6,
                                                                           running):
    ns.ip("-6", "route", "add", "2001:db8:8::/48", "via", "2001:db8:1::2", "dev", "d0",
          netns=space6)
    r = make_router(CONFIG.format(ns=space6))
    with running(r):
        mirror = r.element("mirror6")
        got = lines(table(r))
        assert {"2001:db8:1::/64 - 0", "2001:db8:2::/64 - 1",
                "2001:db8:8::/48 2001:db8:1::2 0"} <= got
        assert not any(line.startswith(("fe80", "ff")) for line in got), got
        ns.ip("-6", "route", "add", "2001:db8:9::/48", "via", "fe80::2", "dev", "d1",
              netns=space6)
        wait_for(lambda: "2001:db8:9::/48 fe80::2 1" in lines(table(r)))
        ns.ip("-6", "route", "add", "2001:db8:a::/48", "nexthop", "via", "fe80::2", "dev", "d0",
              "nexthop", "via", "fe80::3", "dev", "d1", netns=space6)
        wait_for(lambda: "2001:db8:a::/48 fe80::2 0 fe80::3 1" in lines(table(r)))
        assert in_loop(r, lambda: r.element("rt6").read("lookup", "2001:db8:9::7")) == "1 fe80::2"
        ns.ip("-6", "route", "del", "2001:db8:9::/48", netns=space6)
        wait_for(lambda: "2001:db8:9::/48" not in table(r))
        unmirrored = in_loop(r, lambda: mirror.read("unmirrored"))
        assert "fe80::/64\tlink-local and multicast destinations are not forwarded" in unmirrored


def test_an_ipv4_mirror_beside_it_keeps_to_ipv4_routes(make_router, space6, running):
    ns.ip("address", "add", "10.1.0.1/24", "dev", "d0", netns=space6)
    text = CONFIG.format(ns=space6) + """
    Idle -> rt :: RadixIPLookup; rt[0] -> Discard; rt[1] -> Discard;
    mirror :: KernelRouteMirror(rt, d0 0, d1 1, NETNS {ns});
    """.format(ns=space6)
    r = make_router(text)
    with running(r):
        ns.ip("route", "add", "10.9.0.0/16", "via", "10.1.0.2", netns=space6)
        ns.ip("-6", "route", "add", "2001:db8:9::/48", "via", "2001:db8:1::2", netns=space6)
        wait_for(lambda: "2001:db8:9::/48 2001:db8:1::2 0" in lines(table(r)))
        wait_for(lambda: "10.9.0.0/16 10.1.0.2 0" in lines(
            in_loop(r, lambda: r.element("rt").read("table"))))
        time.sleep(0.05)
        assert not any("10." in line for line in lines(table(r)))
        assert not any(":" in line for line in lines(in_loop(r, lambda: r.element("rt").read("table"))))


def test_decode_route_reads_ipv6_routes_and_keeps_them_apart_from_ipv4():
    import socket
    import struct

    from vforward.elements.ip.kernelroutes import (RTA_DST, RTA_GATEWAY, RTA_MULTIPATH,
                                                   RTA_PRIORITY, RTA_VIA, NextHop, decode_route)
    from .test_kernelroutes import _rta
    a6 = lambda text: socket.inet_pton(socket.AF_INET6, text)     # noqa: E731
    hop1 = _rta(RTA_GATEWAY, a6("fe80::2"))
    hop2 = _rta(RTA_VIA, struct.pack("=H", socket.AF_INET) + socket.inet_aton("10.0.0.1"))
    mp = (struct.pack("=HBBi", 8 + len(hop1), 0, 0, 3) + hop1 +
          struct.pack("=HBBi", 8 + len(hop2), 0, 0, 4) + hop2)
    # host bits set in RTA_DST are cleared, as the kernel's own prefixes have them clear
    body = (struct.pack("=BBBBBBBBI", socket.AF_INET6, 48, 0, 0, 254, 12, 0, 1, 0) +
            _rta(RTA_DST, a6("2001:db8:9::1")) + _rta(RTA_PRIORITY, struct.pack("=I", 32)) +
            _rta(RTA_MULTIPATH, mp))
    route = decode_route(body, socket.AF_INET6)
    assert (route.prefix, route.plen, route.metric) == (0x20010DB8000900000000000000000000, 48, 32)
    assert route.hops == (NextHop(0xFE800000000000000000000000000002, 3),
                          NextHop(0, 4, 0, "its gateway is an IPv4 address"))
    assert decode_route(body) is None       # an IPv4 mirror passes it by
