"""Scenario files: the example reads as written; mistakes are named with
file:line and a suggestion; names are checked against the lab."""
import pytest

from vforward.experiment.scenario import ScenarioError, check_against, parse_scenario
from vforward.topo.model import parse_lab

EXAMPLE = """\
measure:
  - ping: {from: h1, to: h2, interval: 10ms}
  - iperf3: {from: h1, to: h2, protocol: tcp, interval: 100ms}
  - sense: {pairs: [[r1, r3]], interval: 1s}
events:
  - at: 30s
    link: {endpoint: r2:eth2, state: up}
  - at: 10s
    link: {endpoint: r2:eth2, state: down}
  - at: 40s
    impair: {endpoint: r1:eth1, delay: 20ms, loss: 1%}
  - at: 50s
    flow: {add: video, match: "udp and dst port 5004", path: [r1, r4, r3]}
  - at: 60s
    node: {name: r3, action: restart}
  - at: 70s
    exec: {node: h1, command: "ping -c 3 h2", wait: true}
duration: 80s
"""

LAB = """\
name: sc
topology:
  nodes: {r1: {}, r2: {}, r3: {}, r4: {}, h1: {kind: host}, h2: {kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "r3:eth1"]
    - endpoints: ["r3:eth2", "r4:eth1"]
    - endpoints: ["r4:eth2", "r1:eth2"]
    - endpoints: ["h1:eth1", "r1:eth3"]
    - endpoints: ["h2:eth1", "r3:eth3"]
"""


def test_the_example_reads_with_times_in_seconds_and_events_in_time_order():
    sc = parse_scenario(EXAMPLE, "s.yaml")
    assert sc.duration == 80
    assert [(m.kind, m.interval) for m in sc.measurements] == [
        ("ping", 0.01), ("iperf3", 0.1), ("sense", 1.0)]
    assert sc.measurements[2].args["pairs"] == [("r1", "r3")]
    assert [e.at for e in sc.events] == [10, 30, 40, 50, 60, 70]
    assert sc.events[0].label == "link r2:eth2 down"
    assert sc.events[3].args["path"] == ["r1", "r4", "r3"]
    check_against(sc, parse_lab(LAB, "lab.yaml"))


@pytest.mark.parametrize("text, message", [
    ("duration: 5s\nevents:\n  - at: 1s\n    lnk: {endpoint: r1:eth1, state: down}\n",
     r"s\.yaml:4: unknown event kind 'lnk'; did you mean 'link'\?"),
    ("duration: 5s\nevents:\n  - at: 1s\n    link: {endpoint: r1:eth1, state: sideways}\n",
     r"s\.yaml:4: state must be up or down"),
    ("duration: 5s\nevents:\n  - link: {endpoint: r1:eth1, state: down}\n",
     r"s\.yaml:3: each event needs 'at'"),
    ("duration: 5s\nevents:\n  - at: 9s\n    link: {endpoint: r1:eth1, state: down}\n",
     r"s\.yaml:3: event at 9s is after the end of the run"),
    ("duration: 5s\nevents:\n  - at: soon\n    link: {endpoint: r1:eth1, state: down}\n",
     r"s\.yaml:3: at: expected a time"),
    ("duration: 5s\nmeasure:\n  - ping: {from: h1, to: h2, intervall: 1s}\n",
     r"s\.yaml:3: unknown ping key 'intervall'; did you mean 'interval'\?"),
    ("duration: 5s\nmeasure:\n  - iperf3: {from: h1, to: h2, interval: 10ms}\n",
     r"s\.yaml:3: iperf3 reports at most every 100ms"),
    ("measure: []\n", r"s\.yaml:1: the scenario needs a 'duration'"),
    ("duration: 5s\nevent: []\n", r"s\.yaml:2: unknown key 'event'; did you mean 'events'\?"),
    ("duration: 5s\nevents:\n  - at: 1s\n    flow: {add: v, match: udp, path: [r1]}\n",
     r"s\.yaml:4: path lists two or more routers"),
    ("duration: 5s\nevents:\n  - at: 1s\n    link: {endpoint: r1:eth1, state: down}\n"
     "    impair: {endpoint: r1:eth1, loss: 1%}\n", r"s\.yaml:3: each event does exactly one"),
    ("duration: 5s\nmeasure: [\n", r"s\.yaml:\d+:\d+: not valid YAML"),
])
def test_mistakes_are_named_with_their_line(text, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(text, "s.yaml")


@pytest.mark.parametrize("text, message", [
    ("duration: 5s\nmeasure:\n  - ping: {from: h1, to: hh2}\n",
     r"s\.yaml:3: lab sc has no node 'hh2'; did you mean 'h2'\?"),
    ("duration: 5s\nevents:\n  - at: 1s\n    link: {endpoint: r2:eht1, state: down}\n",
     r"s\.yaml:4: lab sc has no interface 'r2:eht1'; did you mean 'r2:eth1'\?"),
    ("duration: 5s\nevents:\n  - at: 1s\n    route: {node: h1, add: 10.0.0.0/8, via: r2}\n",
     r"s\.yaml:4: lab sc has no router 'h1'"),
])
def test_names_are_checked_against_the_lab(text, message):
    sc = parse_scenario(text, "s.yaml")
    with pytest.raises(ScenarioError, match=message):
        check_against(sc, parse_lab(LAB, "lab.yaml"))


def test_a_lab_file_may_carry_its_own_scenario():
    text = LAB + "measure:\n  - ping: {from: h1, to: h2}\nduration: 3s\n"
    sc = parse_scenario(text, "lab.yaml")
    assert sc.duration == 3 and sc.measurements[0].label == "ping h1->h2"
    assert parse_lab(text, "lab.yaml").name == "sc"
    with pytest.raises(ScenarioError, match=r"lab\.yaml:1: .*this lab file has no scenario"):
        parse_scenario(LAB, "lab.yaml")
