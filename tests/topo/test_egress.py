"""Egress: a lab host reaches an "internet" namespace behind this machine's
root namespace through the egress node's NAT; the internet side sees only the
egress address, and a connection it starts toward the lab never enters.

The test's internet is a namespace joined to the root namespace by a veth;
the root namespace gets one /32 route (a 203.0.113.0/24 address) toward it and
forwarding on that veth only; all of it goes when the test ends."""
import ipaddress
import os
import random
import re
import subprocess
import time
import uuid

import pytest

from tests.connectall import CONNECT_ALL
from vforward import netns
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.egress import egress_link
from vforward.topo.state import load_state
from vforward.topo.validate import ping, reach

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")

LAB = """\
name: {name}
routing: ospf
topology:
  nodes:
    gw: {{egress: true}}
    r1: {{}}
    h1: {{kind: host}}
  links:
    - endpoints: ["gw:eth1", "r1:eth1"]
    - endpoints: ["r1:eth2", "h1:eth1"]
"""

SERVER = """\
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8080))
s.listen()
print("listening", flush=True)
c, peer = s.accept()
print(peer[0], flush=True)
c.sendall(b"hello from the internet")
c.close()
"""

CLIENT = """\
import socket, sys
c = socket.create_connection((sys.argv[1], 8080), timeout=5)
print(c.recv(100).decode())
"""


# The lab and the internet are shared by the two tests that use them: the
# second only tries connections in from outside, which the first one's flow
# out does not open, and OSPF converges once instead of twice.
@pytest.fixture(scope="module")
def internet():
    """A namespace behind the root namespace: (namespace, server address, root-side address)."""
    tag = uuid.uuid4().hex[:6]
    ns, root_dev = f"vfinet-{tag}", f"vfi{tag}"
    k = random.randrange(64)
    root_ip, inet_ip = f"198.51.100.{4 * k + 1}", f"198.51.100.{4 * k + 2}"
    server = f"203.0.113.{random.randrange(1, 255)}"
    netns.create(ns)
    try:
        run = lambda *cmd: subprocess.run(cmd, check=True, capture_output=True)   # noqa: E731
        run("ip", "link", "add", root_dev, "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "addr", "add", f"{root_ip}/30", "dev", root_dev)
        run("ip", "link", "set", root_dev, "up")
        run("ip", "-n", ns, "addr", "add", f"{inet_ip}/30", "dev", "eth0")
        run("ip", "-n", ns, "addr", "add", f"{server}/32", "dev", "lo")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", ns, "route", "add", "default", "via", root_ip)
        run("ip", "route", "add", f"{server}/32", "via", inet_ip, "dev", root_dev)
        # Replies from the internet back to the egress address: forwarded from this veth only.
        with open(f"/proc/sys/net/ipv4/conf/{root_dev}/forwarding", "w") as f:
            f.write("1")
        yield ns, server, root_ip
    finally:
        subprocess.run(["ip", "link", "del", root_dev], capture_output=True)   # and its route
        netns.delete(ns)


@pytest.fixture(scope="module")
def egress_lab(tmp_path_factory):
    name = "ege" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("egress") / "egress.yaml"
    path.write_text(LAB.format(name=name))
    deploy(str(path), log=lambda *a: None)
    try:
        yield prepare(str(path))
    finally:
        if load_state(name) is not None:
            destroy(name)


def _sources(pcap: str) -> set:
    p = subprocess.run(["tcpdump", "-n", "-r", pcap, "ip"], capture_output=True, text=True)
    return {m.group(1) for m in re.finditer(r" IP (\d+\.\d+\.\d+\.\d+)(?:\.\d+)? > ", p.stdout)}


def test_a_lab_host_reaches_the_internet_seen_only_as_the_egress_address(
        egress_lab, internet, tmp_path):
    inet, server, _ = internet
    lab = egress_lab
    nat = str(egress_link(lab, lab.nodes["gw"]).address.ip)
    pcap = str(tmp_path / "internet.pcap")
    dump = netns.popen(inet, "tcpdump", "-n", "-U", "-i", "eth0", "-w", pcap, "ip",
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    srv = netns.popen(inet, "python3", "-c", SERVER, server, stdout=subprocess.PIPE, text=True)
    try:
        assert srv.stdout.readline().strip() == "listening"
        ok, _ = reach(lab, "h1", server, within=40)     # OSPF carries the default route first
        assert ok, "h1 never reached the internet through the egress node"
        sent, got, _ = ping(lab, "h1", server, count=3)
        assert got == sent
        client = subprocess.run(["ip", "netns", "exec", f"vf-{lab.name}-h1", "python3", "-c",
                                 CLIENT, server], capture_output=True, text=True, timeout=30)
        assert client.stdout.strip() == "hello from the internet", client.stderr
        assert srv.stdout.readline().strip() == nat     # the server's peer: the egress address
        srv.wait(10)
        time.sleep(0.5)
    finally:
        srv.kill()
        dump.terminate()
        dump.wait(10)
    sources = _sources(pcap) - {server}
    h1 = str(lab.nodes["h1"].interfaces["eth1"].address.ip)
    assert sources == {nat}, f"the internet saw {sources}, not only {nat} (h1 is {h1})"


def test_a_connection_from_the_internet_never_enters_the_lab(egress_lab, internet):
    inet, server, _ = internet
    lab = egress_lab
    nat = str(egress_link(lab, lab.nodes["gw"]).address.ip)
    ok, _ = reach(lab, "h1", server, within=40)     # a flow out exists: the NAT is in use
    assert ok
    listener = netns.popen(f"vf-{lab.name}-h1", "python3", "-c",
                           SERVER.replace("8080", "8081"), "0.0.0.0", stdout=subprocess.PIPE,
                           text=True)
    try:
        assert listener.stdout.readline().strip() == "listening"
        p = subprocess.run(["ip", "netns", "exec", inet, "python3", "-c", CONNECT_ALL,
                            *(f"{nat}:{port}" for port in (8081, 22, 1024, 40000))],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr
        assert p.stdout.split() == [], f"connections from the internet to {p.stdout.split()} " \
                                       "succeeded"
        pings = subprocess.run(["ip", "netns", "exec", inet, "ping", "-n", "-c", "2", "-i", "0.2",
                                "-W", "1", nat], capture_output=True, text=True, timeout=30)
        assert " 0 received" in pings.stdout, pings.stdout
        assert listener.poll() is None      # nothing reached the lab host's listener
    finally:
        listener.kill()


def test_the_egress_device_and_its_forwarding_go_with_the_lab(tmp_path):
    name = "egd" + uuid.uuid4().hex[:6]
    path = tmp_path / "egress.yaml"
    path.write_text(LAB.format(name=name))
    deploy(str(path), log=lambda *a: None)
    try:
        lab = prepare(str(path))
        e = egress_link(lab, lab.nodes["gw"])
        assert e.address.network.subnet_of(ipaddress.IPv4Network("100.64.0.0/10"))
        with open(f"/proc/sys/net/ipv4/conf/{e.device}/forwarding") as f:
            assert f.read().strip() == "1"
        with open(f"/proc/sys/net/ipv4/conf/all/forwarding") as f:
            all_before = f.read()
    finally:
        destroy(name)
    assert subprocess.run(["ip", "link", "show", e.device], capture_output=True).returncode != 0
    with open("/proc/sys/net/ipv4/conf/all/forwarding") as f:
        assert f.read() == all_before


def test_egress_needs_a_router_with_a_routing_daemon():
    from vforward.topo.model import TopologyError, parse_lab
    static = LAB.format(name="x").replace("routing: ospf\n", "")
    with pytest.raises(TopologyError, match=r"<topology>:4: node gw: egress needs 'routing: ospf'"):
        parse_lab(static)
    on_host = LAB.format(name="x").replace("h1: {kind: host}", "h1: {kind: host, egress: true}")
    with pytest.raises(TopologyError, match="node h1 is a host; egress: belongs on a router"):
        parse_lab(on_host)
    bad = LAB.format(name="x").replace("{egress: true}", "{egress: {address: 100.64.0.9}}")
    with pytest.raises(TopologyError, match="egress address must be ADDR/LEN"):
        parse_lab(bad)


def test_egress_under_defaults_is_refused_not_ignored():
    from vforward.topo.model import TopologyError, parse_lab
    text = LAB.format(name="x").replace("topology:\n", "defaults:\n  egress: true\ntopology:\n")
    with pytest.raises(TopologyError, match=r"egress belongs on one router node "
                                            r"\(topology.nodes.NAME.egress\), not under defaults"):
        parse_lab(text)


def test_the_egress_node_announces_a_default_route_its_kernel_never_gets():
    from vforward.topo.addressing import assign
    from vforward.topo.bird import bird_config
    from vforward.topo.model import parse_lab
    lab = assign(parse_lab(LAB.format(name="x")))
    conf = bird_config(lab, lab.nodes["gw"])
    assert "route 0.0.0.0/0 blackhole;" in conf
    assert 'export where proto = "egress_default"' in conf
    assert "source != RTS_STATIC" in conf
    assert "egress_default" not in bird_config(lab, lab.nodes["r1"])
