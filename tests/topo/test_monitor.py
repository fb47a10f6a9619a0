"""Monitoring a real lab: three vforward routers in a line and a host, the
generated LinkProbes measuring the router-to-router links through their
conditions, `topo top --once`, the lab exporter's HTTP scrape, and the
probe values that `topo stats` shows."""
import argparse
import os
import threading
import time
import urllib.request
import uuid

import pytest

from vforward.metrics import parse
from vforward.topo import monitor, ops
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.monitor import LabExporter, add_monitor_parsers, probe_row
from vforward.topo.state import LabState, load_state


LINE = """\
name: {name}
topology:
  nodes:
    r1: {{}}
    r2: {{}}
    r3: {{}}
    h1: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "r3:eth1"]
    - endpoints: ["h1:eth1", "r1:eth2"]
"""
ROUTERS = ("r1", "r2", "r3")
PROBED = ("r1:eth1", "r2:eth1", "r2:eth2", "r3:eth1")   # router-to-router ends


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("labs need root")
    name = "mon" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("lab") / "line.yaml"
    path.write_text(LINE.format(name=name))
    deploy(str(path), nodes_per_worker=2, log=lambda *a: None)
    try:
        yield prepare(str(path))
    finally:
        if load_state(name) is not None:
            destroy(name)


def probe_values(lab, ref):
    st = ops.lab_state(lab.name)
    ctl = ops.NodeControl(st)
    try:
        return probe_row(ctl, st, ref)
    finally:
        ctl.close()


def wait_for_rtts(lab, within=10.0):
    deadline = time.monotonic() + within
    while True:
        rows = {ref: probe_values(lab, ref) for ref in PROBED}
        # loss is known from the second reply on
        if all(r["rtt_ms"] is not None and r["loss"] is not None for r in rows.values()):
            return rows
        assert time.monotonic() < deadline, f"probes measured nothing: {rows}"
        time.sleep(0.2)


def test_every_router_link_is_probed_and_host_ports_are_not(lab):
    rows = wait_for_rtts(lab)
    for ref, row in rows.items():
        assert 0 < row["rtt_ms"] < 200, (ref, row)
        assert row["loss"] is not None
    host_port = probe_values(lab, "r1:eth2")
    assert host_port["rtt_ms"] is None and host_port["loss"] is None


def test_probes_cross_the_link_conditions(lab):
    wait_for_rtts(lab)
    ends = ("r1:eth1", "r2:eth1")
    for ref in ends:
        ops.impair(lab.name, ref, delay="10ms")
    st = ops.lab_state(lab.name)
    ctl = ops.NodeControl(st)
    try:
        ctl.write("r1", "eth1_probe.interval", "100ms")   # more samples, sooner
        time.sleep(0.3)   # requests in flight before the change
        samples = []
        for _ in range(8):
            samples.append(float(ctl.read("r1", "eth1_probe.rtt_last_ms")))
            time.sleep(0.25)
        # 10 ms each way; a loaded machine only adds, so the least sample is the one to judge
        assert 19 <= min(samples) <= 30, samples
    finally:
        ctl.write("r1", "eth1_probe.interval", "1s")
        ctl.close()
        for ref in ends:
            ops.impair(lab.name, ref, reset=True)


def run_monitor_command(argv):
    parser = argparse.ArgumentParser()
    add_monitor_parsers(parser.add_subparsers())
    args = parser.parse_args(argv)
    return args.func(args)


def test_top_once_shows_every_router_and_the_probe_rtts(lab, capsys):
    wait_for_rtts(lab)
    assert run_monitor_command(["top", lab.name, "--once", "--interval", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "\x1b[" not in out                               # --once draws no screen
    lines = out.splitlines()
    assert lines[0].startswith(f"lab {lab.name}: 3 routers")
    rows = {ln.split()[0]: ln.split() for ln in lines[2:]}
    for node in ROUTERS:
        assert any(ref.startswith(node + ":") for ref in rows), out
    for ref in PROBED:
        float(rows[ref][7])                                # the rtt column holds a number
        assert rows[ref][-1] == "up"
    assert rows["r1:eth2"][7] == "-"                       # toward the host: no probe


def test_exporter_scrape_holds_every_router_and_link_rtts(lab):
    wait_for_rtts(lab)
    exporter = LabExporter(lab.name, port=0)
    exporter.bind()
    thread = threading.Thread(target=exporter.run)
    thread.start()
    try:
        with urllib.request.urlopen(exporter.url, timeout=10) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            text = resp.read().decode()
    finally:
        exporter.stop()
        thread.join(5)
    assert not thread.is_alive()
    fams = {f.name: f for f in parse(text)}
    assert text.count("# TYPE vforward_element_count ") == 1   # one family for all routers
    up = {labels["node"]: v for labels, v in fams["vforward_up"].samples}
    assert up == {node: 1 for node in ROUTERS}
    rtts = {(labels["node"], labels["interface"]): v
            for labels, v in fams["vforward_link_rtt_seconds"].samples}
    assert {("r1", "eth1"), ("r2", "eth1"), ("r2", "eth2"), ("r3", "eth1")} <= set(rtts)
    assert all(0 < v < 0.2 for v in rtts.values())
    assert all(labels["lab"] == lab.name for f in fams.values() for labels, _ in f.samples)
    nodes = {labels["node"] for labels, _ in fams["vforward_interface_tx_packets_total"].samples}
    assert nodes == set(ROUTERS)


# -- without a lab ---------------------------------------------------------------------

def test_exporter_reports_a_router_that_does_not_answer_as_down(monkeypatch, tmp_path):
    st = LabState(name="gone", topology="/dev/null",
                  sockets={"r1": str(tmp_path / "r1.sock"), "r2": str(tmp_path / "r2.sock")})
    monkeypatch.setattr(monitor, "lab_state", lambda ref: st)
    exporter = LabExporter("gone", port=0)
    exporter.bind()
    thread = threading.Thread(target=exporter.run)
    thread.start()
    try:
        with urllib.request.urlopen(exporter.url, timeout=10) as resp:
            text = resp.read().decode()
    finally:
        exporter.stop()
        thread.join(5)
    up = {labels["node"]: v for labels, v in parse(text)[0].samples}
    assert up == {"r1": 0, "r2": 0}


def test_top_rates_come_from_counter_deltas_over_the_interval():
    st = LabState(name="x", topology="/dev/null", sockets={"r1": "-"},
                  interfaces={"r1:eth1": {"counters": ["r1", "eth1"], "peer": "r2:eth1"},
                              "h1:eth1": {"counters": None, "peer": "r1:eth2"}})
    before = {"r1": {"eth1": {"rx_bytes": 0, "tx_bytes": 1000, "rx_packets": 0,
                              "tx_packets": 10}}}
    now = {"r1": {"eth1": {"rx_bytes": 250_000, "tx_bytes": 1000, "rx_packets": 200,
                           "tx_packets": 10, "drops": 3, "rtt": 0.0123, "loss": 0.25,
                           "bw": 9.5e6, "up": 1}}}
    (row,) = monitor.link_rows(st, before, now, 2.0)
    assert row["rx_mbps"] == pytest.approx(1.0) and row["rx_pps"] == 100
    assert row["tx_mbps"] == 0 and row["drops"] == 3 and row["up"] is True
    assert (row["rtt_ms"], row["loss"], row["avail_bw_mbps"]) == (12.3, 0.25, 9.5)
    table = monitor.format_table(st, [row], 2.0).splitlines()
    assert table[2].split()[7:] == ["12.30", "25.0%", "9.5", "up"]
    (row,) = monitor.link_rows(st, before, {"r1": "connection refused"}, 2.0)
    assert row["error"] == "connection refused"
