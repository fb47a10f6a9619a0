"""Measurements over IPv6: a scenario's ping and iperf3 with `family: ipv6`
run on a static dual-stack lab (h1 - r1 - r2 - h2) beside the same pair over
IPv4, and each family's samples land in a series of their own."""
import csv
import json
import os
import uuid

import pytest

from tests.labtexts import line_lab
from vforward.cli import main
from vforward.experiment.scenario import ScenarioError, check_against, parse_scenario
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.state import load_state

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")

SCENARIO = """\
measure:
  - ping: {from: h1, to: h2, interval: 50ms, family: ipv6}
  - ping: {from: h1, to: h2, interval: 50ms}
  - iperf3: {from: h1, to: h2, protocol: tcp, interval: 500ms, family: ipv6}
duration: 2.5s
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = "m6" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("m6") / "line.yaml"
    path.write_text(line_lab(name, head="ipv6: true\n"))
    try:
        deploy(str(path), log=lambda *a: None)
        yield prepare(str(path))
    finally:
        if load_state(name) is not None:
            destroy(name)


def test_ping_and_iperf3_measure_over_ipv6_beside_ipv4(lab, tmp_path, capsys):
    sc = tmp_path / "six.yaml"
    sc.write_text(SCENARIO)
    out = tmp_path / "run"
    code = main(["topo", "run", lab.name, str(sc), "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    with open(out / "series.csv") as f:
        rows = [r for r in csv.DictReader(f) if r["source"] == "h1"]
    rtts = {t: [r for r in rows if r["target"] == t and r["metric"] == "rtt_ms"]
            for t in ("h2", "h2/ipv6")}
    assert len(rtts["h2/ipv6"]) >= 20 and len(rtts["h2"]) >= 20, printed
    assert any(r["target"] == "h2/ipv6" and r["metric"] == "throughput_mbps"
               and float(r["value"]) > 1 for r in rows), printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"]["ping h1->h2/ipv6"]["rtt_ms"]["before"] is not None
    assert "iperf3 h1->h2/ipv6" in summary["pairs"]


def test_an_ipv6_address_is_a_ping_target_and_a_node_without_ipv6_is_refused(lab):
    h2 = str(lab.nodes["h2"].interfaces["eth1"].address6.ip)
    sc = parse_scenario(f"measure:\n  - ping: {{from: h1, to: '{h2}'}}\nduration: 1s\n")
    assert sc.measurements[0].args["family"] == "ipv6"
    check_against(sc, lab)
    with pytest.raises(ScenarioError, match="family must be ipv4 or ipv6, not 'ip6'"):
        parse_scenario("measure:\n  - ping: {from: h1, to: h2, family: ip6}\nduration: 1s\n")
    lab.nodes["h2"].ipv6 = False
    try:
        with pytest.raises(ScenarioError, match="node h2 .* has no IPv6; add 'ipv6: true'"):
            check_against(parse_scenario("measure:\n  - iperf3: {from: h1, to: h2, "
                                         "family: ipv6}\nduration: 1s\n"), lab)
    finally:
        lab.nodes["h2"].ipv6 = True
