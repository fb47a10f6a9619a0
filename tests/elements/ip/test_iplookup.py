"""The lookup elements (StaticIPLookup, RadixIPLookup, DirectIPLookup,
LinearIPLookup, LookupIPRoute): every packet leaves by the output, and with
the gateway, of the route FibReference finds for it on random tables; no
route means dropped; outputs named by routes must be connected."""
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.cext.fib_reference import NO_ROUTE, FibReference
from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError, build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router

from vforward.elements.ip.iproutetable import IPRoute

CLASSES = ["StaticIPLookup", "RadixIPLookup", "DirectIPLookup", "LinearIPLookup", "LookupIPRoute"]
DYNAMIC = ["RadixIPLookup", "DirectIPLookup", "LinearIPLookup"]
N_OUT = 4


class _Frames(Element):
    """_ILFrames -- test source: one packet per destination, its index as payload"""
    CLASS_NAME = "_ILFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, dsts):
        batch = self.router.pool.from_bytes([i.to_bytes(4, "big") for i in range(len(dsts))])
        batch.pool.dst_ip[batch.idx] = np.array(dsts, dtype=np.uint32)
        self.emit(0, batch)


class _Sink(Element):
    """_ILSink -- test sink keeping (packet index, dst_ip, port annotation)"""
    CLASS_NAME = "_ILSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.got = []

    def push(self, port, batch):
        pool = batch.pool
        for slot, data in zip(batch.idx.tolist(), batch.to_bytes()):
            self.got.append((int.from_bytes(data, "big"), int(pool.dst_ip[slot]),
                             int(pool.port[slot])))
        batch.kill()


register(_Frames)
register(_Sink)


def graph(cls, routes_text, n_out=N_OUT):
    outs = "; ".join(f"rt[{p}] -> o{p} :: _ILSink" for p in range(n_out))
    return f"src :: _ILFrames -> rt :: {cls}({routes_text}); {outs}"


def expected(routes: list[IPRoute], dsts):
    """The model: FibReference maps each address to the index of its route."""
    ref = FibReference()
    for i, r in enumerate(routes):
        ref.insert(r.prefix, r.plen, i)
    out = {p: [] for p in range(N_OUT)}
    for i, d in enumerate(dsts):
        nh = ref.lookup(d)
        if nh != NO_ROUTE:
            r = routes[nh]
            out[r.port].append((i, r.gw or d, r.port))
    return out


@st.composite
def tables(draw):
    """Random routes with distinct prefixes, and destinations in and around them."""
    n = draw(st.integers(0, 60))
    routes, seen = [], set()
    for _ in range(n):
        plen = draw(st.sampled_from([0, 1, 8, 12, 16, 20, 23, 24, 25, 28, 31, 32]))
        addr = draw(st.integers(0, 0xFFFFFFFF)) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        if plen >= 8 and draw(st.booleans()):
            addr = (0x0A000000 | addr & 0x00FFFFFF) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        if (addr, plen) in seen:
            continue
        seen.add((addr, plen))
        gw = draw(st.sampled_from([0, 0, 0x0A0000FE, 0xC0A80001]))
        routes.append(IPRoute(addr, plen, gw, draw(st.integers(0, N_OUT - 1))))
    dsts = draw(st.lists(st.one_of(
        st.integers(0, 0xFFFFFFFF),
        st.integers(0x0A000000, 0x0AFFFFFF),
        st.sampled_from([r.prefix for r in routes] or [0]).flatmap(
            lambda p: st.integers(p, min(p + 300, 0xFFFFFFFF)))), max_size=200))
    return routes, dsts


def route_text(r: IPRoute) -> str:
    """Click's syntax, in its different spellings."""
    text = str(r)                              # 'ADDR/LEN GW-or-- PORT'
    addr, gw, port = text.split()
    return f"{addr} {port}" if gw == "-" and r.port % 2 else text


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CLASSES), tables())
def test_lookups_agree_with_fibreference_on_random_tables(cls, table):
    routes, dsts = table
    random.Random(len(routes)).shuffle(routes)
    router = Router(build_graph(graph(cls, ", ".join(route_text(r) for r in routes))),
                    PacketPool(512))
    try:
        router.initialize()
        router.element("src").send(dsts)
        want = expected(routes, dsts)
        for p in range(N_OUT):
            assert router.element(f"o{p}").got == want[p]
        routed = sum(len(v) for v in want.values())
        assert router.element("rt").read("drops") == str(len(dsts) - routed)
        assert router.pool.n_used == 0
        for d in dsts[:20]:
            hit = [r for r in routes
                   if r.plen == 0 or d >> (32 - r.plen) == r.prefix >> (32 - r.plen)]
            best = max(hit, key=lambda r: r.plen, default=None)
            dotted = f"{d >> 24}.{d >> 16 & 255}.{d >> 8 & 255}.{d & 255}"
            ans = router.element("rt").read("lookup", dotted)
            assert ans == ("-1" if best is None else
                           f"{best.port} {str(best).split()[1]}" if best.gw else str(best.port))
    finally:
        router.close()


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CLASSES), tables())
@pytest.mark.parametrize("per_batch", [1, 3])
def test_packets_sent_in_short_batches_take_the_same_routes(per_batch, cls, table):
    # Batches of up to four take a scalar fast path: same outputs, gateways, drops.
    routes, dsts = table
    dsts = dsts[:40]
    router = Router(build_graph(graph(cls, ", ".join(route_text(r) for r in routes))),
                    PacketPool(64))
    try:
        router.initialize()
        src = router.element("src")
        want = expected(routes, dsts)
        for at in range(0, len(dsts), per_batch):
            part = dsts[at:at + per_batch]
            batch = router.pool.from_bytes([(at + i).to_bytes(4, "big") for i in range(len(part))])
            batch.pool.dst_ip[batch.idx] = np.array(part, dtype=np.uint32)
            src.emit(0, batch)
        for p in range(N_OUT):
            assert router.element(f"o{p}").got == want[p]
        routed = sum(len(v) for v in want.values())
        assert router.element("rt").read("drops") == str(len(dsts) - routed)
        assert router.pool.n_used == 0
    finally:
        router.close()


@pytest.mark.parametrize("cls", CLASSES)
def test_clicks_example_table(make_router, cls):
    r = make_router(graph(cls, "18.26.4.24/32 0, 18.26.4.255/32 0, 18.26.4.0/32 0, "
                               "18.26.4/24 1, 0/0 18.26.4.1 2"))
    r.initialize()
    a = lambda s: int.from_bytes(bytes(int(x) for x in s.split(".")), "big")   # noqa: E731
    r.element("src").send([a("18.26.4.24"), a("18.26.4.9"), a("1.2.3.4"), a("18.26.4.255")])
    assert r.element("o0").got == [(0, a("18.26.4.24"), 0), (3, a("18.26.4.255"), 0)]
    assert r.element("o1").got == [(1, a("18.26.4.9"), 1)]
    assert r.element("o2").got == [(2, a("18.26.4.1"), 2)]


@pytest.mark.parametrize("cls", CLASSES)
def test_a_route_to_an_unconnected_output_is_a_graph_error(make_router, cls):
    # outputs 0..3 are needed; the graph builder names the first one missing
    with pytest.raises(GraphError,
                       match=r"test.click:1:\d+: output 2 of 'rt' \(\w+\) is not connected"):
        make_router(f"src :: _ILFrames -> rt :: {cls}(10.0.0.0/8 0, 0/0 3); rt[0] -> a :: _ILSink; "
                    "rt[1] -> b :: _ILSink")


@pytest.mark.parametrize("cls", CLASSES)
def test_bad_routes_are_graph_errors_naming_them(make_router, cls):
    with pytest.raises(GraphError, match=r"argument 2: route '10.0.0.0/33 0': prefix length 33"):
        make_router(f"Idle -> rt :: {cls}(1.0.0.0/8 0, 10.0.0.0/33 0) -> Discard")


@pytest.mark.parametrize("cls", CLASSES)
def test_a_repeated_prefix_warns_and_the_first_route_wins_as_in_click(make_router, cls, capsys):
    r = make_router(f"Idle -> rt :: {cls}(10.0.0.0/8 0, 10.1.2.3/8 1, 0/0 0); rt[1] -> Discard; "
                    "rt[0] -> Discard")
    err = capsys.readouterr().err
    assert ("argument 2: route '10.0.0.0/8 - 1' repeats the prefix 10.0.0.0/8 of argument 1; "
            "the first, '10.0.0.0/8 - 0', is kept") in err
    assert r.element("rt").read("lookup", "10.9.9.9") == "0"


@pytest.mark.parametrize("cls", ["StaticIPLookup", "LookupIPRoute"])
def test_static_tables_offer_only_table_and_lookup(make_router, cls):
    r = make_router(f"Idle -> rt :: {cls}(10.0.0.0/8 0) -> Discard")
    rt = r.element("rt")
    assert rt.read("lookup", "10.1.1.1") == "0"
    for handler in ("add", "set", "remove", "ctrl"):
        with pytest.raises(KeyError):
            rt.write(handler, "11.0.0.0/8 0")


@pytest.mark.parametrize("cls", DYNAMIC)
def test_routes_added_and_removed_while_traffic_flows_take_effect(make_router, cls):
    r = make_router(graph(cls, "10.0.0.0/8 0"))
    r.initialize()
    src, rt = r.element("src"), r.element("rt")
    src.send([0x0A010101, 0x0B010101])
    rt.write("add", "11.0.0.0/8 11.0.0.1 3")
    rt.write("set", "10.1.0.0/16 2")
    src.send([0x0A010101, 0x0B010101, 0x0A020202])
    rt.write("ctrl", "remove 11.0.0.0/8\nremove 10.0.0.0/8")
    src.send([0x0A010101, 0x0B010101, 0x0A020202])
    assert r.element("o0").got == [(0, 0x0A010101, 0), (2, 0x0A020202, 0)]
    assert r.element("o2").got == [(0, 0x0A010101, 2), (0, 0x0A010101, 2)]
    assert r.element("o3").got == [(1, 0x0B000001, 3)]
    assert rt.read("drops") == "3"
    assert r.pool.n_used == 0


def test_directiplookup_flush_empties_the_table(make_router):
    r = make_router(graph("DirectIPLookup", "10.0.0.0/8 0, 0/0 1"))
    r.initialize()
    rt = r.element("rt")
    rt.write("flush")
    assert rt.read("table") == "" and rt.read("lookup", "10.0.0.1") == "-1"
    r.element("src").send([0x0A000001])
    assert rt.read("drops") == "1"


def test_a_table_with_no_routes_drops_everything(make_router):
    r = make_router("src :: _ILFrames -> rt :: RadixIPLookup")
    r.initialize()
    r.element("src").send([1, 2, 3])
    assert r.element("rt").read("drops") == "3" and r.pool.n_used == 0


def test_a_large_table_agrees_with_fibreference(make_router):
    rng = np.random.default_rng(11)
    seen, routes = set(), []
    for _ in range(3000):
        plen = int(rng.integers(8, 33))
        prefix = int(rng.integers(0, 1 << 32)) & ((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)
        if (prefix, plen) not in seen:
            seen.add((prefix, plen))
            routes.append(IPRoute(prefix, plen, int(rng.choice([0, 0x01020304])),
                                  int(rng.integers(0, N_OUT))))
    r = make_router(graph("RadixIPLookup", ""))
    r.initialize()
    rt = r.element("rt")
    rt.write("ctrl", "\n".join(f"add {x}" for x in routes))
    dsts = [x.prefix + int(rng.integers(0, 1 << (32 - x.plen))) for x in routes[:1000]] + \
        rng.integers(0, 1 << 32, 1000).tolist()
    r.element("src").send(dsts)
    want = expected(routes, dsts)
    for p in range(N_OUT):
        assert r.element(f"o{p}").got == want[p]


def test_a_click_style_router_forwards_fragments_and_answers_errors(make_router):
    import dpkt

    def ip(src, dst, ttl=64, size=40, df=0):
        p = dpkt.ip.IP(src=bytes(int(x) for x in src.split(".")),
                       dst=bytes(int(x) for x in dst.split(".")), p=17, ttl=ttl, data=bytes(size))
        p.df = df
        return bytes(p)

    class _Raw(_Frames):
        """_ILRawFrames -- test source pushing whole IP packets"""
        CLASS_NAME = "_ILRawFrames"

        def send(self, frames):
            self.emit(0, self.router.pool.from_bytes(frames))

    class _IPSink(_Sink):
        """_ILIPSink -- test sink keeping (dst_ip annotation, dpkt IP) pairs"""
        CLASS_NAME = "_ILIPSink"

        def push(self, port, batch):
            self.got += [(int(batch.pool.dst_ip[s]), dpkt.ip.IP(b))
                         for s, b in zip(batch.idx.tolist(), batch.to_bytes())]
            batch.kill()

    register(_Raw)
    register(_IPSink)
    r = make_router("""
        src :: _ILRawFrames -> CheckIPHeader -> rt :: StaticIPLookup(10.0.0.1/32 0,
                                                                     10.0.0.0/24 1,
                                                                     0/0 10.0.0.254 1);
        rt[0] -> ICMPPingResponder -> rt;
        rt[1] -> dt :: DecIPTTL -> fr :: IPFragmenter(576) -> out :: _ILIPSink;
        dt[1] -> ICMPError(10.0.0.1, timeexceeded) -> rt;
        fr[1] -> ICMPError(10.0.0.1, unreachable, needfrag) -> rt;
    """)
    r.initialize()
    r.element("src").send([ip("10.0.0.5", "8.8.8.8"), ip("10.0.0.5", "8.8.8.8", ttl=1),
                           ip("10.0.0.6", "10.0.0.9", size=1000),
                           ip("10.0.0.7", "8.8.8.8", size=1000, df=1)])
    seen = sorted((dst, p.ttl, p.p, p.offset, len(p)) for dst, p in r.element("out").got)
    assert seen == sorted([
        (0x0A0000FE, 63, 17, 0, 60),                # forwarded via the default gateway
        (0x0A000005, 254, 1, 0, 88),                # time exceeded quoting all 60 bytes
        (0x0A000009, 63, 17, 0, 572), (0x0A000009, 63, 17, 69, 468),   # two fragments
        (0x0A000007, 254, 1, 0, 576)])              # needfrag (MTU 576): quote cut to fit
    needfrag = [p for dst, p in r.element("out").got if dst == 0x0A000007][0]
    assert needfrag.data.type == 3 and needfrag.data.code == 4 and needfrag.data.data.mtu == 576
    assert r.pool.n_used == 0


def _udp(src, dst, sport, dport, offset=0):
    import dpkt
    p = dpkt.ip.IP(src=src.to_bytes(4, "big"), dst=dst.to_bytes(4, "big"), p=17,
                   data=dpkt.udp.UDP(sport=sport, dport=dport, data=b"x" * 8))
    p.offset = offset
    return bytes(p)


class _IPFrames(_Frames):
    """_ILIPFrames -- test source: whole IP packets, nh and dst_ip annotations set"""
    CLASS_NAME = "_ILIPFrames"

    def send(self, frames):
        batch = self.router.pool.from_bytes(frames)
        pool = batch.pool
        pool.nh[batch.idx] = pool.off[batch.idx]
        pool.dst_ip[batch.idx] = [int.from_bytes(f[16:20], "big") for f in frames]
        self.emit(0, batch)


register(_IPFrames)


def _ecmp_router(make_router, cls, routes):
    outs = "; ".join(f"rt[{p}] -> o{p} :: _ILSink" for p in range(N_OUT))
    r = make_router(f"src :: _ILIPFrames -> rt :: {cls}({routes}); {outs}")
    r.initialize()
    return r


@pytest.mark.parametrize("cls", CLASSES)
def test_a_multipath_route_spreads_flows_and_keeps_each_flow_on_one_output(make_router, cls):
    r = _ecmp_router(make_router, cls, "10.0.0.0/8 10.1.0.2 1 10.2.0.2 2, 11.0.0.0/8 3")
    flows = [_udp(0xC0A80000 + i % 7, 0x0A000001 + i, 1024 + i, 53) for i in range(400)]
    r.element("src").send(flows + flows[::-1] + [_udp(1, 0x0B000001, 1, 2)])
    flow_of = {int.from_bytes(f, "big"): k for k, f in enumerate(flows)}
    first, seen = {}, 0
    for p, gw in ((1, 0x0A010002), (2, 0x0A020002)):
        got = r.element(f"o{p}").got            # (packet as an int, dst_ip, port)
        seen += len(got)
        for packet, dst, port in got:
            assert dst == gw and port == p
            flow = flow_of[packet]
            assert first.setdefault(flow, p) == p           # both copies of a flow agree
    assert seen == 800 and len(first) == 400
    assert 140 <= sum(v == 1 for v in first.values()) <= 260   # each output a fair share
    assert [(d, p) for _, d, p in r.element("o3").got] == [(0x0B000001, 3)]   # single path
    assert r.element("rt").read("table") == ("10.0.0.0/8\t\t10.1.0.2\t1\t10.2.0.2\t2\n"
                                             "11.0.0.0/8\t\t-\t\t3\n")
    assert r.element("rt").read("lookup", "10.9.9.9") == "1 10.1.0.2"


@pytest.mark.parametrize("cls", ["RadixIPLookup", "StaticIPLookup"])
def test_a_multipath_flow_sent_one_packet_at_a_time_keeps_its_output(make_router, cls):
    r = _ecmp_router(make_router, cls, "10.0.0.0/8 10.1.0.2 1 10.2.0.2 2")
    flows = [_udp(0xC0A80000 + i, 0x0A000001 + i, 1024 + i, 53) for i in range(40)]
    r.element("src").send(flows)
    together = {p: r.element(f"o{p}").got[:] for p in (1, 2)}
    for p in (1, 2):
        r.element(f"o{p}").got.clear()
    for f in flows:
        r.element("src").send([f])
    assert {p: r.element(f"o{p}").got for p in (1, 2)} == together
    assert together[1] and together[2]


def test_the_flow_hash_agrees_with_its_reference_and_ignores_ports_of_later_fragments():
    from vforward.elements.ip.iproutetable import flow_hash, flow_hash_reference
    pool = PacketPool(64)
    frames = [_udp(0x01020304, 0x0A000001 + i, 1000 + i, 80) for i in range(20)]
    frames += [_udp(0x01020304, 0x0A000001, 7, 8, offset=100), b"\x45" + bytes(10)]
    batch = pool.from_bytes(frames)
    pool.nh[batch.idx] = pool.off[batch.idx]
    got = flow_hash(pool, batch.idx).tolist()
    assert got == [flow_hash_reference(f) for f in frames]
    assert len(set(got[:20])) == 20
    assert got[20] == flow_hash_reference(_udp(0x01020304, 0x0A000001, 9, 9, offset=100))


@pytest.mark.parametrize("cls", DYNAMIC)
def test_multipath_routes_through_the_handlers_and_as_the_default(make_router, cls):
    r = _ecmp_router(make_router, cls, "0/0 - 0 - 1")
    rt = r.element("rt")
    rt.write("add", "10.0.0.0/8 10.1.0.2 2 10.2.0.2 3")
    with pytest.raises(Exception, match="given twice"):
        rt.write("set", "12.0.0.0/8 - 1 - 1")
    with pytest.raises(Exception, match="output 4 is not connected"):
        rt.write("set", "12.0.0.0/8 - 1 - 4")
    with pytest.raises(Exception, match="not found"):
        rt.write("remove", "10.0.0.0/8 10.1.0.2 2")
    flows = [_udp(0x0C000000 + i, 0x0A000000 + i, i, i) for i in range(100)] + \
            [_udp(0x0C000000 + i, 0x0D000000 + i, i, i) for i in range(100)]
    r.element("src").send(flows)
    assert all(0 < len(r.element(f"o{p}").got) < 100 for p in range(N_OUT))
    rt.write("ctrl", "remove 10.0.0.0/8 10.1.0.2 2 10.2.0.2 3\nset 0/0 2")
    assert rt.read("table") == "0.0.0.0/0\t\t-\t\t2\n"
    assert rt.table.pairs_in_use() == 0 and rt.table.groups_in_use() == 0
    assert not rt.table.has_groups


def test_rangeiplookup_answers_as_the_others(capfd):
    from vforward.clickcli import main
    main(["-e", "i :: Idle -> r :: RangeIPLookup() -> i; r[1] -> i; DriverManager("
          "write r.add 18.26/16 1.0.0.1 0, write r.add 18.26.0/17 3.0.0.3 1, "
          "print r.lookup 18.26.4.9, stop)"])
    assert capfd.readouterr().out == "1 3.0.0.3\n"


def test_list_based_tables_print_routes_in_the_order_given(capfd):
    from vforward.clickcli import main
    for cls, order in (("LinearIPLookup", ["192.0.2.9/32", "192.0.2.0/24"]),
                       ("StaticIPLookup", ["192.0.2.9/32", "192.0.2.0/24"]),
                       ("RadixIPLookup", ["192.0.2.0/24", "192.0.2.9/32"])):
        main(["-q", "-h", "rt.table", "-e", f"rt :: {cls}(192.0.2.9/32 0, 192.0.2.0/24 1); "
              "Idle -> rt; rt[0] -> Discard; rt[1] -> Discard"])
        assert [ln.split()[0] for ln in capfd.readouterr().out.splitlines()] == order, cls


def test_noroute_output_takes_what_no_route_matches_until_a_default_route_exists():
    r = Router(build_graph("Idle -> rt :: RadixIPLookup(10.0.0.0/8 0, NOROUTE 2) -> Discard; "
                           "rt[1] -> Discard; rt[2] -> Discard"), PacketPool(16))
    try:
        r.initialize()
        rt = r.element("rt")
        assert rt.read("lookup", "192.0.2.1") == "-1"
        assert rt.table.lookup(0xC0000201) == (-1, 0)
        assert int(rt.table.nh_port[NO_ROUTE]) == 2              # the no-route index leads to NOROUTE
        rt.write("add", "0.0.0.0/0 1")
        assert rt.read("lookup", "192.0.2.1") == "1"
        rt.write("remove", "0.0.0.0/0")
        assert int(rt.table.nh_port[NO_ROUTE]) == 2
    finally:
        r.close()
