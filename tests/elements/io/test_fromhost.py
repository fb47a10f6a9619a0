"""FromHost and ToHost: the host talks to the router through one TAP device."""
import uuid

import pytest

from vforward import netns as ns
from vforward.graph import build_graph
from vforward.element import ElementError


def test_host_pings_the_router_through_fromhost_and_tohost(make_router, netns, running):
    space = netns("fh")
    dev = f"fh{uuid.uuid4().hex[:8]}"
    # ARP requests are answered, echo requests turned round: both go back by ToHost
    r = make_router(f"fh :: FromHost({dev}, 192.0.2.1/24, NETNS {space}) -> c :: Classifier("
                    "12/0806 20/0001, 12/0800, -);\n"
                    f"c[0] -> ARPResponder(192.0.2.2 02:00:00:00:00:02) -> th :: ToHost({dev});\n"
                    "c[1] -> Strip(14) -> CheckIPHeader -> ICMPPingResponder -> "
                    "EtherEncap(0x0800, 02:00:00:00:00:02, ff:ff:ff:ff:ff:ff) -> th;\n"
                    "c[2] -> Discard;")
    with running(r):
        p = ns.run(space, "ping", "-c", "2", "-i", "0.1", "-W", "2", "-n", "192.0.2.2",
                   check=False)
        assert p.returncode == 0, p.stdout + p.stderr
        assert "02:00:00:00:00:02" in ns.ip("neigh", "show", "192.0.2.2", netns=space)
    assert int(r.element("fh").read("count")) >= 3


def test_tohost_needs_its_fromhost(make_router):
    r = make_router("Idle -> ToHost(nosuchdev0)")
    with pytest.raises(ElementError, match="needs exactly one FromHost with DEVNAME nosuchdev0"):
        r.initialize()


def test_fromhost_takes_clicks_argument_order():
    g = build_graph("FromHost(fake0, 10.0.0.1/8, ETHER 02:00:00:00:00:01, MTU 1400) -> Discard")
    e = next(iter(g.elements.values()))
    assert (e.dev_name, e.prefixlen, e.mtu, e.tap) == ("fake0", 8, 1400, True)
