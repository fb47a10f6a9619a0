"""`vforward node run`: two routers, each in a namespace of its own as a pod,
joined over a veth "pod network"; peers found by name, waited for, and
everything removed on SIGTERM."""
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest

from tests.node.labs import two_router_lab
from vforward import netns
from vforward.node.bundle import node_bundle
from vforward.topo.addressing import assign
from vforward.topo.deploy import assign_underlay
from vforward.topo.model import parse_lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root")

POD = {"r1": "198.51.100.1", "r2": "198.51.100.2"}


@pytest.fixture
def pods(tmp_path):
    """Two pod namespaces on a veth; their /etc/netns hosts files; removed after."""
    tag = "ne" + uuid.uuid4().hex[:5]
    lab = assign(parse_lab(two_router_lab(tag), "lab.yaml"))
    assign_underlay(lab)
    names = {n: f"{tag}-{n}" for n in POD}
    etc = {n: f"/etc/netns/{ns}" for n, ns in names.items()}
    procs = []
    try:
        netns.create_many(list(names.values()))
        netns.ip("link", "add", "ul0", "netns", names["r1"], "type", "veth", "peer", "name", "ul0",
                 "netns", names["r2"])
        for n, ns in names.items():
            netns.ip("address", "add", f"{POD[n]}/24", "dev", "ul0", netns=ns)
            netns.ip("link", "set", "ul0", "up", netns=ns)
            os.makedirs(etc[n], exist_ok=True)
            with open(os.path.join(etc[n], "hosts"), "w") as f:
                f.write("127.0.0.1\tlocalhost\n")
        yield lab, names, etc, procs, tmp_path
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        netns.delete_many(list(names.values()) + [f"vf-{tag}-h1", f"vf-{tag}-h2"])
        for d in etc.values():
            shutil.rmtree(d, ignore_errors=True)


def start(lab, names, procs, tmp_path, node, peers, enter=("ip", "netns", "exec")):
    folder = tmp_path / node
    folder.mkdir()
    for fname, text in node_bundle(lab, node, peers).items():
        (folder / fname).write_text(text)
    run_dir = tmp_path / f"run-{node}"
    log = open(tmp_path / f"{node}.log", "w")
    where = [*enter, names[node]] if enter[0] == "ip" else [*enter, f"--net=/run/netns/{names[node]}"]
    env = dict(os.environ, VFORWARD_RERESOLVE="0.5")
    p = subprocess.Popen([*where, sys.executable, "-m", "vforward",
                          "node", "run", str(folder), "--run-dir", str(run_dir),
                          "--metrics", "127.0.0.1:9100"], stdout=log, stderr=subprocess.STDOUT,
                         env=env)
    procs.append(p)
    return p, run_dir


def wait_for(predicate, within, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not within {within}s")


def test_two_node_runs_find_each_other_by_name_forward_and_clean_up_on_sigterm(pods):
    lab, names, etc, procs, tmp = pods
    # r1 runs as `ip netns exec` runs it, in a mount namespace of its own (as in a
    # pod), where a namespace it made would be its own: its host's is made here
    # and left to us.  r2 runs in the machine's mount namespace and makes h2's.
    h1 = f"vf-{lab.name}-h1"
    netns.create(h1)
    # No fallback addresses: r1 can only find r2 by name, which resolves later.
    p1, run1 = start(lab, names, procs, tmp, "r1", {"r2": None})
    wait_for(lambda: "waiting for peers" in (tmp / "r1.log").read_text(), 30, "r1 waiting")
    assert not (run1 / "ready").exists()
    with open(os.path.join(etc["r1"], "hosts"), "a") as f:     # r2's "Service" appears
        f.write(f"{POD['r2']}\tr2\n")
    p2, run2 = start(lab, names, procs, tmp, "r2", {"r1": POD["r1"]}, enter=("nsenter",))
    wait_for(lambda: (run1 / "ready").exists() and (run2 / "ready").exists(), 60,
             "both nodes ready: " + (tmp / "r1.log").read_text() + (tmp / "r2.log").read_text())
    h2 = str(lab.nodes["h2"].interfaces["eth1"].address.ip)
    ping = subprocess.run(["ip", "netns", "exec", f"vf-{lab.name}-h1", "ping", "-c", "2",
                           "-W", "1", "-i", "0.2", h2], capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    # the node's control socket answers and its TAP carries the cross-host MTU
    mtu = netns.ip("link", "show", "eth1", netns=names["r1"])
    assert "mtu 1346" in mtu
    ctl = subprocess.run([sys.executable, "-m", "vforward", "ctl", str(run1 / "control.sock"),
                          "read", "eth1_wire/sock.remote"], capture_output=True, text=True)
    assert POD["r2"] in ctl.stdout, ctl.stdout + ctl.stderr
    metrics = subprocess.run(["ip", "netns", "exec", names["r1"], "curl", "-s",
                              "http://127.0.0.1:9100/metrics"], capture_output=True, text=True)
    assert 'vforward_interface_tx_packets_total{node="r1",interface="eth1"}' in metrics.stdout
    # r2's pod comes back with another address: r1 follows its name there.
    netns.ip("address", "del", f"{POD['r2']}/24", "dev", "ul0", netns=names["r2"])
    netns.ip("address", "add", "198.51.100.3/24", "dev", "ul0", netns=names["r2"])
    with open(os.path.join(etc["r1"], "hosts"), "w") as f:
        f.write("127.0.0.1\tlocalhost\n198.51.100.3\tr2\n")
    wait_for(lambda: "r2 moved to 198.51.100.3" in (tmp / "r1.log").read_text(), 20, "r1 follows r2")
    ping = subprocess.run(["ip", "netns", "exec", h1, "ping", "-c", "2", "-W", "1", "-i", "0.2", h2],
                          capture_output=True, text=True)
    assert ping.returncode == 0, ping.stdout + ping.stderr
    for p in (p1, p2):
        p.send_signal(signal.SIGTERM)
    assert [p.wait(15) for p in (p1, p2)] == [0, 0]
    assert not (run1 / "ready").exists()
    assert "eth1" not in netns.ip("link", "show", netns=names["r1"])
    assert netns.exists(h1) and not netns.exists(f"vf-{lab.name}-h2")   # only its own removed


def test_a_bundle_without_node_json_is_refused_with_the_fix(tmp_path):
    p = subprocess.run([sys.executable, "-m", "vforward", "node", "run", str(tmp_path),
                        "--run-dir", str(tmp_path / "run")], capture_output=True, text=True)
    assert p.returncode == 1
    assert "node.json" in p.stderr and "vforward node render" in p.stderr


def test_a_peer_on_an_ipv6_underlay_is_looked_up_as_ipv6():
    from vforward.node.run import resolve_peer
    assert resolve_peer({"name": "::1", "family": 6, "address": None}, "") == "::1"
    # an IPv4 lookup does not take an IPv6 name: the fallback address is used
    assert resolve_peer({"name": "::1", "address": "192.0.2.9"}, "") == "192.0.2.9"
