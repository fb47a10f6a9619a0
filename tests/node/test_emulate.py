"""Emulated hosts: twelve OSPF routers on three hosts, each router a `vforward
node run` in a pod-like namespace.  It converges and validates, the lab
subcommands work on it, a cut link between hosts is routed around, a
1400-byte DF ping crosses the 1500-byte underlay and a bigger one gets
"fragmentation needed"; destroy leaves nothing."""
import os
import shutil
import subprocess
import sys
import uuid

import pytest

from tests.cliprocess import run_cli
from tests.node.labs import three_host_ospf_lab
from vforward import netns
from vforward.node.emulate import deploy_emulated, host_netns, underlay_netns
from vforward.topo import ops
from vforward.topo.deploy import destroy, prepare
from vforward.topo.state import load_state
from vforward.topo.validate import address_owners, ping, reach, traceroute, validate

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="labs need root"),
              pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed")]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = "ne" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("emu") / "three.yaml"
    path.write_text(three_host_ospf_lab(name))
    try:
        st = deploy_emulated(str(path), log=lambda *a: None)
        assert sum(d["what"] == "node" for d in st.daemons) == 12
        lab = prepare(str(path))
        ok, took = reach(lab, "h1", addr(lab, "h2"), within=60)
        assert ok, "OSPF never converged across the emulated hosts"
        print(f"\nconverged: h1 reached h2 {took:.1f}s after deploy")
        for r in lab.routers():        # every router's loopback, before any test measures
            assert reach(lab, "h1", addr(lab, r.name), within=30)[0], f"h1 never reached {r.name}"
        yield lab
    finally:
        if load_state(name) is not None:
            destroy(name)


def addr(lab, node):
    n = lab.nodes[node]
    return str(n.loopback.ip) if n.is_router else str(n.interfaces["eth1"].address.ip)


def hosts_of(lab, path):
    return [lab.nodes[n].host for n in path if n in lab.nodes and lab.nodes[n].is_router]


def test_the_lab_runs_on_three_emulated_hosts_and_passes_validate(lab):
    for h in ("a", "b", "c"):
        assert netns.exists(host_netns(lab.name, h))
    out = netns.ip("address", "show", "ul0", netns=host_netns(lab.name, "b"))
    assert "192.0.2.2/32" in out and "mtu 1500" in out
    lines = []
    assert validate(lab, log=lines.append) == 0, "\n".join(lines)


def test_the_lab_subcommands_work_on_the_emulated_lab(lab, tmp_path):
    rows = ops.stats(lab.name)
    assert len(rows) == 2 * 18 + 2 and not [r for r in rows if "error" in r]
    assert sum(r["tx_packets"] for r in rows) > 0
    # a real process: exec hands the terminal's file descriptors to the command
    p = subprocess.run([sys.executable, "-m", "vforward", "topo", "exec", lab.name, "r5", "--",
                        "ip", "-o", "link", "show", "eth1"], capture_output=True, text=True)
    assert p.returncode == 0 and "eth1" in p.stdout
    ops.impair(lab.name, "r1:eth1", delay="5ms")
    try:
        sent, got, out = ping(lab, "r1", str(lab.nodes["r2"].interfaces["eth1"].address.ip),
                              count=3)
        rtt = float(out.split("=")[-1].split("/")[1])
        assert got == sent and rtt >= 5.0, out
    finally:
        ops.impair(lab.name, "r1:eth1", reset=True)
    pcap = tmp_path / "r2.pcap"
    ops.capture(lab.name, "r2:eth1", str(pcap), duration=2.5)   # OSPF hellos, one a second
    t = subprocess.run(["tshark", "-r", str(pcap), "-Y", "ospf"], capture_output=True, text=True)
    assert t.stdout.count("Hello") >= 2, t.stdout + t.stderr
    p = run_cli("topo", "top", lab.name, "--once")
    assert p.returncode == 0 and "r2:eth3" in p.stdout, p.stdout + p.stderr
    nodes = {n["node"]: n for n in ops.inspect(lab.name)["nodes"]}
    assert nodes["r7"]["running"] is True and nodes["r7"]["down"] is None


def test_a_1400_byte_df_ping_crosses_hosts_and_a_bigger_one_gets_fragmentation_needed(lab):
    ns = f"vf-{lab.name}-h1"        # h1 (host a) to r6 (host b): its first hop is 1500
    dst = addr(lab, "r6")
    ok = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", "2", "-i", "0.2", "-W",
                         "2", "-M", "do", "-s", "1400", dst], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    big = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", "1", "-W", "2",
                          "-M", "do", "-s", "1430", dst], capture_output=True, text=True)
    assert big.returncode != 0
    assert "Frag needed" in big.stdout and "mtu = 1446" in big.stdout, big.stdout + big.stderr
    # without DF (and with h1's learnt path MTU forgotten) the router on the
    # boundary fragments it, and the fragments cross
    netns.ip("route", "flush", "cache", netns=ns)
    assert "mtu" not in netns.ip("route", "get", dst, netns=ns)
    frag = subprocess.run(["ip", "netns", "exec", ns, "ping", "-n", "-c", "2", "-i", "0.2", "-W",
                           "2", "-M", "dont", "-s", "1430", dst], capture_output=True, text=True)
    assert frag.returncode == 0, frag.stdout + frag.stderr


def test_cutting_a_link_between_hosts_reroutes(lab):
    owners = address_owners(lab)
    before = [owners.get(h, h) for h in traceroute(lab, "h1", addr(lab, "r5"))]
    assert before[:2] == ["r1", "r2"] and "r5" in before, before    # r2--r5 joins a and b
    ops.set_link(lab.name, "r2:eth3", "down")
    try:
        ok, took = reach(lab, "h1", addr(lab, "r5"), within=30)
        assert ok
        print(f"\nreachable again {took:.1f}s after cutting r2--r5 (hosts a--b)")
        for _ in range(20):
            after = [owners.get(h, h) for h in traceroute(lab, "h1", addr(lab, "r5"))]
            if after[-1:] == [addr(lab, "r5")] or after[-1:] == ["r5"]:
                break
        assert after[-1] in ("r5", addr(lab, "r5")) and after[:3] != ["r1", "r2", "r5"], after
    finally:
        ops.set_link(lab.name, "r2:eth3", "up")


def test_destroy_removes_every_namespace_process_and_folder(tmp_path):
    from tests.node.labs import two_router_lab
    name = "nd" + uuid.uuid4().hex[:6]
    path = tmp_path / "two.yaml"
    path.write_text(two_router_lab(name))
    try:
        st = deploy_emulated(str(path), log=lambda *a: None)
        pids = [d["pid"] for d in st.daemons]
        lab = prepare(str(path))
        ok, _ = reach(lab, "h1", addr(lab, "h2"), within=20)
        assert ok
    finally:
        if load_state(name) is not None:
            destroy(name)
    names = [f"vf-{name}-{n}" for n in ("r1", "r2", "h1", "h2")] + [
        host_netns(name, "a"), host_netns(name, "b"), underlay_netns(name)]
    assert not [n for n in names if netns.exists(n)]
    assert not [p for p in pids if os.path.exists(f"/proc/{p}")]
    assert not os.path.exists(f"/etc/netns/vf-{name}-r1")


def test_a_host_node_placed_apart_from_its_router_is_refused_with_the_fix(tmp_path):
    from tests.node.labs import two_router_lab
    from vforward.topo.model import TopologyError
    name = "nu" + uuid.uuid4().hex[:6]
    path = tmp_path / "two.yaml"
    path.write_text(two_router_lab(name).replace("h1: {kind: host, host: a}",
                                                 "h1: {kind: host, host: b}"))
    try:
        # placement (vforward.cluster.placement) refuses it while reading the lab
        with pytest.raises(TopologyError, match=r"r1 on a \(.*\), h1 on b \(.*\): a lab host runs "
                                                "with the router it is linked to"):
            deploy_emulated(str(path), log=lambda *a: None)
    finally:
        if load_state(name) is not None:
            destroy(name)


def test_a_lab_whose_addresses_overlap_the_pod_network_is_refused(tmp_path):
    from tests.node.labs import two_router_lab
    from vforward.topo.deploy import DeployError
    name = "np" + uuid.uuid4().hex[:6]
    path = tmp_path / "two.yaml"
    path.write_text(two_router_lab(name).replace(
        "topology:", "addressing: {loopback: 100.64.9.0/24}\ntopology:", 1))
    try:
        with pytest.raises(DeployError, match=r"100\.64\.0\.0/16, which the lab uses \(r1 100\.64\.9\.1"):
            deploy_emulated(str(path), log=lambda *a: None)
    finally:
        if load_state(name) is not None:
            destroy(name)
