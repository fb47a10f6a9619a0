"""The tunnel decapsulators (EtherLinkDecap, VXLANDecap) under bogus headers:
wrong versions, types, keys and VNIs, truncations, strangers' addresses."""
import pytest

from vforward.fuzz.frames import FrameMaker
from vforward.fuzz.graph_run import GraphRun

from .test_router_click import run_both

LINK = """
wire :: Socket(UDP, 127.0.0.1, 7001, 127.0.0.1, 7000);
tap :: KernelTap(10.9.0.2/24);
wire -> d :: {decap} -> tap;
d[1] -> refused :: Discard;
tap -> Discard;
Idle -> wire;
"""
DECAPS = {"link": "EtherLinkDecap(42, 127.0.0.1:7001)", "vxlan": "VXLANDecap(7)"}


def decap_run(kind):
    return GraphRun(LINK.format(decap=DECAPS[kind]), "decap.click", ["wire", "tap"])


def payloads(maker, kind, n):
    """Tunnel payloads, mostly right, many lied about (the lies act on the tunnel
    header as well as the inner frame); the sender's address sometimes a stranger."""
    out, annos = [], []
    for _ in range(n):
        p = maker.link_payload() if kind == "link" else maker.vxlan_payload()
        if maker.rng.random() < 0.6:
            p = maker.mutate(p, nh=12 + 14 if kind == "link" else 8 + 14)
        out.append(bytes(p))
        stranger = maker.rng.random() < 0.1
        annos.append({"dst_ip": 0x7F000001 if not stranger else 0xC0000201,
                      "port": 7001 if not stranger else 7002})
    return out, annos


@pytest.mark.parametrize("kind", ["link", "vxlan"])
def test_bogus_tunnel_headers_are_refused_counted_by_reason_and_nothing_leaks(kind):
    run = decap_run(kind)
    try:
        maker = FrameMaker(42, link_key=42, vni=7)
        for _ in range(40):
            frames, annos = payloads(maker, kind, 50)
            run.push("wire", frames, annos)
        b = run.balance()
        assert b.problems() == []
        d = run.router.element("d")
        refused = int(d.read("drops"))
        assert int(d.read("count")) + refused == 2000
        assert int(run.router.element("refused").read("count")) == refused > 0
        reasons = ("truncated", "bad_version", "bad_key", "unknown_peer") if kind == "link" \
            else ("truncated", "bad_flags", "wrong_vni")
        assert sum(int(d.read(r)) for r in reasons) == refused
        assert all(int(d.read(r)) > 0 for r in reasons), "the stream missed a reason"
    finally:
        run.close()


@pytest.mark.parametrize("kind", ["link", "vxlan"])
def test_bogus_tunnel_headers_compiled_and_reference_agree(kind):
    maker = FrameMaker(43, link_key=42, vni=7)
    batches = [("wire", *payloads(maker, kind, 50)) for _ in range(10)]
    (sent_c, bal_c), (sent_r, bal_r) = run_both(batches, lambda: decap_run(kind))
    assert sent_c == sent_r and bal_c.counted == bal_r.counted


@pytest.mark.parametrize("kind", ["link", "vxlan"])
def test_tunnel_payload_truncated_at_every_offset(kind):
    run = decap_run(kind)
    try:
        maker = FrameMaker(44, link_key=42, vni=7)
        good = bytes(maker.link_payload() if kind == "link" else maker.vxlan_payload())
        cuts = [good[:k] for k in range(len(good) + 1)]
        run.push("wire", cuts, [{"dst_ip": 0x7F000001, "port": 7001}] * len(cuts))
        assert run.balance().problems() == []
        assert int(run.router.element("d").read("truncated")) >= 14 + (12 if kind == "link" else 8)
    finally:
        run.close()
