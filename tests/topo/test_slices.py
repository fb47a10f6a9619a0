"""Slices: one topology file deployed twice at once under two names, with the
same addresses; each lab works and is listed, and destroying one leaves the
other running."""
import os
import subprocess
import sys
import uuid

import pytest

from tests.cliprocess import run_cli
from vforward import netns
from vforward.topo.deploy import DeployError, deploy, destroy, prepare
from vforward.topo.listing import list_labs
from vforward.topo.state import load_state
from vforward.topo.supervise import same_process
from vforward.topo.validate import validate
from tests.labtexts import line_lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")

def lab_text(name: str) -> str:
    return line_lab(name, tail="validate:\n  - reach: {from: h1, to: h2}\n"
                               "  - traceroute: {from: h1, to: h2, path: [r1, r2]}\n")


@pytest.fixture(scope="module")
def slices(tmp_path_factory):
    """The same file deployed as two labs; both destroyed after the module (whose
    last test destroys the first)."""
    tag = uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("slices") / "two.yaml"
    path.write_text(lab_text(f"egf{tag}"))
    names = [f"ega{tag}", f"egb{tag}"]
    try:
        for name in names:
            deploy(str(path), log=lambda *a: None, name=name)
        yield str(path), names
    finally:
        for name in names:
            if load_state(name) is not None:
                destroy(name)


def test_a_second_deploy_under_a_taken_name_is_refused(slices):
    path, (a, _) = slices
    with pytest.raises(DeployError, match=f"lab {a} is already deployed"):
        deploy(path, log=lambda *args: None, name=a)


def test_deploy_name_must_be_a_lab_name(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text(lab_text("ok"))
    with pytest.raises(ValueError, match="lab name 'Bad_Name' must be lower-case"):
        prepare(str(path), "Bad_Name")


def test_topo_list_shows_every_deployed_lab(slices):
    _, (a, b) = slices
    p = run_cli("topo", "list")
    assert p.returncode == 0, p.stderr
    lines = {line.split()[0]: line for line in p.stdout.splitlines()[1:]}
    assert "2 routers, 2 hosts" in lines[a] and "user" in lines[b]


def test_two_labs_from_one_file_run_at_once_and_one_survives_the_others_destroy(slices):
    path, (a, b) = slices
    lab_a, lab_b = prepare(path, a), prepare(path, b)
    assert lab_a.nodes["h2"].interfaces["eth1"].address == lab_b.nodes["h2"].interfaces["eth1"].address
    quiet = lambda *args: None   # noqa: E731
    assert validate(lab_a, log=quiet) == 0
    assert validate(lab_b, log=quiet) == 0
    rows = {r["name"]: r for r in list_labs(sample=0.1)}
    assert rows[a]["routers"] == rows[b]["routers"] == 2
    assert rows[a]["hosts"] == rows[b]["hosts"] == 2
    assert rows[a]["memory_bytes"] > 0 and rows[a]["processes"] >= 2
    st_b = load_state(b)
    destroy(a)
    assert not any(netns.exists(f"vf-{a}-{n}") for n in lab_a.nodes)
    assert all(netns.exists(ns) for ns in st_b.namespaces.values())
    assert all(same_process(w) for w in st_b.workers)
    assert validate(lab_b, log=quiet) == 0


def test_udp_link_ports_recorded_by_another_lab_are_not_reused(tmp_path, monkeypatch):
    from vforward.topo import state
    from vforward.topo.deploy import assign_underlay
    monkeypatch.setattr(state, "STATE_ROOT", str(tmp_path))
    path = tmp_path / "udp.yaml"
    path.write_text(lab_text("egport").replace('["r1:eth1", "r2:eth1"]',
                                                      '["r1:eth1", "r2:eth1"]\n      transport: udp'))
    first = prepare(str(path), "slice-a")
    assign_underlay(first)
    ends = first.links[0].underlay
    # Recorded, not bound: its routers may be restarting right now.
    state.LabState(name="slice-a", topology=str(path),
                   underlay={k: list(v) for k, v in ends.items()}).save()
    second = prepare(str(path), "slice-b")
    assign_underlay(second, base=min(p for _, p in ends.values()))
    assert not set(second.links[0].underlay.values()) & set(ends.values())


def test_a_lab_whose_namespace_exists_already_is_refused_and_leaves_it(tmp_path):
    # Lab a-b's node c and lab a's node b-c are both vf-a-b-c: the second must not
    # deploy, nor remove the first's namespace on its way out.
    name = "egc" + uuid.uuid4().hex[:6]
    netns.create(f"vf-{name}-h1")
    try:
        path = tmp_path / "clash.yaml"
        path.write_text(lab_text(name))
        with pytest.raises(DeployError, match=f"network namespace vf-{name}-h1 of lab {name} "
                                              "already exists"):
            deploy(str(path), log=lambda *args: None)
        assert netns.exists(f"vf-{name}-h1")
        assert load_state(name) is None
    finally:
        netns.delete(f"vf-{name}-h1")


def test_a_deploy_waits_while_another_is_choosing_its_ports(tmp_path):
    """Ports are chosen and recorded under one lock, so two labs deployed at
    the same instant cannot both take a port neither has recorded yet."""
    from vforward.topo.state import labs_lock
    name = f"egw{uuid.uuid4().hex[:6]}"
    path = tmp_path / "w.yaml"
    path.write_text(lab_text(name))
    try:
        with labs_lock():
            p = subprocess.Popen([sys.executable, "-m", "vforward", "topo", "deploy", str(path)],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            with pytest.raises(subprocess.TimeoutExpired):
                p.wait(timeout=3)
            assert load_state(name) is None      # nothing claimed while the lock is held
        out, _ = p.communicate(timeout=120)
        assert p.returncode == 0, out
        assert load_state(name).underlay
    finally:
        if load_state(name) is not None:
            destroy(name)
