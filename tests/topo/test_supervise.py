"""Supervision: a lab notices a dead router process, reports it, and restarts it by
its `restart:` policy; destroy signals only processes that are the lab's."""
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest

from vforward.topo import ops
from vforward.topo import validate as validate_module
from vforward.topo.deploy import deploy, destroy, destroy_state, prepare
from vforward.topo.state import LabState, load_state
from vforward.topo.supervise import process_identity, same_process, signal_process
from vforward.topo.validate import reach, validate
from tests.labtexts import line_lab

def lab_text(name: str, policy: str) -> str:
    return line_lab(name, head=f"restart: {policy}\n",
                    tail="validate:\n  - reach: {from: h1, to: h2}\n")

root = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")


@pytest.fixture
def lab(tmp_path):
    made = []

    def make(policy):
        name = "rl" + uuid.uuid4().hex[:6]
        path = tmp_path / f"{name}.yaml"
        path.write_text(lab_text(name, policy))
        made.append(name)
        deploy(str(path), nodes_per_worker=1, log=lambda *a: None)
        return prepare(str(path))
    yield make
    for name in made:
        if load_state(name) is not None:
            destroy(name)


def node(info, name):
    return next(n for n in info["nodes"] if n["node"] == name)


def wait_for(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


@root
def test_a_killed_router_stays_down_under_never_and_inspect_and_validate_say_so(lab, monkeypatch):
    lab_ = lab("never")
    pid = node(ops.inspect(lab_.name), "r1")["pid"]
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    info = wait_for(lambda: (i := ops.inspect(lab_.name)) and node(i, "r1")["down"] and i)
    noticed = time.monotonic() - t0          # inspect checks the process itself: at once
    assert node(info, "r1")["running"] is False
    # the supervisor, too, has seen it die, and how
    info = wait_for(lambda: (i := ops.inspect(lab_.name)) and "killed" in node(i, "r1")["down"]
                    and i)
    r1 = node(info, "r1")
    assert r1["running"] is False and "killed" in r1["down"] and r1["restarts"] == 0
    assert node(info, "r2")["running"] is True
    assert noticed < 3.0
    lines = []
    # The reach check through r1 cannot pass while r1 stays down: a 2 s window
    # fails it as surely as the default 10 s one, 8 s sooner.
    monkeypatch.setattr(validate_module, "reach",
                        lambda *a, **k: reach(*a, **{**k, "within": 2.0}))
    assert validate(lab_, log=lines.append) == 1
    assert any(line.startswith("FAIL  node r1 is down") for line in lines)


@root
def test_a_killed_router_is_restarted_with_its_interfaces_addresses_and_routes(lab):
    lab_ = lab("on-failure")
    assert reach(lab_, "h1", lab_.nodes["h2"].interfaces["eth1"].address.ip.compressed)[0]
    before = node(ops.inspect(lab_.name), "r1")
    os.kill(before["pid"], signal.SIGKILL)
    after = wait_for(lambda: (r := node(ops.inspect(lab_.name), "r1"))["restarts"] == 1
                     and r["running"] and r)
    assert after and after["pid"] != before["pid"] and after["down"] is None
    assert 0 < after["last_restart_s"] < 20
    # the same interfaces with the same addresses, and traffic across the node again
    assert [(i["name"], i["address"]) for i in after["interfaces"]] == \
        [(i["name"], i["address"]) for i in before["interfaces"]]
    ok, took = reach(lab_, "h1", lab_.nodes["h2"].interfaces["eth1"].address.ip.compressed,
                     within=15)
    assert ok
    lines = []
    assert validate(lab_, log=lines.append) == 0, lines
    # the restarted process is known by its own identity: killed again, restarted again
    os.kill(after["pid"], signal.SIGKILL)
    again = wait_for(lambda: (r := node(ops.inspect(lab_.name), "r1"))["restarts"] == 2
                     and r["running"] and r)
    assert again and again["pid"] not in (before["pid"], after["pid"])
    status = __import__("json").load(open(os.path.join(load_state(lab_.name).directory,
                                                       "supervisor.json")))
    assert all("topo worker" in w["cmd"] or "topo workers" in w["cmd"] for w in status["workers"])


def test_a_process_is_known_by_start_time_and_command_not_by_pid_alone():
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        me = process_identity(p.pid)
        assert me and same_process(me)
        reused = dict(me, start=me["start"] - 1)        # the same pid, another process
        assert not same_process(reused) and not signal_process(reused, signal.SIGTERM)
        other = dict(me, cmd="vforward topo worker /run/vforward/labs/x r1")
        assert not signal_process(other, signal.SIGTERM)
        assert p.poll() is None                          # never signalled
        assert signal_process(me, signal.SIGTERM)
        assert p.wait(5) == -signal.SIGTERM
    finally:
        p.kill()
        p.wait()


def test_destroy_leaves_alone_a_process_that_took_a_recorded_pid(tmp_path, monkeypatch):
    """A record left by a crashed lab whose pid now belongs to another program."""
    from vforward.topo import state
    monkeypatch.setattr(state, "STATE_ROOT", str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        me = process_identity(p.pid)
        st = LabState(name="gone", topology="x.yaml",
                      workers=[{"pid": p.pid, "nodes": ["r1"], "log": "",
                                "start": me["start"] + 12345, "cmd": "python -m vforward topo"}],
                      daemons=[{"node": "r1", "pid": p.pid, "what": "bird",
                                "start": me["start"], "cmd": "bird -c other.conf"}])
        destroy_state(st)
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()
