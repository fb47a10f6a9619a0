"""A lab router's link side in the fused path: the LinkProbe, Counters,
Capture and LinkEmulator between a link and the router's input and output
passes are crossed by one compiled step (cext/ipforward's LinkStep), and
every handler reads what it reads without fusion (VFORWARD_NO_FUSION=1),
whatever arrives: transit pings both ways, TTLs that expire, packets for the
router, ARP, probe frames, runts."""
import re
import struct

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from vforward.elements.ip.fusedinput import FusedInput
from vforward.elements.link.linkprobe import ETHERTYPE, HEADER, MAGIC, REQUEST, VERSION
from vforward.topo import addressing, render
from vforward.topo.model import load_lab

LAB = load_lab(str(__import__("pathlib").Path(__file__).parents[1] / "configs/labs/ring4.yaml"))
LAB = addressing.assign(LAB)


def r2_text() -> str:
    """r2's generated config with its TAPs and links an Idle entry and a Discard each."""
    text = render.router_config(LAB, LAB.nodes["r2"], placement={n: 0 for n in LAB.nodes})
    for dev in re.findall(r"^(\w+) :: (?:KernelTap|InProcessLink)\(.*?\);", text, flags=re.M):
        text = re.sub(rf"^{dev} :: (?:KernelTap|InProcessLink)\(.*?\);", "", text, flags=re.M)
        text = re.sub(rf"-> {dev};", f"-> {dev}_out :: Discard;", text)
        text = re.sub(rf"^{dev} ->", f"{dev}_in :: Idle ->", text, flags=re.M)
    return text


def _iface(node, toward):
    return next(i for i in LAB.nodes[node].interfaces.values() if i.link.other(i).node == toward)


def _ip(node, iface="eth1"):
    return LAB.nodes[node].interfaces[iface].address.ip.packed


def ping(toward_r2_from: str, src: str, dst: str, ttl: int) -> bytes:
    """An echo request arriving at r2 from its neighbour `toward_r2_from`."""
    iface = _iface("r2", toward_r2_from)
    peer = iface.link.other(iface)
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + bytes(56)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 7, 0x4000, ttl, 1, 0,
                     src, dst)
    s = sum(struct.unpack("!10H", ip))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    ip = ip[:10] + struct.pack("!H", ~s & 0xFFFF) + ip[12:]
    return bytes.fromhex(iface.mac.replace(":", "") + peer.mac.replace(":", "")) \
        + b"\x08\x00" + ip + icmp


def probe(kind: int = REQUEST) -> bytes:
    """A LinkProbe request from the far end, as its probe sends them."""
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x09" + struct.pack("!H", ETHERTYPE) \
        + HEADER.pack(MAGIC, VERSION, kind, 0, 5, 77, 1, 0, 0, 0, 0, 0, 0)


def arp_reply() -> bytes:
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x09\x08\x06" + struct.pack(
        "!HHBBH", 1, 0x0800, 6, 4, 2) + bytes(20)


ENTRIES = ("eth1_wire_in", "eth2_wire_in", "eth1_kernel_in")
SINKS = ("eth1_wire_out", "eth2_wire_out", "eth1_kernel_out", "eth2_kernel_out")
h1, h2, r2_own = _ip("h1"), _ip("h2"), LAB.nodes["r2"].interfaces["eth1"].address.ip.packed
frames = st.one_of(
    st.builds(ping, st.just("r1"), st.just(h1), st.just(h2), st.sampled_from([64, 64, 1])),
    st.builds(ping, st.just("r3"), st.just(h2), st.just(h1), st.sampled_from([64, 64, 1])),
    st.builds(ping, st.just("r1"), st.just(h1), st.just(r2_own), st.just(64)),
    st.just(probe()), st.just(arp_reply()), st.just(b"\x01" * 10))


def run(make_router, monkeypatch, batches, fused: bool):
    if fused:
        monkeypatch.delenv("VFORWARD_NO_FUSION", raising=False)
    else:
        monkeypatch.setenv("VFORWARD_NO_FUSION", "1")
    r = make_router(r2_text(), n_slots=256)
    r.initialize()
    for nxt in ("r1", "r3"):
        out = _iface("r2", nxt)
        peer = out.link.other(out)
        r.element(f"{render.element_prefix(out)}_arpq").write(
            "insert", f"{peer.address.ip} {peer.mac}")
    sent = {name: [] for name in SINKS}
    for name in SINKS:
        sink = r.element(name)

        def record(port, batch, _push=sink.push, _out=sent[name]):
            _out.append(batch.to_bytes())
            _push(port, batch)
        sink.push = record
        sink.passthrough_changed()
    wire = r.element("eth1_wire_in")._out_push[0]
    assert (type(wire).__name__ == "LinkStep") == fused
    assert isinstance(getattr(wire, "push", None), FusedInput) == fused
    for entry, frames_ in batches:
        e = r.element(ENTRIES[entry])
        e._out_push[0](e._out_port[0], r.pool.from_bytes(frames_))
    values = {}
    for name, e in r.elements.items():
        for h, handler in e.handlers().items():
            if handler.read is not None and not handler.read_takes_arg and h in (
                    "count", "byte_count", "sent", "drops", "received", "replies", "tx_count",
                    "drops_loss", "drops_queue", "drops_down"):
                values[f"{name}.{h}"] = e.read(h)
    return sent, values, r.pool.n_used


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(st.tuples(st.sampled_from([0, 0, 1, 2]),
                                  st.lists(frames, min_size=1, max_size=5)),
                        min_size=1, max_size=6))
def test_lab_router_handlers_read_the_same_with_and_without_fusion(make_router, monkeypatch,
                                                                   batches):
    fused = run(make_router, monkeypatch, batches, True)
    assert fused == run(make_router, monkeypatch, batches, False)


def test_a_transit_ping_counts_at_every_link_side_element_it_crosses_fused(make_router,
                                                                           monkeypatch):
    sent, values, used = run(make_router, monkeypatch, [(0, [ping("r1", h1, h2, 64)] * 3)], True)
    assert [len(b) for b in sent["eth2_wire_out"]] == [3]
    n, size = "3", str(3 * 98)
    assert (values["eth1_rx.count"], values["eth1_rx.byte_count"]) == (n, size)
    assert (values["eth2_tx.count"], values["eth2_tx.byte_count"]) == (n, size)
    assert (values["eth2_egress.count"], values["eth2_egress.sent"]) == (n, n)
    assert used == 0


@pytest.mark.parametrize("change", ["capture", "delay"])
def test_a_capture_or_delay_turned_on_takes_the_next_packet_off_the_fused_path(
        make_router, monkeypatch, tmp_path, change):
    monkeypatch.delenv("VFORWARD_NO_FUSION", raising=False)
    r = make_router(r2_text(), n_slots=256)
    r.initialize()
    out = _iface("r2", "r3")
    peer = out.link.other(out)
    r.element("eth2_arpq").write("insert", f"{peer.address.ip} {peer.mac}")
    got = []
    sink = r.element("eth2_wire_out")
    push = sink.push
    sink.push = lambda port, batch: (got.append(len(batch.idx)), push(port, batch))
    sink.passthrough_changed()
    wire = r.element("eth1_wire_in")

    def send():
        wire._out_push[0](wire._out_port[0], r.pool.from_bytes([ping("r1", h1, h2, 64)]))
    send()
    assert got == [1]
    if change == "capture":
        r.element("eth2_capture").write("start", str(tmp_path / "c.pcap"))
        send()
        assert r.element("eth2_capture").read("count") == "1" and got == [1, 1]
        r.element("eth2_capture").write("stop")
    else:
        r.element("eth2_egress").write("delay", "50ms")
        send()
        assert got == [1], "a delayed packet left at once"
        assert r.element("eth2_egress").read("count") == "2"
        r.element("eth2_egress").write("delay", "0ms")
    send()
    assert r.element("eth2_tx").read("count") == "3"
