"""An outside host joins a lab over the real OpenVPN: a namespace joined to
the machine only by a veth into the root namespace runs `openvpn` with a
profile `vforward topo ingress LAB client` wrote, pings and runs iperf3 TCP
to a host in the lab, and traceroute shows the lab's routers; revoking a
client cuts it off and its next connection is refused while another client
still gets in; destroy leaves no server behind."""
import os
import random
import shutil
import subprocess
import time
import uuid

import pytest

from tests.cliprocess import run_cli
from vforward import netns
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.ingress.server import device_name
from vforward.topo.render import netns_name
from vforward.topo.state import load_state
from vforward.topo.supervise import same_process
from vforward.topo.validate import address_owners, reach

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="labs need root"),
              pytest.mark.skipif(shutil.which("openvpn") is None,
                                 reason="openvpn is not installed (apt-get install openvpn)")]

CONNECT_TIMEOUT = 20.0


def _vforward(*args):
    return run_cli("topo", "ingress", *args)


@pytest.fixture
def outside():
    """(namespace, its address, the root namespace's address): an 'outside' host on a
    veth into the root namespace, in a random /30 of 198.51.100.0/24; removed after."""
    tag = uuid.uuid4().hex[:6]
    ns, root_dev = f"vfigout-{tag}", f"vfig{tag}"
    base = random.randrange(0, 64) * 4
    root_addr, out_addr = f"198.51.100.{base + 1}", f"198.51.100.{base + 2}"
    netns.create(ns)
    try:
        # Made with its far end in the namespace at once: the root namespace has an eth0.
        netns.ip("link", "add", root_dev, "type", "veth", "peer", "name", "eth0", "netns", ns)
        netns.ip("link", "set", root_dev, "up")
        netns.ip("link", "set", "eth0", "up", netns=ns)
        netns.ip("address", "add", f"{root_addr}/30", "dev", root_dev)
        netns.ip("address", "add", f"{out_addr}/30", "dev", "eth0", netns=ns)
        yield ns, out_addr, root_addr
    finally:
        netns.delete(ns)      # takes the veth (and its root end) with it
        netns.ip("link", "del", root_dev, check=False)


@pytest.fixture
def clients():
    """start(ns, profile, log) -> Popen of an OpenVPN client; all are ended after the test."""
    started = []

    def start(ns, profile, log):
        with open(log, "wb") as f:
            p = netns.popen(ns, "openvpn", "--config", profile, stdin=subprocess.DEVNULL,
                            stdout=f, stderr=subprocess.STDOUT)
        started.append(p)
        return p
    yield start
    for p in started:
        stop(p)


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_for(predicate, within):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def free_udp_port(address):
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((address, 0))
        return s.getsockname()[1]


LAB = """\
name: {name}
topology:
  nodes:
    r1:
      ingress: {{listen: {listen}, port: {port}, pool: 10.8.0.0/24}}
    r2: {{}}
    h1: {{kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "h1:eth1"]
"""


def test_outside_host_reaches_lab_over_openvpn_and_a_revoked_client_cannot_reconnect(
        tmp_path, outside, clients, iperf):
    out_ns, out_addr, root_addr = outside
    name = "ig" + uuid.uuid4().hex[:6]
    path = tmp_path / "lab.yaml"
    path.write_text(LAB.format(name=name, listen=root_addr, port=free_udp_port(root_addr)))
    st = deploy(str(path), log=lambda *a: None)
    try:
        lab = prepare(str(path))
        server = next(d for d in st.daemons if d["what"] == "openvpn")
        # The server's device lives in r1's namespace, not in the root namespace.
        assert "ovpn0" in netns.ip("-br", "link", netns=netns_name(lab, "r1"))
        assert device_name(name, "r1") not in netns.ip("-br", "link")

        profiles = {}
        for client in ("alice", "bob"):
            profiles[client] = str(tmp_path / f"{client}.ovpn")
            p = _vforward(name, "client", client, "-o", profiles[client])
            assert p.returncode == 0, p.stderr
        assert "BEGIN PRIVATE KEY" in text(profiles["alice"])

        alice_log = str(tmp_path / "alice.log")
        alice = clients(out_ns, profiles["alice"], alice_log)
        assert wait_for(lambda: "Initialization Sequence Completed" in text(alice_log),
                        CONNECT_TIMEOUT), text(alice_log)[-2000:]

        h1 = str(lab.nodes["h1"].interfaces["eth1"].address.ip)
        ping = netns.run(out_ns, "ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", h1, check=False)
        assert ping.returncode == 0, ping.stdout + ping.stderr

        end = iperf(out_ns, netns_name(lab, "h1"), h1)
        rate = end["sum_received"]["bits_per_second"]
        assert end["sum_received"]["bytes"] > 0
        print(f"\nTCP outside -> h1 over OpenVPN: {rate / 1e6:.1f} Mbit/s (1 s, shared machine)")

        trace = netns.run(out_ns, "traceroute", "-n", "-q", "1", "-w", "1", "-m", "8", h1,
                          check=False, timeout=60)
        hops = [ln.split()[1] for ln in trace.stdout.splitlines()[1:] if ln.split()[:1] != []]
        owners = address_owners(lab)
        owners["10.8.0.1"] = "r1"           # the server's end of the pool, in r1
        assert [owners.get(h, h) for h in hops] == ["r1", "r2", "h1"], trace.stdout

        inspected = run_cli("topo", "inspect", name)
        assert f"openvpn  of r1         pid {server['pid']} running" in inspected.stdout, \
            inspected.stdout
        listed = _vforward(name, "list")
        assert listed.returncode == 0, listed.stderr
        alice_row = next(ln for ln in listed.stdout.splitlines() if ln.startswith("alice"))
        assert "valid" in alice_row and "10.8.0." in alice_row   # connected, with its address

        # Revoking cuts alice's connection; her client reconnects at once and is refused.
        revoked = _vforward(name, "revoke", "alice")
        assert revoked.returncode == 0, revoked.stderr
        assert "disconnected at r1 (1)" in revoked.stdout, revoked.stdout
        server_log = server["log"]
        assert wait_for(lambda: "certificate revoked: CN=alice" in text(server_log),
                        CONNECT_TIMEOUT), text(server_log)[-2000:]
        ping = netns.run(out_ns, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", h1, check=False)
        assert ping.returncode != 0, ping.stdout
        stop(alice)
        bob_log = str(tmp_path / "bob.log")
        clients(out_ns, profiles["bob"], bob_log)
        assert wait_for(lambda: "Initialization Sequence Completed" in text(bob_log),
                        CONNECT_TIMEOUT), text(bob_log)[-2000:]
        assert text(alice_log).count("Initialization Sequence Completed") == 1
        assert "revoked" in next(ln for ln in _vforward(name, "list").stdout.splitlines()
                                 if ln.startswith("alice"))
    finally:
        if load_state(name) is not None:
            destroy(name)
    assert not same_process(server)
    assert not os.path.exists(st.directory)


@pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed")
def test_ospf_announces_the_pool_and_the_lab_reaches_the_server_end(tmp_path, outside):
    _, _, root_addr = outside
    name = "ig" + uuid.uuid4().hex[:6]
    path = tmp_path / "lab.yaml"
    path.write_text("routing: ospf\n" + LAB.format(name=name, listen=root_addr,
                                                   port=free_udp_port(root_addr)))
    deploy(str(path), log=lambda *a: None)
    try:
        lab = prepare(str(path))
        r2 = netns_name(lab, "r2")
        assert wait_for(lambda: "10.8.0.0/24" in netns.ip("route", "show", "proto", "bird",
                                                          netns=r2), 30), \
            netns.ip("route", netns=r2)
        # h1 -> r2 -> r1's router -> r1's kernel, where the pool's first address lives
        # (within a few seconds: r1 learns h1's LAN, and r2's router mirrors the route).
        ok, took = reach(lab, "h1", "10.8.0.1", within=20)
        assert ok, netns.ip("route", netns=r2)
    finally:
        if load_state(name) is not None:
            destroy(name)


def test_a_server_that_cannot_listen_fails_the_deploy_with_its_reason_and_leaves_nothing(tmp_path):
    from vforward.topo.deploy import DeployError
    name = "ig" + uuid.uuid4().hex[:6]
    path = tmp_path / "lab.yaml"
    # 203.0.113.77 is an address of no interface here: OpenVPN cannot bind it.
    path.write_text(LAB.format(name=name, listen="203.0.113.77", port=1194))
    with pytest.raises(DeployError, match="OpenVPN for node r1 exited.*(bind|assign)"):
        deploy(str(path), log=lambda *a: None)
    assert load_state(name) is None
    assert not any(n.startswith(f"vf-{name}-") for n in netns.list_names())


def test_two_slices_of_a_lab_whose_ingress_names_no_port_get_a_port_each(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text(LAB.format(name="igslice", listen="127.0.0.1", port=1194)
                    .replace(", port: 1194", ""))
    names = ["ig" + uuid.uuid4().hex[:6] for _ in range(2)]
    try:
        states = [deploy(str(path), name=n, log=lambda *a: None) for n in names]
        servers = [next(d for d in st.daemons if d["what"] == "openvpn") for st in states]
        assert servers[0]["port"] != servers[1]["port"], servers
        assert all(same_process(s) for s in servers)      # both listening, neither failed
        # the profile of each slice names its own server's port
        for n, server in zip(names, servers):
            p = _vforward(n, "client", "carol", "-o", "-")
            assert p.returncode == 0, p.stderr
            assert f"remote 127.0.0.1 {server['port']}" in p.stdout, p.stdout
    finally:
        for n in names:
            if load_state(n) is not None:
                destroy(n)
