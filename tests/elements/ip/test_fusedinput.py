"""The fused input path gives exactly what the elements give: the same frames
(and annotations) at the same sinks, in the same order, and the same counters,
whatever arrives: transit packets, packets for the router itself, ARP, IPv6,
frames for other hosts, bad headers, options, padding."""
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vforward.elements.ip.fusedforward import FusedForward
from vforward.elements.ip.fusedinput import FusedInput

TAIL = """
rt :: RadixIPLookup(10.1.0.0/24 0, 10.2.0.0/24 1, 10.3.0.0/24 10.2.0.9 1, 10.1.0.1/32 2,
                    10.2.0.1/32 2);
rt[0] -> frag0 :: IPFragmenter(1500) -> [0]arpq0 :: ARPQuerier(10.1.0.1, 02:00:00:00:01:01)
      -> tx0 :: Counter -> out0 :: Discard;
rt[1] -> frag1 :: IPFragmenter(1500) -> [0]arpq1 :: ARPQuerier(10.2.0.1, 02:00:00:00:02:01)
      -> tx1 :: Counter -> out1 :: Discard;
rt[2] -> local :: Discard;
frag0[1] -> big0 :: Discard; frag1[1] -> big1 :: Discard;
Idle -> [1]arpq0; Idle -> [1]arpq1;
"""
# A lab router's input (topo/render.py): counted and captured, an Ethernet
# Classifier, Strip, CheckIPHeader, the router's own addresses aside, TTL.
LAB = """
src :: Idle; src -> rx :: Counter -> cap :: Capture -> cls :: Classifier(12/0806, 12/0800, -);
cls[0] -> arp :: Discard; cls[2] -> other :: Discard;
cls[1] -> Strip(14) -> chk :: CheckIPHeader; chk[1] -> bad :: Discard;
chk -> mine :: IPClassifier(dst host 10.1.0.1 or dst host 10.2.0.1 or dst net 224.0.0.0/4
                            or dst host 255.255.255.255 or dst host 10.1.0.255, -);
mine[0] -> tolocal :: Discard;
mine[1] -> ttl :: DecIPTTL -> flows :: FlowRoutes -> rt;
ttl[1] -> expired :: Discard;
flows[1] -> frag0; flows[2] -> frag1;
""" + TAIL
# Click's IP router (configs/examples/router.click): HostEtherFilter, a
# four-way Classifier, Paint, Strip, CheckIPHeader(INTERFACES), GetIPAddress.
CLICK = """
src :: Idle; src -> hf :: HostEtherFilter(02:00:00:00:01:01) -> c :: Classifier(12/0806 20/0001,
                                                    12/0806 20/0002, 12/0800, -);
c[0] -> arpreq :: Discard; c[1] -> arprep :: Discard; c[3] -> other :: Discard;
c[2] -> Paint(1) -> Strip(14) -> chk :: CheckIPHeader(INTERFACES 10.1.0.1/24 10.2.0.1/24)
     -> GetIPAddress(16) -> rt;
chk[1] -> bad :: Discard;
rt :: RadixIPLookup(10.1.0.0/24 0, 10.2.0.0/24 1, 10.3.0.0/24 10.2.0.9 1, 10.1.0.1/32 2,
                    10.2.0.1/32 2);
rt[0] -> ttl0 :: DecIPTTL -> frag0 :: IPFragmenter(1500)
      -> [0]arpq0 :: ARPQuerier(10.1.0.1, 02:00:00:00:01:01) -> tx0 :: Counter -> out0 :: Discard;
rt[1] -> ttl1 :: DecIPTTL -> frag1 :: IPFragmenter(1500)
      -> [0]arpq1 :: ARPQuerier(10.2.0.1, 02:00:00:00:02:01) -> tx1 :: Counter -> out1 :: Discard;
rt[2] -> local :: Discard;
ttl0[1] -> expired :: Discard; ttl1[1] -> expired;
frag0[1] -> big0 :: Discard; frag1[1] -> big1 :: Discard;
Idle -> [1]arpq0; Idle -> [1]arpq1;
"""
SINKS = ("out0", "out1", "local", "big0", "big1", "arp", "other", "bad", "tolocal", "expired",
         "arpreq", "arprep")
KNOWN = {"arpq0": ("10.1.0.2 02:00:00:00:01:02",),
         "arpq1": ("10.2.0.9 02:00:00:00:02:09", "10.2.0.5 02:00:00:00:02:05")}
ROUTER_MAC = bytes.fromhex("020000000101")
ADDRS = {"h1": "10.1.0.2", "r": "10.1.0.1", "r2": "10.2.0.1", "h2": "10.2.0.5",
         "far": "10.3.0.7", "ospf": "224.0.0.5", "bcast": "10.1.0.255", "all": "255.255.255.255",
         "none": "10.9.0.9", "unknown": "10.1.0.4"}


def ip4(name: str) -> bytes:
    return bytes(int(x) for x in ADDRS[name].split("."))


def frame(dst_mac, ethertype, src, dst, ttl, ihl, version, checksum_ok, padding, cut, arp_op):
    """An Ethernet frame: ARP (arp_op), or an ICMP echo over IP, perhaps bent out of shape."""
    head = dst_mac + bytes.fromhex("020000000505") + struct.pack("!H", ethertype)
    if ethertype == 0x0806:
        return head + struct.pack("!HHBBH", 1, 0x0800, 6, 4, arp_op) + bytes(20)
    hlen = ihl * 4
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + bytes(56)
    ip = struct.pack("!BBHHHBBH4s4s", (version << 4) | ihl, 0, hlen + len(icmp), 7, 0x4000, ttl,
                     1, 0, ip4(src), ip4(dst)) + b"\x01" * max(0, hlen - 20)
    s = sum(struct.unpack(f"!{len(ip) // 2}H", ip))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    cksum = (~s & 0xFFFF) ^ (0 if checksum_ok else 0x00FF)
    data = head + ip[:10] + struct.pack("!H", cksum) + ip[12:] + icmp + bytes(padding)
    return data[:len(data) - cut] if cut else data


frames = st.builds(
    frame,
    st.sampled_from([ROUTER_MAC] * 4 + [b"\xff" * 6, bytes.fromhex("01005e000005"),
                                        bytes.fromhex("020000000909")]),
    st.sampled_from([0x0800] * 6 + [0x0806, 0x86DD]),
    st.sampled_from(["h1", "h1", "h2", "bcast", "all", "ospf"]),
    st.sampled_from(["h2", "far", "h2", "far", "r", "r2", "ospf", "bcast", "all", "none",
                     "unknown", "h1"]),
    st.sampled_from([64, 64, 1, 0]), st.sampled_from([5, 5, 5, 6, 4]),
    st.sampled_from([4, 4, 4, 4, 6]), st.booleans() | st.just(True),
    st.sampled_from([0, 0, 6]), st.sampled_from([0, 0, 0, 0, 1, 60]), st.sampled_from([1, 2]))


def fused_input(push) -> FusedInput | None:
    """The FusedInput a push is, or calls after counting at skipped elements."""
    if isinstance(push, FusedInput):
        return push
    if isinstance(getattr(push, "push", None), FusedInput):   # a LinkStep over counters
        return push.push
    cells = getattr(push, "__closure__", None) or ()
    return next((c.cell_contents for c in cells if isinstance(c.cell_contents, FusedInput)), None)


def run(make_router, monkeypatch, text, batches, fused):
    if fused:
        monkeypatch.delenv("VFORWARD_NO_FUSION", raising=False)
    else:
        monkeypatch.setenv("VFORWARD_NO_FUSION", "1")
    r = make_router(text, n_slots=256)
    r.initialize()
    for q, entries in KNOWN.items():
        for entry in entries:
            r.element(q).write("insert", entry)
    sent = {name: [] for name in SINKS if name in r.elements}
    for name in sent:
        sink = r.element(name)

        def record(port, batch, _push=sink.push, _out=sent[name]):
            pool, idx = batch.pool, batch.idx
            _out.append([(f, int(pool.paint[s]), int(pool.ptype[s]), int(pool.dst_ip[s]),
                          int(pool.nh[s]) - int(pool.off[s]))
                         for f, s in zip(batch.to_bytes(), idx.tolist())])
            _push(port, batch)
        sink.push = record
    r.element("src").passthrough_changed()
    entry = r.element("src")
    assert (fused_input(entry._out_push[0]) is not None) == fused
    for frames_ in batches:
        batch = r.pool.from_bytes(frames_)
        entry._out_push[0](entry._out_port[0], batch)
    counts = {}
    for name, e in r.elements.items():
        for h in ("count", "drops", "byte_count", "drop_details", "sent", "fragments"):
            if h in e.handlers() and e.handlers()[h].read is not None:
                counts[f"{name}.{h}"] = e.read(h)
    return sent, counts, r.pool.n_used


@pytest.mark.parametrize("text", [LAB, CLICK], ids=["lab", "click"])
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(frames, min_size=1, max_size=6), min_size=1, max_size=5))
def test_the_fused_input_gives_what_the_elements_give(make_router, monkeypatch, text, batches):
    assert run(make_router, monkeypatch, text, batches, True) == \
        run(make_router, monkeypatch, text, batches, False)


def _ping(dst="far"):
    return frame(ROUTER_MAC, 0x0800, "h1", dst, 64, 5, 4, True, 0, 0, 1)


@pytest.mark.parametrize("text, first", [(LAB, "cls"), (CLICK, "hf")], ids=["lab", "click"])
def test_a_transit_ping_crosses_the_input_and_forwarding_passes(make_router, text, first):
    r = make_router(text, n_slots=64)
    r.initialize()
    for q, entries in KNOWN.items():
        for entry in entries:
            r.element(q).write("insert", entry)
    got = []
    r.element("out1").push = lambda port, batch: got.append(batch.to_bytes())
    src = r.element("src")
    src.passthrough_changed()           # wire the recording sink in
    fused = fused_input(src._out_push[0])
    assert fused.entry is r.element(first)
    assert isinstance(fused.last._out_push[fused.out], FusedForward)
    calls = []
    fused.entry_push = lambda port, batch: calls.append(batch)       # the elements' way
    src._out_push[0](src._out_port[0], r.pool.from_bytes([_ping()]))
    assert calls == [] and len(got) == 1
    f = got[0][0]
    assert f[:6] == bytes.fromhex("020000000209") and f[14 + 8] == 63
    assert r.element("tx1").read("count") == "1"


@pytest.mark.parametrize("text", [LAB, CLICK], ids=["lab", "click"])
def test_a_ping_for_the_router_itself_goes_the_elements_way(make_router, text):
    r = make_router(text, n_slots=64)
    r.initialize()
    got = []
    sink = r.element("tolocal" if "tolocal" in r.elements else "local")
    sink.push = lambda port, batch: got.append(batch.to_bytes())
    src = r.element("src")
    src.passthrough_changed()
    src._out_push[0](src._out_port[0], r.pool.from_bytes([_ping("r")]))
    assert len(got) == 1


def test_writing_paint_color_rebuilds_the_fused_input(make_router):
    r = make_router(CLICK, n_slots=64)
    r.initialize()
    got = []
    r.element("out1").push = lambda port, batch: got.append(int(batch.pool.paint[batch.idx[0]]))
    for q, entries in KNOWN.items():
        for entry in entries:
            r.element(q).write("insert", entry)
    src = r.element("src")
    src.passthrough_changed()
    assert fused_input(src._out_push[0]).steps["color"] == 1
    paint = next(e for e in r.elements.values() if type(e).__name__ == "Paint")
    paint.write("color", "7")
    assert fused_input(src._out_push[0]).steps["color"] == 7
    src._out_push[0](src._out_port[0], r.pool.from_bytes([_ping()]))
    assert got == [7]


def test_batches_of_two_pools_each_take_the_pass_bound_to_their_pool(make_router):
    from vforward.packet import PacketPool
    r = make_router(LAB, n_slots=64)
    r.initialize()
    for q, entries in KNOWN.items():
        for entry in entries:
            r.element(q).write("insert", entry)
    got = []
    r.element("out1").push = lambda port, batch: (got.append(batch.pool), batch.kill())
    src = r.element("src")
    src.passthrough_changed()
    other = PacketPool(16, slot_size=2048)
    for pool in (r.pool, other, r.pool):
        src._out_push[0](src._out_port[0], pool.from_bytes([_ping()]))
    assert got == [r.pool, other, r.pool]
    assert len(fused_input(src._out_push[0])._runs) == 2
    assert other.n_used == 0 and r.pool.n_used == 0
