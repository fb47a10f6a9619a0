"""A restarted router gets back what was set on it by hand: its manual
routes and its per-flow paths, whether the restart was asked for
(`restart_node`, a scenario's node event) or followed a crash."""
import csv
import json
import os
import signal
import time
import uuid

import pytest

from vforward.cli import main
from vforward.experiment.flows import add_flow, del_flow, list_flows
from vforward.experiment.manualroutes import add_route, del_route, show_routes
from vforward.topo import ops
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.state import load_state
from vforward.topo.supervise import read_status
from vforward.topo.validate import reach

LAB = """\
name: {name}
topology:
  nodes:
    r1: {{}}
    r2: {{}}
    r3: {{}}
    h1: {{kind: host}}
    h2: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "r3:eth1"]
    - endpoints: ["r1:eth3", "r3:eth3"]
    - endpoints: ["h1:eth1", "r1:eth2"]
    - endpoints: ["h2:eth1", "r3:eth2"]
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = "nq" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("restore") / f"{name}.yaml"
    path.write_text(LAB.format(name=name))
    try:
        deploy(str(path), nodes_per_worker=1, log=lambda *a: None)
        lab = prepare(str(path))
        assert reach(lab, "h1", h2(lab))[0]
        yield lab
    finally:
        if load_state(name) is not None:
            destroy(name)


def h2(lab):
    return str(lab.nodes["h2"].interfaces["eth1"].address.ip)


def wait_for(predicate, seconds=20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def by_hand(lab):
    """A route by hand on r1 via r2, and a flow pinned to r1, r2, r3; removed
    afterwards.  (A prefix of its own: removing a manual route that replaced
    a static one leaves none in a lab without a routing daemon.)"""
    lan = "198.51.100.0/24"
    add_route(lab.name, "r1", lan, "r2")
    add_flow(lab.name, "f1", "udp and dst port 7777", ["r1", "r2", "r3"])
    yield lan
    del_flow(lab.name, "f1")
    del_route(lab.name, "r1", lan)


def manual_gateway(lab, node, prefix):
    row = next(r for r in show_routes(lab.name, node) if r["prefix"] == prefix)
    return row["origin"], row["next_hops"][0]["neighbour"]


def pinned(lab, name):
    return next(f for f in list_flows(lab.name) if f["name"] == name)["packets"]


def test_a_manual_route_and_a_flow_survive_a_requested_restart(lab, by_hand):
    assert manual_gateway(lab, "r1", by_hand) == ("manual", "r2")
    result = ops.restart_node(lab.name, "r1")
    assert "re-applied 1 manual route and 1 flow entry" in result
    # read from the new process: the route by hand and the flow are there again
    assert manual_gateway(lab, "r1", by_hand) == ("manual", "r2")
    assert set(pinned(lab, "f1")) == {"r1", "r2"}
    assert reach(lab, "h1", h2(lab), within=5)[0]


def test_a_flow_survives_a_crash_restart_by_the_supervisor(lab, by_hand):
    before = next(n for n in ops.inspect(lab.name)["nodes"] if n["node"] == "r2")
    os.kill(before["pid"], signal.SIGKILL)
    after = wait_for(lambda: (n := next(n for n in ops.inspect(lab.name)["nodes"]
                                        if n["node"] == "r2"))["restarts"] == before["restarts"] + 1
                     and n["running"] and n)
    assert after and after["pid"] != before["pid"]
    # the supervisor re-applied it before reporting the process running
    w = next(w for w in read_status(load_state(lab.name).directory)["workers"]
             if "r2" in w["nodes"])
    assert w["restored"] == "re-applied 1 flow entry" and "restore_error" not in w
    assert set(pinned(lab, "f1")) == {"r1", "r2"}
    assert manual_gateway(lab, "r1", by_hand) == ("manual", "r2")     # r1 untouched


def test_a_link_taken_down_stays_down_across_a_restart(lab):
    ops.set_link(lab.name, "r1:eth3", "down")
    try:
        result = ops.restart_node(lab.name, "r1")
        assert "re-applied 1 link end down" in result
        st = load_state(lab.name)
        node, element = st.interfaces["r1:eth3"]["egress"]
        ctl = ops.NodeControl(st)
        try:
            assert ctl.read(node, f"{element}.up") == "false"     # the new process's
        finally:
            ctl.close()
    finally:
        ops.set_link(lab.name, "r1:eth3", "up")
    assert reach(lab, "h1", h2(lab), within=5)[0]


SCENARIO = """\
measure:
  - ping: {from: h1, to: h2, interval: 50ms}
events:
  - at: 1s
    node: {name: r3, action: restart}
duration: 6s          # the restart takes 1-3 s on a busy machine
"""


def test_a_scenario_node_restart_event_succeeds_and_says_what_restarted(lab, tmp_path, capsys):
    sc = tmp_path / "restart.yaml"
    sc.write_text(SCENARIO)
    out = tmp_path / "run"
    pid = next(n for n in ops.inspect(lab.name)["nodes"] if n["node"] == "r3")["pid"]
    assert main(["topo", "run", lab.name, str(sc), "--out", str(out)]) == 0, \
        capsys.readouterr().out
    with open(out / "events.csv") as f:
        (event,) = list(csv.DictReader(f))
    assert event["event"] == "node r3 restart" and event["ok"] == "ok", event
    assert event["result"].startswith(f"r3 restarted: process {pid} -> ")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"]["ping h1->h2"]["rtt_ms"]["after"] is not None
