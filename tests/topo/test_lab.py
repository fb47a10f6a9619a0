"""A real lab: four vforward routers in a ring with two hosts, in namespaces,
joined by Ethernet-over-UDP links on loopback.  Reachability, traceroute,
link conditions and failures, and a destroy that leaves nothing behind."""
import os
import re
import signal
import subprocess
import sys
import time
import uuid

import pytest

from vforward import netns
from vforward.topo import ops
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.model import TopologyError
from vforward.topo.state import load_state
from vforward.topo.validate import address_owners, ping, reach, traceroute, validate

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")

# The ring lab (tests/conftest.py) checks its own shortest path once up.
VALIDATE = """\
validate:
  - reach: {from: h1, to: h2}
  - traceroute: {from: h1, to: h2, path: [r1, r2, r3]}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory, ring_lab_text):
    name = "t" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("lab") / "ring.yaml"
    path.write_text(ring_lab_text(name, extra=VALIDATE))
    deploy(str(path), nodes_per_worker=2, log=lambda *a: None)
    try:
        yield prepare(str(path))
    finally:
        if load_state(name) is not None:
            destroy(name)


def h2_addr(lab):
    return str(lab.nodes["h2"].interfaces["eth1"].address.ip)


def rtt_ms(lab, src, dst, count=7):
    """The lowest RTT: on a busy machine late replies move ping's mean, and
    even its median, by milliseconds; a delay is never shorter than set."""
    p = subprocess.run(["ip", "netns", "exec", f"vf-{lab.name}-{src}", "ping", "-n", "-c",
                        str(count), "-i", "0.2", dst], capture_output=True, text=True, timeout=30)
    times = sorted(float(t) for t in re.findall(r"time=([\d.]+) ms", p.stdout))
    assert times, p.stdout + p.stderr
    return times[0]


def test_every_node_reaches_every_other(lab):
    nodes = list(lab.nodes)
    targets = {n: (str(lab.nodes[n].loopback.ip) if lab.nodes[n].is_router
                   else str(lab.nodes[n].interfaces["eth1"].address.ip)) for n in nodes}
    ok, took = reach(lab, "h1", h2_addr(lab), within=20)
    assert ok, "h1 never reached h2"
    for src in nodes:
        for dst in nodes:
            if src != dst:
                sent, got, out = ping(lab, src, targets[dst], count=1, timeout=2)
                assert got == 1, f"{src} -> {dst} ({targets[dst]}): {out}"


def test_traceroute_shows_the_configured_path_and_validate_passes(lab):
    hops = traceroute(lab, "h1", h2_addr(lab))
    names = [address_owners(lab).get(h, h) for h in hops]
    assert names == ["r1", "r2", "r3", "h2"], hops
    assert validate(lab, log=lambda *a: None) == 0


def test_a_traceroute_check_looks_again_then_fails_on_another_path(lab, monkeypatch):
    from vforward.topo import validate as validate_module
    from vforward.topo.model import Validation
    monkeypatch.setattr(validate_module, "CONVERGENCE_WAIT", 1.5)
    t0 = time.monotonic()
    ok, text = validate_module.run_validation(
        lab, Validation(kind="traceroute", src="h1", dst="h2", path=["r1", "r3"]))
    assert not ok
    assert "h2: r1 r2 r3 " in text and text.endswith(", expected r1 r3"), text
    assert time.monotonic() - t0 >= 1.5      # it looked again before failing


def test_delay_on_two_links_adds_up_in_the_rtt(lab):
    base = rtt_ms(lab, "h1", h2_addr(lab))
    for iface in ("r1:eth1", "r2:eth2"):
        ops.impair(lab.name, iface, delay="10ms")
        ops.impair(lab.name, lab.interface(iface).link.other(lab.interface(iface)).ref, delay="10ms")
    try:
        rtt = rtt_ms(lab, "h1", h2_addr(lab))
        assert 40 * 0.9 <= rtt - base <= 40 * 1.1 + 2, (base, rtt)
    finally:
        for iface in ("r1:eth1", "r2:eth1", "r2:eth2", "r3:eth1"):
            ops.impair(lab.name, iface, reset=True)


def test_loss_on_one_interface_loses_about_half_the_pings(lab):
    ops.impair(lab.name, "r2:eth2", loss="50%")
    try:
        sent, got, _ = ping(lab, "h1", h2_addr(lab), count=200, timeout=0.5, interval=0.01)
        lost = 1 - got / sent
        assert 0.35 <= lost <= 0.65, lost
    finally:
        ops.impair(lab.name, "r2:eth2", reset=True)


def test_rate_limit_holds_tcp_near_ten_megabits(lab):
    for iface in ("r2:eth2", "r3:eth1"):
        ops.impair(lab.name, iface, rate="10mbit")
    server = netns.popen(f"vf-{lab.name}-h2", "iperf3", "-s", "-1", stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        p = netns.run(f"vf-{lab.name}-h1", "iperf3", "-c", h2_addr(lab), "-t", "3", "-J")
        import json
        mbps = json.loads(p.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
        assert 8 <= mbps <= 12, mbps
    finally:
        server.kill()
        server.wait()
        for iface in ("r2:eth2", "r3:eth1"):
            ops.impair(lab.name, iface, reset=True)


def test_link_down_stops_the_path_and_up_restores_it(lab):
    ops.set_link(lab.name, "r2:eth2", "down")
    try:
        _, got, _ = ping(lab, "h1", h2_addr(lab), count=3, timeout=0.5)
        assert got == 0
    finally:
        ops.set_link(lab.name, "r2:eth2", "up")
    ok, _ = reach(lab, "h1", h2_addr(lab), within=10)
    assert ok


def test_stats_count_what_crossed(lab):
    rows = {r["interface"]: r for r in ops.stats(lab.name)}
    assert rows["r1:eth3"]["rx_packets"] > 0 and rows["r1:eth1"]["tx_packets"] > 0


def test_capture_sees_transit_traffic(lab, tmp_path):
    import threading
    out = tmp_path / "r2.pcap"
    t = threading.Thread(target=ops.capture, args=(lab.name, "r2:eth1", str(out)),
                         kwargs={"duration": 2.0})
    t.start()
    time.sleep(0.3)
    ping(lab, "h1", h2_addr(lab), count=3, timeout=1)
    t.join()
    p = subprocess.run(["tcpdump", "-n", "-r", str(out), "icmp"], capture_output=True, text=True)
    assert p.stdout.count("ICMP echo request") >= 3, p.stdout + p.stderr


def test_deploying_twice_is_refused(lab):
    from vforward.topo.deploy import DeployError
    with pytest.raises(DeployError, match="already deployed"):
        deploy(load_state(lab.name).topology, log=lambda *a: None)


def test_destroy_after_a_router_was_killed_leaves_nothing(tmp_path):
    name = "k" + uuid.uuid4().hex[:6]
    path = tmp_path / "pair.yaml"
    path.write_text(f"name: {name}\ntopology:\n  nodes:\n    r1: {{}}\n    r2: {{}}\n"
                    "  links:\n    - endpoints: [\"r1:eth1\", \"r2:eth1\"]\n")
    st = deploy(str(path), nodes_per_worker=1, log=lambda *a: None)
    try:
        pids = [w["pid"] for w in st.workers]
        os.kill(pids[0], signal.SIGKILL)
        time.sleep(0.2)
    finally:
        destroy(str(path))
    assert not any(n.startswith(f"vf-{name}-") for n in netns.list_names())
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().split()[2] == "Z"
    # Nor the worker the supervisor was restarting when destroy stopped it.
    from vforward.topo.state import lab_dir
    from vforward.topo.supervise import lab_workers_by_command_line
    assert lab_workers_by_command_line(lab_dir(name)) == []
    assert load_state(name) is None


def test_a_router_without_links_deploys_beside_a_dual_stack_ospf_lab(tmp_path):
    """A lab written step by step has routers not linked yet: they must not
    keep the others from coming up."""
    name = "u" + uuid.uuid4().hex[:6]
    path = tmp_path / "unlinked.yaml"
    path.write_text(f"name: {name}\nrouting: ospf\nipv6: true\ntopology:\n  nodes:\n"
                    "    r1: {}\n    r2: {}\n    r3: {}\n    h1: {kind: host}\n  links:\n"
                    '    - endpoints: ["r1:eth1", "r2:eth1"]\n'
                    '    - endpoints: ["h1:eth1", "r1:eth2"]\n')
    st = deploy(str(path), log=lambda *a: None)
    try:
        lab = prepare(str(path))
        assert set(st.sockets) == {"r1", "r2", "r3"}
        r2 = lab.nodes["r2"]
        assert reach(lab, "h1", str(r2.loopback.ip), within=20)[0]
        assert reach(lab, "h1", str(r2.loopback6.ip), within=20)[0]
    finally:
        destroy(name)


def test_kernel_mode_builds_the_same_lab_and_reports_what_it_cannot_emulate(tmp_path,
                                                                            ring_lab_text):
    from vforward.topo.kernelmode import netem_available
    name = "m" + uuid.uuid4().hex[:6]
    path = tmp_path / "k.yaml"
    path.write_text(ring_lab_text(name, extra=VALIDATE).replace(
        '    - endpoints: ["h1:eth1", "r1:eth3"]\n',
        '    - endpoints: ["h1:eth1", "r1:eth3"]\n      impair: {delay: 5ms, rate: 50mbit}\n'))
    warnings = []
    st = deploy(str(path), mode="kernel", log=warnings.append)
    try:
        lab = prepare(str(path))
        assert st.mode == "kernel" and not st.workers
        assert validate(lab, log=lambda *a: None) == 0
        if not netem_available():
            assert any("delay 5ms" in w and "no netem" in w for w in warnings)
            with pytest.raises(TopologyError, match="no netem"):
                ops.impair(name, "r2:eth2", delay="10ms")
        ops.impair(name, "r2:eth2", rate="10mbit")          # tbf works here
        ops.set_link(name, "r2:eth2", "down")
        _, got, _ = ping(lab, "h1", h2_addr(lab), count=2, timeout=0.5)
        assert got == 0
    finally:
        destroy(name)
    assert not any(n.startswith(f"vf-{name}-") for n in netns.list_names())
