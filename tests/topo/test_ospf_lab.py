"""A ring of four vforward routers running OSPF under BIRD: it converges, every
pair reaches, a cut link is routed around (the time is measured and
printed), and restoring it brings the shorter path back."""
import os
import shutil
import time
import uuid

import pytest

from vforward.topo import ops
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.state import load_state
from vforward.topo.validate import address_owners, ping, reach, traceroute

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="labs need root"),
              pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory, ring_lab_text):
    name = "o" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("ospf") / "ring.yaml"
    path.write_text(ring_lab_text(name, routing="ospf"))
    st = deploy(str(path), log=lambda *a: None)
    try:
        assert len(st.daemons) == 4 and all(d["what"] == "bird" for d in st.daemons)
        lab = prepare(str(path))
        ok, took = reach(lab, "h1", h2(lab), within=40)
        assert ok, "OSPF never converged"
        print(f"\nOSPF converged: h1 reached h2 {took:.1f}s after deploy")
        yield lab
    finally:
        if load_state(name) is not None:
            destroy(name)


def h2(lab):
    return str(lab.nodes["h2"].interfaces["eth1"].address.ip)


def path_names(lab):
    owners = address_owners(lab)
    return [owners.get(h, h) for h in traceroute(lab, "h1", h2(lab))]


def wait_for_path(lab, want, within=30.0):
    t0 = time.monotonic()
    names = []
    while time.monotonic() - t0 < within:
        names = path_names(lab)
        if names == want:
            return time.monotonic() - t0
        time.sleep(0.5)
    raise AssertionError(f"path stayed {names}, expected {want}")


def test_ospf_converges_and_every_pair_reaches(lab):
    targets = {n: (str(lab.nodes[n].loopback.ip) if lab.nodes[n].is_router
                   else str(lab.nodes[n].interfaces["eth1"].address.ip)) for n in lab.nodes}
    for src in lab.nodes:
        for dst, addr in targets.items():
            if src != dst:
                ok, _ = reach(lab, src, addr, within=20)
                assert ok, f"{src} cannot reach {dst} ({addr})"
    wait_for_path(lab, ["r1", "r2", "r3", "h2"])


def test_a_cut_link_is_routed_around_and_restoring_it_brings_the_short_path_back(lab):
    ops.set_link(lab.name, "r2:eth2", "down")
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 30:
            _, got, _ = ping(lab, "h1", h2(lab), count=1, timeout=0.2)
            if got:
                break
        took = time.monotonic() - t0
        print(f"\nreroute after cutting r2--r3: reachable again after {took:.2f}s")
        assert took < 30
        wait_for_path(lab, ["r1", "r4", "r3", "h2"])
    finally:
        ops.set_link(lab.name, "r2:eth2", "up")
    back = wait_for_path(lab, ["r1", "r2", "r3", "h2"])
    print(f"shorter path back {back:.1f}s after restoring the link")


def test_the_mirror_follows_bird_into_the_fib(lab):
    routes = ops.NodeControl(load_state(lab.name))
    try:
        table = routes.read("r1", "rt.table")
        mirrored = routes.read("r1", "mirror.routes")
    finally:
        routes.close()
    h2_lan = str(lab.nodes["h2"].interfaces["eth1"].address.network)
    assert h2_lan in table and h2_lan in mirrored
