"""resources: on a deployed lab: a limited node runs alone in its own cgroup
with its limits, is throttled when flooded, is shown by inspect, and its
groups go with the lab."""
import os
import uuid

import pytest

from vforward.topo import cgroups, isolation
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.model import TopologyError, parse_lab
from vforward.topo.ops import inspect
from vforward.topo.state import load_state
from vforward.topo.validate import reach
from tests.labtexts import line_lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")

def lab_text(name: str) -> str:
    return line_lab(name, head="routing: ospf\nresources: {cpu: 1.5, memory: 1G}\n",
                    r1="{resources: {cpu: 0.02, memory: 160M}}")


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    try:
        cgroups.detect()
    except cgroups.CgroupError as e:
        pytest.skip(str(e))
    name = "egi" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("iso") / "limited.yaml"
    path.write_text(lab_text(name))
    deploy(str(path), log=lambda *a: None)
    try:
        yield prepare(str(path)), load_state(name)
    finally:
        if load_state(name) is not None:
            destroy(name)


def test_a_limited_node_runs_alone_in_its_group_with_its_limits(limited):
    lab, st = limited
    tree = cgroups.detect()
    r1 = [w for w in st.workers if "r1" in w["nodes"]]
    assert len(r1) == 1 and r1[0]["nodes"] == ["r1"]
    group = st.cgroups["nodes"]["r1"]
    for d in group:
        with open(os.path.join(d, "cgroup.procs")) as f:
            assert str(r1[0]["pid"]) in f.read().split()
    now = tree.read(group)
    assert now["cpu_limit"] == pytest.approx(0.02)
    assert now["memory_limit"] == 160 * 2**20
    assert tree.read(st.cgroups["lab"])["cpu_limit"] == pytest.approx(1.5)
    bird = next(d for d in st.daemons if d["node"] == "r1")
    for d in group:      # the node's routing daemon shares its limits
        with open(os.path.join(d, "cgroup.procs")) as f:
            assert str(bird["pid"]) in f.read().split()
    other = next(w for w in st.workers if "r2" in w["nodes"])
    with open(os.path.join(st.cgroups["shared"][0], "cgroup.procs")) as f:
        assert str(other["pid"]) in f.read().split()


def test_a_flooded_limited_node_is_throttled_and_inspect_shows_its_use(limited, iperf):
    lab, st = limited
    tree = cgroups.detect()
    group = st.cgroups["nodes"]["r1"]
    before = tree.read(group)
    h2 = str(lab.nodes["h2"].interfaces["eth1"].address.ip)
    assert reach(lab, "h1", h2, within=30)[0]      # OSPF has converged
    # A UDP flood of small packets: r1 (0.02 CPU) has more work than its share.
    iperf(f"vf-{lab.name}-h1", f"vf-{lab.name}-h2", h2, "-u", "-b", "0", "-l", "64", "-t", "2")
    after = tree.read(group)
    assert after["nr_throttled"] > before["nr_throttled"]
    assert after["throttled_s"] > before["throttled_s"]
    info = inspect(lab.name)
    r1 = next(n for n in info["nodes"] if n["node"] == "r1")
    assert r1["resources"]["cpu_limit"] == pytest.approx(0.02)
    assert 0 < r1["resources"]["memory_bytes"] <= 160 * 2**20
    assert next(n for n in info["nodes"] if n["node"] == "r2")["resources"] is None
    assert info["resources"]["memory_limit"] == 2**30


def test_the_groups_go_with_the_lab(tmp_path):
    try:
        cgroups.detect()
    except cgroups.CgroupError as e:
        pytest.skip(str(e))
    name = "egj" + uuid.uuid4().hex[:6]
    path = tmp_path / "limited.yaml"
    path.write_text(lab_text(name))
    deploy(str(path), log=lambda *a: None)
    dirs = [d for g in (load_state(name).cgroups["nodes"]["r1"], load_state(name).cgroups["lab"])
            for d in g]
    assert all(os.path.isdir(d) for d in dirs)
    destroy(name)
    assert not any(os.path.exists(d) for d in dirs)


def test_a_bad_memory_size_names_its_place():
    with pytest.raises(TopologyError, match=r"<topology>:6: resources: memory 'lots' is not a size"):
        parse_lab(lab_text("x").replace("memory: 160M", "memory: lots"))
    with pytest.raises(TopologyError, match="cpu must be more than 0"):
        parse_lab(lab_text("x").replace("cpu: 0.02", "cpu: 0"))


def test_a_lab_without_resources_makes_no_group():
    lab = parse_lab(lab_text("x").replace("resources: {cpu: 1.5, memory: 1G}\n", "")
                    .replace("{resources: {cpu: 0.02, memory: 160M}}", "{}"))
    assert not isolation.wanted(lab)
    assert isolation.setup(lab) == {}


def test_a_command_run_in_a_limited_lab_counts_against_its_limits(limited, capfd):
    from vforward.topo.ops import exec_in
    lab, _ = limited
    assert exec_in(lab.name, "h1", ["cat", "/proc/self/cgroup"]) == 0
    assert f"/vforward/{lab.name}/shared" in capfd.readouterr().out


def test_a_restarted_limited_router_is_back_in_its_group(limited):
    from vforward.topo.ops import restart_node
    from vforward.topo.supervise import current_workers
    lab, st = limited
    restart_node(lab.name, "r1")
    now = load_state(lab.name)
    r1 = next(w for w in current_workers(now) if w["nodes"] == ["r1"])
    assert r1["pid"] != next(w for w in st.workers if w["nodes"] == ["r1"])["pid"]
    with open(os.path.join(st.cgroups["nodes"]["r1"][0], "cgroup.procs")) as f:
        assert str(r1["pid"]) in f.read().split()
