"""The cgroup interface on this machine's real tree (v2 or v1): limits read
back from the files, a CPU-bound process throttled, errors that say what is
missing."""
import os
import subprocess
import sys
import time
import uuid

import pytest

from vforward.topo import cgroups

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="cgroups need root")


def test_memory_sizes_read_as_the_kernel_counts_them():
    assert cgroups.parse_memory("256M") == 256 * 2**20
    assert cgroups.parse_memory("1G") == 2**30
    assert cgroups.parse_memory("512Mi") == 512 * 2**20
    assert cgroups.parse_memory(str(64 * 2**20)) == 64 * 2**20
    with pytest.raises(ValueError, match="not a size such as 256M"):
        cgroups.parse_memory("lots")
    with pytest.raises(ValueError, match="below 4M"):
        cgroups.parse_memory("1K")


def _tree():
    try:
        return cgroups.detect()
    except cgroups.CgroupError as e:
        pytest.skip(str(e))


@pytest.fixture
def group():
    tree = _tree()
    made = tree.make([f"egt{uuid.uuid4().hex[:6]}"])
    yield tree, made
    tree.remove(made)


def test_limits_written_are_read_back_from_the_cgroup_files(group):
    tree, g = group
    tree.limit(g, 0.25, 96 * 2**20)
    now = tree.read(g)
    assert now["cpu_limit"] == pytest.approx(0.25)
    assert now["memory_limit"] == 96 * 2**20


def test_a_cpu_bound_process_in_a_limited_group_is_throttled(group):
    tree, g = group
    tree.limit(g, 0.1, None)
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        tree.join(g, busy.pid)
        before = tree.read(g)
        time.sleep(1.5)
        after = tree.read(g)
    finally:
        busy.kill()
        busy.wait()
    assert after["nr_throttled"] > before["nr_throttled"]
    assert after["throttled_s"] > before["throttled_s"]
    used = after["cpu_s"] - before["cpu_s"]
    assert used < 0.5, f"{used:.2f} CPU seconds in 1.5 s under a 0.1 CPU limit"


def test_without_cpu_and_memory_controllers_the_error_says_what_was_found(monkeypatch):
    monkeypatch.setattr(cgroups, "_mounts", lambda: [("cgroup2", "/nonexistent/unified", set()),
                                                     ("cgroup", "/nonexistent/cpu", {"cpu"})])
    with pytest.raises(cgroups.CgroupError) as e:
        cgroups.detect()
    text = str(e.value)
    assert "cgroup2 at /nonexistent/unified with controllers 'none'" in text
    assert "cgroup v1 cpu at /nonexistent/cpu" in text and "lacks cpuacct, memory" in text
