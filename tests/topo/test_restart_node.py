"""Restarting one node's router: it comes back on its TAPs and forwards
again; the routers sharing its process restart with it and are named;
hosts, unknown nodes and labs without a supervisor get a clear error."""
import json
import os
import uuid

import pytest

from vforward.cli import main
from vforward.topo import ops
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.model import TopologyError
from vforward.topo.state import load_state
from vforward.topo.validate import ping, reach

LAB = """\
name: {name}
restart: never
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
    - endpoints: ["h1:eth1", "r1:eth2"]
    - endpoints: ["h2:eth1", "r3:eth2"]
"""

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = "nr" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("restart") / f"{name}.yaml"
    path.write_text(LAB.format(name=name))
    try:
        deploy(str(path), nodes_per_worker=2, log=lambda *a: None)
        lab = prepare(str(path))
        assert reach(lab, "h1", h2(lab))[0]
        yield lab
    finally:
        if load_state(name) is not None:
            destroy(name)


def h2(lab):
    return str(lab.nodes["h2"].interfaces["eth1"].address.ip)


def node(info, name):
    return next(n for n in info["nodes"] if n["node"] == name)


def test_a_restarted_node_comes_back_and_forwards_again_even_under_restart_never(lab):
    before = node(ops.inspect(lab.name), "r3")
    result = ops.restart_node(lab.name, "r3")
    after = node(ops.inspect(lab.name), "r3")
    assert after["running"] and after["pid"] != before["pid"]
    assert after["restarts"] == before["restarts"] + 1
    assert f"process {before['pid']} -> {after['pid']}" in result
    # the same interfaces and addresses, and traffic across the node at once
    assert [(i["name"], i["address"]) for i in after["interfaces"]] == \
        [(i["name"], i["address"]) for i in before["interfaces"]]
    sent, got, out = ping(lab, "h1", h2(lab), count=3, interval=0.2)
    assert got == sent, out


def test_the_routers_sharing_a_process_restart_together_and_are_named(lab, capsys):
    info = ops.inspect(lab.name)
    mates = next(w["nodes"] for w in info["workers"] if "r1" in w["nodes"])
    others = [n for n in mates if n != "r1"]
    assert others, "deployed two routers to a process: r1 shares its own"
    pids = {n: node(info, n)["pid"] for n in ("r1", "r2", "r3")}
    assert main(["topo", "restart", lab.name, "r1"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("r1 restarted: process ")
    assert f"restarted with it (same process): {', '.join(others)}" in printed
    after = ops.inspect(lab.name)
    for n in ("r1", "r2", "r3"):
        moved = node(after, n)["pid"] != pids[n]
        assert moved == (n in mates), n
    assert reach(lab, "h1", h2(lab), within=5)[0]


def test_restarting_a_host_or_an_unknown_node_says_why(lab):
    with pytest.raises(TopologyError, match="h1 of lab .* has no vforward router to restart"):
        ops.restart_node(lab.name, "h1")
    with pytest.raises(TopologyError, match="has no node 'r9'"):
        ops.restart_node(lab.name, "r9")


def test_a_restart_whose_records_cannot_be_reapplied_is_an_error_naming_why(lab):
    # a flow record no command would write: r1 and r3 are not neighbours
    record = os.path.join(load_state(lab.name).directory, "flows.json")
    with open(record, "w") as f:
        json.dump({"bad": {"match": "udp", "path": ["r1", "r3"]}}, f)
    try:
        with pytest.raises(TopologyError, match=r"r1 restarted \(process .*\) but what was set "
                                                r"on it by hand could not be re-applied: .*r3"):
            ops.restart_node(lab.name, "r1")
    finally:
        os.unlink(record)
    assert reach(lab, "h1", h2(lab), within=5)[0]      # the router itself is back
