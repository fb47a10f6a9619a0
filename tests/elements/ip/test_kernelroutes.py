"""KernelRouteMirror on real namespaces: the kernel's main table, changed with
`ip route`, shows up in a RadixIPLookup of a running router within
milliseconds; the mirror removes only what it wrote; multipath routes
become next-hop groups of their usable next hops; silent kernel flushes are caught by
the resync that link changes trigger."""
import concurrent.futures
import contextlib
import socket
import struct
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.args import ArgumentError
from vforward.element import ElementError
from vforward.graph import GraphError

from vforward.elements.ip.kernelroutes import (RTA_DST, RTA_GATEWAY, RTA_MULTIPATH, RTA_OIF,
                                               RTA_PRIORITY, RTA_VIA, RTM_NEWROUTE, NextHop,
                                               decode_route, iter_messages)

pytestmark = pytest.mark.netns


def in_loop(router, fn):
    """fn() run on the router's loop thread (handlers are not thread-safe)."""
    fut = concurrent.futures.Future()

    def call():
        try:
            fut.set_result(fn())
        except Exception as e:          # pragma: no cover - shown by the test failing
            fut.set_exception(e)
    router.loop.call_soon_threadsafe(call)
    return fut.result(5)


def wait_for(predicate, timeout=2.0):
    """Seconds until predicate() held; fails after timeout."""
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.005)
    return time.monotonic() - t0


def table(router, name="rt"):
    return in_loop(router, lambda: router.element(name).read("table"))


def lines(text):
    return {" ".join(l.split()) for l in text.splitlines() if l.strip()}


def interfaces(space, *specs):
    """Interfaces NAME with ADDR/LEN inside a namespace: one end of a veth pair
    each (whose other end, pNAME, stays in the namespace, up, without address)."""
    for name, addr in specs:
        ns.ip("link", "add", name, "type", "veth", "peer", "name", f"p{name}", netns=space)
        ns.ip("address", "add", addr, "dev", name, netns=space)
        ns.ip("link", "set", f"p{name}", "up", netns=space)
        ns.ip("link", "set", name, "up", netns=space)


CONFIG = """
Idle -> rt :: RadixIPLookup;
rt[0] -> Discard; rt[1] -> Discard; rt[2] -> Discard;
mirror :: KernelRouteMirror(rt, d0 0, d1 1, d2 2, NETNS {ns});
"""


@pytest.fixture
def space(netns):
    name = netns("km")
    interfaces(name, ("d0", "10.1.0.1/24"), ("d1", "10.2.0.1/24"), ("d3", "10.3.0.1/24"))
    return name


def test_initial_dump_mirrors_connected_and_gateway_routes_and_skips_unknown_devices(
        make_router, space):
    ns.ip("route", "add", "10.8.0.0/16", "via", "10.1.0.2", "dev", "d0", netns=space)
    ns.ip("route", "add", "10.7.0.0/16", "dev", "lo", netns=space)
    ns.ip("route", "add", "blackhole", "10.6.0.0/16", netns=space)
    r = make_router(CONFIG.format(ns=space))
    r.initialize()
    rt, mirror = r.element("rt"), r.element("mirror")
    assert lines(rt.read("table")) == {"10.1.0.0/24 - 0", "10.2.0.0/24 - 1",
                                       "10.8.0.0/16 10.1.0.2 0"}
    assert lines(mirror.read("routes")) == {"10.1.0.0/24 - 0", "10.2.0.0/24 - 1",
                                            "10.8.0.0/16 10.1.0.2 0"}
    assert mirror.read("count") == "3"
    unmirrored = mirror.read("unmirrored")
    assert "10.7.0.0/16\tinterface lo is not in the interface map" in unmirrored
    assert "10.6.0.0/16\tblackhole routes are not mirrored" in unmirrored
    assert "10.3.0.0/24\tinterface d3 is not in the interface map" in unmirrored
    assert int(mirror.read("skipped")) == 3
    assert lines(mirror.read("interfaces")) == {"d0 0", "d1 1", "d2 2"}
    assert rt.table.lookup(0x0A080505) == (0, 0x0A010002)


def test_added_route_reaches_the_table_within_100ms_and_delete_removes_it(make_router, space,
                                                                          running):
    r = make_router(CONFIG.format(ns=space))
    with running(r):
        t0 = time.monotonic()
        ns.ip("route", "add", "10.9.0.0/16", "via", "10.2.0.2", "dev", "d1", netns=space)
        wait_for(lambda: "10.9.0.0/16" in table(r))
        took = time.monotonic() - t0     # includes running `ip` itself
        assert took < 0.1 + 0.4, took
        assert "10.9.0.0/16\t\t10.2.0.2\t1" in table(r)
        ns.ip("route", "replace", "10.9.0.0/16", "via", "10.1.0.7", "dev", "d0", netns=space)
        wait_for(lambda: "10.9.0.0/16\t\t10.1.0.7\t0" in table(r))
        ns.ip("route", "del", "10.9.0.0/16", netns=space)
        wait_for(lambda: "10.9.0.0/16" not in table(r))
        assert in_loop(r, lambda: r.element("mirror").read("count")) == "5"   # 2 connected + 3


def test_user_routes_survive_mirrored_deletes_conflicts_and_resync(make_router, space, running):
    r = make_router(CONFIG.format(ns=space))
    with running(r):
        rt, mirror = r.element("rt"), r.element("mirror")
        in_loop(r, lambda: rt.write("add", "10.50.0.0/16 10.1.0.9 0"))
        # an unrelated mirrored route comes and goes
        ns.ip("route", "add", "10.9.0.0/16", "via", "10.2.0.2", "dev", "d1", netns=space)
        wait_for(lambda: "10.9.0.0/16" in table(r))
        ns.ip("route", "del", "10.9.0.0/16", netns=space)
        wait_for(lambda: "10.9.0.0/16" not in table(r))
        assert "10.50.0.0/16\t\t10.1.0.9\t0" in table(r)
        # the kernel gets a route for the user's prefix: the user's route wins
        ns.ip("route", "add", "10.50.0.0/16", "via", "10.2.0.2", "dev", "d1", netns=space)
        wait_for(lambda: "10.50.0.0/16" in in_loop(r, lambda: mirror.read("unmirrored")))
        assert "10.50.0.0/16\t\t10.1.0.9\t0" in table(r)
        ns.ip("route", "del", "10.50.0.0/16", netns=space)
        wait_for(lambda: "10.50.0.0/16" not in in_loop(r, lambda: mirror.read("unmirrored")))
        assert "10.50.0.0/16\t\t10.1.0.9\t0" in table(r)
        resyncs = int(in_loop(r, lambda: mirror.read("resyncs")))
        in_loop(r, lambda: mirror.write("resync", ""))
        wait_for(lambda: int(in_loop(r, lambda: mirror.read("resyncs"))) > resyncs)
        assert "10.50.0.0/16\t\t10.1.0.9\t0" in table(r)
        assert "10.50.0.0/16" not in in_loop(r, lambda: mirror.read("routes"))
        # a user replaces a mirrored route: it is the user's now, the kernel's delete keeps it
        ns.ip("route", "add", "10.11.0.0/16", "via", "10.2.0.2", "dev", "d1", netns=space)
        wait_for(lambda: "10.11.0.0/16" in table(r))
        in_loop(r, lambda: rt.write("set", "10.11.0.0/16 10.1.0.3 0"))
        ns.ip("route", "del", "10.11.0.0/16", netns=space)
        ns.ip("route", "add", "10.12.0.0/16", "dev", "d0", netns=space)   # a marker after it
        wait_for(lambda: "10.12.0.0/16" in table(r))
        assert "10.11.0.0/16\t\t10.1.0.3\t0" in table(r)
        # a user removes a prefix the kernel has: a resync puts the kernel's route back
        in_loop(r, lambda: rt.write("remove", "10.12.0.0/16"))
        in_loop(r, lambda: mirror.write("resync", ""))
        wait_for(lambda: "10.12.0.0/16" in table(r))
        assert "10.12.0.0/16 - 0" in lines(in_loop(r, lambda: mirror.read("routes")))


def test_multipath_route_becomes_a_group_of_its_usable_next_hops(make_router, space, running):
    r = make_router(CONFIG.format(ns=space))
    with running(r):
        rt, mirror = r.element("rt"), r.element("mirror")
        ns.ip("route", "add", "10.9.0.0/16", "nexthop", "via", "10.1.0.2", "dev", "d0",
              "nexthop", "via", "10.2.0.2", "dev", "d1", netns=space)
        wait_for(lambda: "10.9.0.0/16\t\t10.1.0.2\t0\t10.2.0.2\t1\n" in table(r))
        assert "10.9.0.0/16 10.1.0.2 0 10.2.0.2 1" in lines(in_loop(r, lambda: mirror.read("routes")))
        assert in_loop(r, lambda: rt.table.groups_in_use()) == 1
        # d3 is not in the map: its next hop is passed over, and one hop is a plain route
        ns.ip("route", "add", "10.61.0.0/16", "nexthop", "via", "10.3.0.2", "dev", "d3",
              "nexthop", "via", "10.2.0.2", "dev", "d1", netns=space)
        wait_for(lambda: "10.61.0.0/16 10.2.0.2 1" in lines(table(r)))
        ns.ip("route", "del", "10.9.0.0/16", netns=space)
        wait_for(lambda: "10.9.0.0/16" not in table(r))
        assert in_loop(r, lambda: rt.table.groups_in_use()) == 0


def test_lowest_metric_wins_and_the_next_takes_over_when_it_goes(make_router, space, running):
    r = make_router(CONFIG.format(ns=space))
    with running(r):
        ns.ip("route", "add", "10.70.0.0/16", "via", "10.2.0.2", "dev", "d1", "metric", "20",
              netns=space)
        ns.ip("route", "add", "10.70.0.0/16", "via", "10.1.0.2", "dev", "d0", "metric", "10",
              netns=space)
        wait_for(lambda: "10.70.0.0/16\t\t10.1.0.2\t0" in table(r))
        ns.ip("route", "del", "10.70.0.0/16", "metric", "10", netns=space)
        wait_for(lambda: "10.70.0.0/16\t\t10.2.0.2\t1" in table(r))


def test_routes_the_kernel_flushes_silently_on_link_down_are_removed(make_router, space, running):
    r = make_router(CONFIG.format(ns=space))
    with running(r):
        ns.ip("route", "add", "10.80.0.0/16", "via", "10.2.0.2", "dev", "d1", netns=space)
        wait_for(lambda: "10.80.0.0/16" in table(r))
        ns.ip("link", "set", "d1", "down", netns=space)
        wait_for(lambda: "10.80.0.0/16" not in table(r) and "10.2.0.0/24" not in table(r))
        assert "10.1.0.0/24" in table(r)


def test_interface_map_comes_from_the_kerneltaps_behind_the_outputs(make_router, netns, running):
    space = netns("kt")
    tap = f"kt{uuid.uuid4().hex[:8]}"
    r = make_router(f"""
        Idle -> rt :: RadixIPLookup;
        rt[0] -> tx :: Counter -> tap :: KernelTap(10.91.0.1/24, DEVNAME {tap}, NETNS {space});
        tap -> Discard;
        rt[1] -> Discard;
        mirror :: KernelRouteMirror(rt, NETNS {space});
    """)
    with running(r):
        mirror = r.element("mirror")
        assert lines(in_loop(r, lambda: mirror.read("interfaces"))) == {f"{tap} 0"}
        wait_for(lambda: "10.91.0.0/24" in table(r))
        ns.ip("route", "add", "10.92.0.0/16", "via", "10.91.0.2", netns=space)
        wait_for(lambda: "10.92.0.0/16\t\t10.91.0.2\t0" in table(r))


def test_table_must_be_a_dynamic_lookup_and_the_map_must_be_pairs(make_router, netns):
    space = netns("ke")
    r = make_router(f"Idle -> rt :: StaticIPLookup(10.0.0.0/8 0) -> Discard;"
                    f"KernelRouteMirror(rt, x 0, NETNS {space});")
    with pytest.raises(ElementError, match="StaticIPLookup.*use RadixIPLookup"):
        r.initialize()
    r = make_router(f"Idle -> rt :: RadixIPLookup -> Discard; KernelRouteMirror(nope, x 0, NETNS {space});")
    with pytest.raises(ElementError, match="TABLE 'nope' is not an element"):
        r.initialize()
    with pytest.raises((ArgumentError, GraphError), match="must be 'DEVNAME PORT'"):
        make_router("Idle -> rt :: RadixIPLookup -> Discard; KernelRouteMirror(rt, eth1);")
    r = make_router(f"Idle -> rt :: RadixIPLookup -> Discard; KernelRouteMirror(rt, NETNS {space});")
    with pytest.raises(ElementError, match="give the interface map"):
        r.initialize()


def test_a_generated_lab_config_maps_every_interface_to_its_own_output():
    """In render.router_config, rt[P] leads to interface P's wire, and the wire back
    to that interface's KernelTap: the map derived from the graph is the lab's."""
    from vforward.graph import build_graph
    from vforward.runtime import Router
    from vforward.topo import render
    from vforward.topo.addressing import assign
    from vforward.topo.deploy import assign_underlay
    from vforward.topo.model import parse_lab
    lab = assign(parse_lab(
        "name: mirrormap\ntopology:\n  nodes:\n    r1: {}\n    r2: {}\n    r3: {}\n"
        "    h1: {kind: host}\n  links:\n    - endpoints: [r1:eth1, r2:eth1]\n"
        "    - endpoints: [r1:eth2, r3:eth1]\n    - endpoints: [h1:eth1, r1:eth3]\n"))
    assign_underlay(lab)
    node = lab.nodes["r1"]
    node.extra = f"mirror :: KernelRouteMirror(rt, NETNS {render.netns_name(lab, 'r1')});"
    router = Router(build_graph(render.router_config(lab, node), "r1.click"))
    try:
        mirror = router.element("mirror")
        mirror.router, mirror.rt = router, router.element("rt")
        assert mirror._interfaces_from_graph() == {"eth1": 0, "eth2": 1, "eth3": 2}
    finally:
        router.close()


def _rta(atype, payload):
    n = 4 + len(payload)
    return struct.pack("=HH", n, atype) + payload + b"\0" * ((4 - n % 4) % 4)


def test_decode_route_reads_multipath_and_ipv6_gateways():
    ip = socket.inet_aton
    hop1 = _rta(RTA_GATEWAY, ip("10.0.0.2"))
    hop2 = _rta(RTA_VIA, struct.pack("=H", socket.AF_INET6) + socket.inet_pton(socket.AF_INET6, "fe80::1"))
    mp = (struct.pack("=HBBi", 8 + len(hop1), 0, 0, 3) + hop1 +
          struct.pack("=HBBi", 8 + len(hop2), 0, 0, 4) + hop2)
    body = (struct.pack("=BBBBBBBBI", socket.AF_INET, 16, 0, 0, 254, 12, 0, 1, 0) +
            _rta(RTA_DST, ip("10.9.1.0")) + _rta(RTA_PRIORITY, struct.pack("=I", 32)) +
            _rta(RTA_MULTIPATH, mp))
    msg = struct.pack("=IHHII", 16 + len(body), RTM_NEWROUTE, 0, 0, 0) + body
    [(mtype, _, _, _, payload)] = list(iter_messages(msg))
    route = decode_route(payload)
    assert mtype == RTM_NEWROUTE
    assert (route.prefix, route.plen, route.metric, route.table) == (0x0A090000, 16, 32, 254)
    assert route.hops == (NextHop(0x0A000002, 3), NextHop(0, 4, 0, "its gateway is an IPv6 address"))
    single = (struct.pack("=BBBBBBBBI", socket.AF_INET, 24, 0, 0, 254, 2, 253, 1, 0) +
              _rta(RTA_DST, ip("10.1.0.0")) + _rta(RTA_OIF, struct.pack("=i", 7)))
    assert decode_route(single).hops == (NextHop(0, 7),)


# -- FPMServer: the same mirror, fed by FRR's zebra over FPM -------------------------------
ZEBRA, STATICD = "/usr/lib/frr/zebra", "/usr/lib/frr/staticd"


def _frr_available():
    import glob
    import os
    return (os.access(ZEBRA, os.X_OK) and os.access(STATICD, os.X_OK) and
            bool(glob.glob("/usr/lib/*/frr/modules/dplane_fpm_nl.so")))


@contextlib.contextmanager
def frr(space, static_routes, port=2620):
    """zebra (with dplane_fpm_nl sending to 127.0.0.1:port) and staticd in a namespace.
    Yields vtysh(*commands)."""
    import os
    import shutil
    import subprocess
    import tempfile
    d = tempfile.mkdtemp(prefix="vffrr")
    with open(f"{d}/zebra.conf", "w") as f:
        f.write(f"hostname z\nfpm address 127.0.0.1 port {port}\nno fpm use-next-hop-groups\n")
    with open(f"{d}/staticd.conf", "w") as f:
        f.write("hostname s\n" + "".join(f"ip route {r}\n" for r in static_routes))
    shutil.chown(d, "frr", "frr")
    for name in os.listdir(d):
        shutil.chown(f"{d}/{name}", "frr", "frr")
    common = ["-z", f"{d}/zserv.api", "--vty_socket", d, "-u", "frr", "-g", "frr"]
    procs = []

    def start(binary, conf, *extra):
        log = open(f"{d}/{os.path.basename(binary)}.log", "w")
        procs.append(ns.popen(space, binary, "-f", f"{d}/{conf}", "-i", f"{d}/{conf}.pid",
                              *common, *extra, stdin=subprocess.DEVNULL, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True))

    def vtysh(*commands):
        args = [x for c in commands for x in ("-c", c)]
        return subprocess.run(["vtysh", "--vty_socket", d, *args], capture_output=True,
                              text=True, timeout=10).stdout
    try:
        start(ZEBRA, "zebra.conf", "-M", "dplane_fpm_nl")
        wait_for(lambda: os.path.exists(f"{d}/zserv.api"), 10)
        start(STATICD, "staticd.conf")
        vtysh.procs = procs
        yield vtysh
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(not _frr_available(), reason="FRR with dplane_fpm_nl is not installed")
def test_fpmserver_takes_zebras_routes_and_withdraws_them_when_zebra_goes(make_router, space,
                                                                          running):
    r = make_router(f"""
        Idle -> rt :: RadixIPLookup;
        rt[0] -> Discard; rt[1] -> Discard;
        fpm :: FPMServer(rt, d0 0, d1 1, NETNS {space});
    """)
    with running(r):
        rt, fpm = r.element("rt"), r.element("fpm")
        in_loop(r, lambda: rt.write("add", "10.50.0.0/16 10.1.0.9 0"))
        with frr(space, ["10.9.0.0/16 10.1.0.2", "10.60.0.0/16 10.1.0.2",
                         "10.60.0.0/16 10.2.0.2", "10.7.0.0/16 Null0"]) as vtysh:
            wait_for(lambda: "10.9.0.0/16\t\t10.1.0.2\t0" in table(r), 15)
            assert in_loop(r, lambda: fpm.read("connected")) == "true"
            # ECMP from zebra: a group of both next hops; a blackhole is not mirrored
            wait_for(lambda: "10.60.0.0/16 10.1.0.2 0 10.2.0.2 1" in lines(table(r)))
            wait_for(lambda: "10.7.0.0/16" in in_loop(r, lambda: fpm.read("unmirrored")))
            vtysh("configure terminal", "no ip route 10.9.0.0/16 10.1.0.2",
                  "ip route 10.11.0.0/16 10.2.0.2")
            wait_for(lambda: "10.9.0.0/16" not in table(r) and
                     "10.11.0.0/16\t\t10.2.0.2\t1" in table(r))
            zebra = vtysh.procs[0]
            zebra.terminate()
            zebra.wait(5)
            wait_for(lambda: "10.11.0.0/16" not in table(r))
            assert in_loop(r, lambda: fpm.read("connected")) == "false"
            assert in_loop(r, lambda: fpm.read("routes")) == ""
            assert "10.50.0.0/16\t\t10.1.0.9\t0" in table(r)
            assert int(in_loop(r, lambda: fpm.read("frames"))) >= 4


def test_fpmserver_names_the_port_another_server_holds(make_router, space):
    r = make_router(f"""
        Idle -> rt :: RadixIPLookup -> Discard;
        a :: FPMServer(rt, d0 0, NETNS {space}, PORT 2621);
        b :: FPMServer(rt, d0 0, NETNS {space}, PORT 2621);
    """)
    with pytest.raises(ElementError, match=r"b :: FPMServer: cannot listen on 127\.0\.0\.1:2621"):
        r.initialize()
