"""The fused forwarding path gives exactly what the elements give: the same
frames out of the same devices, in the same order, and the same counters."""
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vforward.elements.ip.fusedforward import FusedForward

# A lab router's chain (TTL before the lookup, an empty FlowRoutes, counted
# and captured egress) ...
LAB = """
src :: Idle; src -> Strip(14) -> chk :: CheckIPHeader -> ttl :: DecIPTTL -> flows :: FlowRoutes -> rt;
rt :: RadixIPLookup(10.1.0.0/24 0, 10.2.0.0/24 1, 10.3.0.0/24 10.2.0.9 1, 10.9.0.1/32 2);
ttl[1] -> expired :: Counter -> Discard;
flows[1] -> frag0; flows[2] -> frag1;
rt[0] -> frag0 :: IPFragmenter(600) -> [0]arpq0 :: ARPQuerier(10.1.0.1, 02:00:00:00:01:01)
      -> tx0 :: Counter -> cap0 :: Capture -> le0 :: LinkEmulator -> out0 :: Discard;
rt[1] -> frag1 :: IPFragmenter(1500) -> [0]arpq1 :: ARPQuerier(10.2.0.1, 02:00:00:00:02:01)
      -> tx1 :: Counter -> out1 :: Discard;
rt[2] -> local :: Discard;
frag0[1] -> big0 :: Discard; frag1[1] -> big1 :: Discard;
Idle -> [1]arpq0; Idle -> [1]arpq1;
"""
# ... and Click's IP router's (TTL after the lookup, one DecIPTTL per output).
CLICK = """
src :: Idle; src -> Strip(14) -> chk :: CheckIPHeader -> GetIPAddress(16) -> rt;
rt :: RadixIPLookup(10.1.0.0/24 0, 10.2.0.0/24 1, 10.3.0.0/24 10.2.0.9 1, 10.9.0.1/32 2);
rt[0] -> ttl0 :: DecIPTTL -> frag0 :: IPFragmenter(600) -> [0]arpq0 :: ARPQuerier(10.1.0.1, 02:00:00:00:01:01)
      -> out0 :: Discard;
rt[1] -> ttl1 :: DecIPTTL -> frag1 :: IPFragmenter(1500) -> [0]arpq1 :: ARPQuerier(10.2.0.1, 02:00:00:00:02:01)
      -> out1 :: Discard;
rt[2] -> local :: Discard;
ttl0[1] -> expired :: Counter -> Discard; ttl1[1] -> expired2 :: Counter -> Discard;
frag0[1] -> big0 :: Discard; frag1[1] -> big1 :: Discard;
Idle -> [1]arpq0; Idle -> [1]arpq1;
"""
# ... and Click's AF_PACKET router's (bench/afpacket_router.click): no IPFragmenter.
CLICK_AFPACKET = CLICK.replace("frag0 :: IPFragmenter(600) -> ", "").replace(
    "frag1 :: IPFragmenter(1500) -> ", "").replace(
    "frag0[1] -> big0 :: Discard; frag1[1] -> big1 :: Discard;\n", "")
# ... and the lab's, whose packets without a route leave by the lookup's NOROUTE output.
LAB_NOROUTE = LAB.replace("10.9.0.1/32 2);",
                          "10.9.0.1/32 2, NOROUTE 3);\nrt[3] -> noroute :: Discard;")
SINKS = ("out0", "out1", "local", "big0", "big1", "noroute")
KNOWN = {"arpq0": ("10.1.0.2 02:00:00:00:01:02", "10.1.0.3 02:00:00:00:01:03"),
         "arpq1": ("10.2.0.9 02:00:00:00:02:09", "10.2.0.5 02:00:00:00:02:05")}
DESTS = ["10.1.0.2", "10.1.0.3", "10.1.0.4", "10.2.0.5", "10.2.0.6", "10.3.0.7", "10.9.0.1",
         "10.7.0.1"]


def ip_frame(dst: str, ttl: int, size: int, df: bool, gso: int = 0):
    """A TCP/IP frame to dst, and its GSO segment size (0: not a super-frame)."""
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, size, 7, 0x4000 if df else 0, ttl, 6, 0,
                       bytes([10, 5, 0, 1]), bytes(int(x) for x in dst.split(".")))
    s = sum(struct.unpack("!10H", head))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    tcp = struct.pack("!HHIIBBHHH", 1000, 2000, 1, 0, 0x50, 0x10, 1000, 0, 0)
    ip = head[:10] + struct.pack("!H", ~s & 0xFFFF) + head[12:] + tcp + bytes(size - 40)
    return bytes.fromhex("020000000101" "020000000505" "0800") + ip, gso


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
            _out.append(batch.to_bytes())
            _push(port, batch)
        sink.push = record
    r.element("src").passthrough_changed()
    entry = r.element("src")
    assert isinstance(entry._out_push[0], FusedForward) is False     # Strip does work
    chains = [e._out_push[0] for e in r.elements.values() if e._out_push]
    assert any(isinstance(p, FusedForward) for p in chains) == fused
    for frames in batches:
        batch = r.pool.from_bytes([f for f, _ in frames])
        for slot, (_, gso) in zip(batch.idx.tolist(), frames):
            if gso:         # a TCP super-frame as a TAP with offloads hands it over
                r.pool.gso_size[slot], r.pool.gso_type[slot] = gso, 1
                r.pool.csum_start[slot] = r.pool.off[slot] + 14 + 20
                r.pool.csum_offset[slot] = 16
        entry._out_push[0](entry._out_port[0], batch)
    counts = {}
    for name, e in r.elements.items():
        for h in ("count", "drops", "byte_count", "sent", "fragments", "stats"):
            if h in e.handlers() and e.handlers()[h].read is not None:
                counts[f"{name}.{h}"] = e.read(h)
    return sent, counts, r.pool.n_used


frames = st.builds(ip_frame, st.sampled_from(DESTS), st.sampled_from([0, 1, 2, 64]),
                   st.sampled_from([40, 84, 598, 600, 601, 1400, 1800]), st.booleans(),
                   st.sampled_from([0, 0, 500, 1400]))


@pytest.mark.parametrize("text", [LAB, CLICK, LAB_NOROUTE, CLICK_AFPACKET],
                         ids=["lab", "click", "lab-noroute", "click-afpacket"])
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(frames, min_size=1, max_size=6), min_size=1, max_size=5))
def test_the_fused_path_gives_what_the_elements_give(make_router, monkeypatch, text, batches):
    assert run(make_router, monkeypatch, text, batches, True) == \
        run(make_router, monkeypatch, text, batches, False)


def test_an_idle_ping_takes_the_fused_path_and_is_counted_at_decipttl(make_router, monkeypatch):
    sent, counts, used = run(make_router, monkeypatch, LAB,
                             [[ip_frame("10.3.0.7", 64, 84, True)]], True)
    (frame,), = sent["out1"]
    assert frame[:6] == bytes.fromhex("020000000209")       # the gateway's MAC
    assert frame[14 + 8] == 63
    assert counts["ttl.count"] == "1" and counts["tx1.count"] == "1"
    assert used == 0


def test_a_flow_in_flowroutes_turns_the_fused_path_off_and_removing_it_back_on(make_router):
    r = make_router(LAB)
    r.initialize()
    chk = r.element("chk")
    assert isinstance(chk._out_push[0], FusedForward)
    r.element("flows").write("add", "f 10.1.0.2 0 udp")
    assert chk._out_push[0] == r.element("ttl").push
    r.element("flows").write("remove", "f")
    assert isinstance(chk._out_push[0], FusedForward)


def test_a_route_chain_without_ipfragmenter_is_fused_and_leaves_long_packets_whole(
        make_router, monkeypatch):
    """Click's AF_PACKET router has no IPFragmenter: its chain is fused too,
    and with nothing that checks an MTU, a 1800-byte packet leaves whole."""
    assert "IPFragmenter" not in CLICK_AFPACKET
    sent, counts, used = run(make_router, monkeypatch, CLICK_AFPACKET,
                             [[ip_frame("10.1.0.2", 64, 1800, True)]], True)
    (frame,), = sent["out0"]
    assert len(frame) == 14 + 1800 and frame[14 + 8] == 63
    assert counts["ttl0.count"] == "1" and used == 0
