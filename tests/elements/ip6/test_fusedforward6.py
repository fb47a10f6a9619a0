"""The fused IPv6 forwarding path gives exactly what the elements give: the
same frames out of the same outputs, in the same order, and the same counters."""
import ipaddress
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vforward.elements.ip6.fusedforward6 import FusedForward6

# router6.click's output chains: route table, then per output DecIP6HLim,
# CheckLength and IP6NDSolicitor; a gateway route, an ECMP route, a local one.
ROUTER = """
src :: Idle; src -> Strip(14) -> chk :: CheckIP6Header -> rt;
rt :: LookupIP6Route(2001:db8:1::/64 0, 2001:db8:2::/64 1, 2001:db8:3::/48 2001:db8:2::9 1,
                     2001:db8:4::/64 2001:db8:2::9 1 2001:db8:2::5 1, 2001:db8:9::1/128 2);
rt[0] -> hl0 :: DecIP6HLim -> mtu0 :: CheckLength(600)
      -> [0]nds0 :: IP6NDSolicitor(2001:db8:1::1, 02:00:00:00:01:01) -> tx0 :: Counter -> out0 :: Discard;
rt[1] -> hl1 :: DecIP6HLim -> mtu1 :: CheckLength(1500)
      -> [0]nds1 :: IP6NDSolicitor(2001:db8:2::1, 02:00:00:00:02:01) -> out1 :: Discard;
rt[2] -> local :: Discard;
hl0[1] -> expired :: Counter -> Discard; hl1[1] -> expired2 :: Discard;
mtu0[1] -> big0 :: Discard; mtu1[1] -> big1 :: Discard;
Idle -> [1]nds0; Idle -> [1]nds1;
"""
SINKS = ("out0", "out1", "local", "expired2", "big0", "big1")
KNOWN = {"nds0": ("2001:db8:1::2 02:00:00:00:01:02", "2001:db8:1::3 02:00:00:00:01:03"),
         "nds1": ("2001:db8:2::9 02:00:00:00:02:09", "2001:db8:2::5 02:00:00:00:02:05")}
# resolved, unresolved (2001:db8:1::4, 2001:db8:2::6), via a gateway, ECMP,
# local, and without a route
DESTS = ["2001:db8:1::2", "2001:db8:1::3", "2001:db8:1::4", "2001:db8:2::5", "2001:db8:2::6",
         "2001:db8:3::7", "2001:db8:4::8", "2001:db8:9::1", "2001:db8:7::1"]


def ip6_frame(dst: str, hlim: int, size: int, sport: int) -> bytes:
    """An Ethernet frame holding a UDP/IPv6 datagram of `size` bytes to dst."""
    payload = struct.pack("!HHHH", sport, 2000, size - 40, 0) + bytes(size - 48)
    ip = struct.pack("!IHBB", 6 << 28, len(payload), 17, hlim) + \
        ipaddress.IPv6Address("2001:db8:5::1").packed + ipaddress.IPv6Address(dst).packed + payload
    return bytes.fromhex("020000000101" "020000000505" "86dd") + ip


def run(make_router, monkeypatch, batches, fused):
    if fused:
        monkeypatch.delenv("VFORWARD_NO_FUSION", raising=False)
    else:
        monkeypatch.setenv("VFORWARD_NO_FUSION", "1")
    r = make_router(ROUTER, n_slots=256)
    r.initialize()
    for q, entries in KNOWN.items():
        for entry in entries:
            r.element(q).write("insert", entry)
    sent = {name: [] for name in SINKS}
    for name in sent:
        sink = r.element(name)

        def record(port, batch, _push=sink.push, _out=sent[name]):
            _out.append(batch.to_bytes())
            _push(port, batch)
        sink.push = record
    r.element("src").passthrough_changed()
    chk = r.element("chk")
    assert isinstance(chk._out_push[0], FusedForward6) == fused
    entry = r.element("src")
    for frames in batches:
        batch = r.pool.from_bytes(frames)
        entry._out_push[0](entry._out_port[0], batch)
    counts = {}
    for name, e in r.elements.items():
        for h in ("count", "drops", "byte_count", "queries", "length"):
            if h in e.handlers() and e.handlers()[h].read is not None:
                counts[f"{name}.{h}"] = e.read(h)
    return sent, counts, r.pool.n_used


frames = st.builds(ip6_frame, st.sampled_from(DESTS), st.sampled_from([0, 1, 2, 64]),
                   st.sampled_from([48, 64, 600, 601, 1400, 1500, 1501]), st.integers(1, 9))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.lists(frames, min_size=1, max_size=6), min_size=1, max_size=5))
def test_the_fused_path_gives_what_the_elements_give(make_router, monkeypatch, batches):
    assert run(make_router, monkeypatch, batches, True) == \
        run(make_router, monkeypatch, batches, False)


@pytest.mark.parametrize("dst, mac", [("2001:db8:2::5", "020000000205"),
                                      ("2001:db8:3::7", "020000000209")])
def test_a_resolved_batch_takes_the_fused_path_and_is_counted_at_decip6hlim(
        make_router, monkeypatch, dst, mac):
    sent, counts, used = run(make_router, monkeypatch,
                             [[ip6_frame(dst, 64, 64, 1), ip6_frame(dst, 64, 64, 2)]], True)
    (batch,) = sent["out1"]
    for frame in batch:
        assert frame[:14] == bytes.fromhex(mac + "020000000201" "86dd")
        assert frame[14 + 7] == 63
    assert counts["hl1.count"] == "2" and counts["nds1.queries"] == "0"
    assert used == 0


def test_a_chain_without_checklength_is_not_fused(make_router):
    r = make_router(ROUTER.replace("-> mtu0 :: CheckLength(600)\n      ", "")
                    .replace("mtu0[1] -> big0 :: Discard; ", "")
                    .replace("-> mtu1 :: CheckLength(1500)\n      ", "")
                    .replace("mtu1[1] -> big1 :: Discard;", ""))
    r.initialize()
    assert r.element("chk")._out_push[0] == r.element("rt").push
