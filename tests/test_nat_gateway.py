"""configs/examples/nat-gateway.click on real namespaces, TAPs and traffic.

Topology (each box a network namespace; the router runs in the test process):

    h1 (10.0.0.2, br0) --+                                    pub (198.51.100.2)
                         | br0 [h1] --TAP-- vforward --TAP--  iperf3 servers,
    h2 (10.0.0.3) --veth-+          10.0.0.1   198.51.100.1   tcpdump

The private namespace h1 holds the private TAP; the test bridges it with a
veth to a second private host h2, so that two hosts share the NAT.  Both
ping the public server and run iperf3 TCP and UDP to it at the same time;
the server must only ever see the NAT address.  Connections started from the
public side must fail, and mappings must expire after the (short) timeouts
the test gives the configuration.
"""
from __future__ import annotations

import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import uuid

import pytest

from tests.connectall import CONNECT_ALL
from vforward import netns as ns

pytestmark = pytest.mark.netns

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "examples", "nat-gateway.click")
NAT, SERVER, H1, H2, GW = "198.51.100.1", "198.51.100.2", "10.0.0.2", "10.0.0.3", "10.0.0.1"
TIMEOUTS = dict(UDP_TIMEOUT="2s", ICMP_TIMEOUT="2s", TCP_DONE_TIMEOUT="2s",
                TCP_NODATA_TIMEOUT="2s", REAP_INTERVAL="0.25s")


def _need(tool):
    if shutil.which(tool) is None:
        pytest.skip(f"{tool} is not installed")


class Gateway:
    """The NAT router running in a thread, with its namespaces and helpers."""

    def __init__(self, make_router, netns):
        for tool in ("iperf3", "ping", "tcpdump"):
            _need(tool)
        self.h1, self.h2, self.pub = netns("n1"), netns("n2"), netns("np")
        for space in (self.h1, self.h2, self.pub):
            ns.run(space, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
            ns.run(space, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")
        tag = uuid.uuid4().hex[:6]
        self.priv_dev, self.pub_dev = f"ngi{tag}", f"ngo{tag}"
        with open(CONFIG) as f:
            text = f.read()
        defines = dict(PRIV_NS=self.h1, PRIV_DEV=self.priv_dev, PUB_NS=self.pub,
                       PUB_DEV=self.pub_dev, **TIMEOUTS)
        self.router = make_router(text, n_slots=8192, defines=defines)
        self.router.initialize()
        self._bridge(tag)
        self.thread = threading.Thread(target=self.router.run, daemon=True)
        self.thread.start()
        self.rw = self.router.element("rw")

    def _bridge(self, tag):
        """Move h1's address from the TAP to a bridge that also holds h2's veth."""
        h1, h2, tap = self.h1, self.h2, self.priv_dev
        ns.ip("link", "add", "br0", "address", "02:00:0a:00:00:02", "type", "bridge",
              "forward_delay", "0", netns=h1)
        ns.ip("addr", "del", f"{H1}/24", "dev", tap, netns=h1)
        ns.ip("link", "set", tap, "master", "br0", netns=h1)
        ns.ip("link", "set", "br0", "up", netns=h1)
        ns.ip("addr", "add", f"{H1}/24", "dev", "br0", netns=h1)
        ns.ip("route", "replace", "default", "via", GW, "dev", "br0", netns=h1)
        va, vb = f"nv{tag}a", f"nv{tag}b"
        ns.veth_pair(va, h1, vb, h2)
        ns.ip("link", "set", va, "master", "br0", netns=h1)
        ns.ip("addr", "add", f"{H2}/24", "dev", vb, netns=h2)
        ns.ip("route", "add", "default", "via", GW, netns=h2)

    def read(self, handler: str) -> str:
        """Read rw's handler on the router's own thread (the loop owns the table)."""
        fut = concurrent.futures.Future()

        def call():
            try:
                fut.set_result(self.rw.read(handler))
            except Exception as e:      # pragma: no cover - reported to the test
                fut.set_exception(e)
        self.router.loop.call_soon_threadsafe(call)
        return fut.result(5)

    def stop(self):
        self.router.loop.call_soon_threadsafe(self.router.stop)
        self.thread.join(10)
        assert not self.thread.is_alive()


@pytest.fixture
def gateway(make_router, netns):
    gw = Gateway(make_router, netns)
    try:
        yield gw
    finally:
        gw.stop()


def ping(space, address, count=3):
    return ns.popen(space, "ping", "-n", "-c", str(count), "-i", "0.2", "-W", "2", address,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def iperf_server(space, port):
    return ns.popen(space, "iperf3", "-s", "-1", "-J", "-p", str(port), "-B", SERVER,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def iperf_client(space, port, udp=False):
    cmd = ["iperf3", "-c", SERVER, "-p", str(port), "-t", "2", "-J", "--connect-timeout", "3000"]
    if udp:
        cmd += ["-u", "-b", "20M", "-l", "1200"]
    return ns.popen(space, *cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc, timeout=30):
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def wait_listening(space, port, deadline=5.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        out = ns.run(space, "ss", "-ltnH", f"sport = :{port}", check=False).stdout
        if out.strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port} in {space}")


def start_tcpdump(space, dev):
    p = ns.popen(space, "tcpdump", "-l", "-nn", "-q", "-i", dev, "ip",
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # tcpdump says "listening on ..." on stderr once it captures
    for _ in range(5):
        line = p.stderr.readline()
        if "listening" in line:
            return p
    raise AssertionError(f"tcpdump did not start: {line}")


def stop_tcpdump(p) -> str:
    p.terminate()
    out, _ = p.communicate(timeout=10)
    return out


def mapped_lines(table: str, host: str) -> list[str]:
    return [line for line in table.splitlines() if f"({host}," in line]


def test_the_configuration_builds_with_clicks_nat_structure():
    """No root needed: the graph is built and checked, no device is opened."""
    from vforward.graph import build_graph
    with open(CONFIG) as f:
        g = build_graph(f.read(), CONFIG, {"UDP_TIMEOUT": "7s"})
    classes = {e.class_name() for e in g.elements.values()}
    assert {"KernelTap", "ARPResponder", "ARPQuerier", "CheckIPHeader", "LookupIPRoute",
            "DecIPTTL", "IPRewriter", "ICMPError", "ICMPPingResponder"} <= classes
    rw = g["rw"]
    assert rw.read("patterns") == "198.51.100.1 1024-65535 - -\n<drop>\n"
    assert rw.timeouts.udp == 7 and rw.reap_interval == 15
    assert (rw.n_inputs, rw.n_outputs) == (2, 2)


def test_two_private_hosts_share_the_nat_address_for_ping_tcp_and_udp(gateway):
    g = gateway
    dump = start_tcpdump(g.pub, g.pub_dev)
    try:
        pings = [ping(g.h1, SERVER), ping(g.h2, SERVER)]
        for rc, out, _ in map(finish, pings):
            assert rc == 0, out
        icmp = g.read("icmp_table")
        assert mapped_lines(icmp, H1) and mapped_lines(icmp, H2), icmp

        results = {}
        for proto, udp, ports in (("tcp", False, (5201, 5202)), ("udp", True, (5203, 5204))):
            servers = [iperf_server(g.pub, p) for p in ports]
            for p in ports:
                wait_listening(g.pub, p)
            clients = [iperf_client(g.h1, ports[0], udp), iperf_client(g.h2, ports[1], udp)]
            time.sleep(1.0)             # read the table while the flows are live
            results[proto] = g.read(f"{proto}_table")
            for host, c in zip((H1, H2), clients):
                rc, out, err = finish(c)
                assert rc == 0, f"iperf3 {proto} client on {host} failed: {err or out}"
                client = json.loads(out)
                assert client["start"]["connected"][0]["local_host"] == host
                results[(proto, host)] = client
            for s in servers:
                rc, out, err = finish(s)
                assert rc == 0, err or out
                seen = json.loads(out)["start"]["connected"]
                assert seen and all(c["remote_host"] == NAT for c in seen), seen
    finally:
        captured = stop_tcpdump(dump)

    # the public side only ever saw the NAT address and the server
    addresses = set(re.findall(r"\b(\d+\.\d+\.\d+\.\d+)\.?\d*\b", captured))
    assert addresses and addresses <= {NAT, SERVER}, addresses
    for host in (H1, H2):
        tcp = results[("tcp", host)]["end"]
        assert tcp["sum_received"]["bytes"] > 100_000
        udp = results[("udp", host)]["end"]["sum"]
        assert udp["packets"] > 100 and udp["lost_percent"] < 50
        # each host's UDP data flow, and its TCP flows (control and data), were mapped
        assert len(mapped_lines(results["udp"], host)) == 1
        assert len(mapped_lines(results["tcp"], host)) == 2
    # no mapping failed, nothing of the private traffic was dropped for want of one
    assert g.read("mapping_failures") == "0"


def test_connections_from_the_public_side_never_get_in(gateway):
    g = gateway
    listener = ns.popen(g.h1, sys.executable, "-c",
                        "import socket,time\n"
                        "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                        f"s.bind(('0.0.0.0', 7000)); s.listen()\n"
                        "s.settimeout(8)\n"
                        "try:\n    s.accept(); print('ACCEPTED')\nexcept OSError: pass\n",
                        stdout=subprocess.PIPE, text=True)
    wait_listening(g.h1, 7000)
    # even a public host that routes the private network via the gateway gets nowhere
    ns.ip("route", "add", "10.0.0.0/24", "via", NAT, netns=g.pub)
    drops_before = int(g.read("drops"))
    p = ns.run(g.pub, sys.executable, "-c", CONNECT_ALL, f"{NAT}:7000", f"{H1}:7000",
               check=False)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == [], f"a connection from the public side reached {p.stdout.split()}"
    unsolicited = ns.run(g.pub, "ping", "-n", "-c", "2", "-i", "0.2", "-W", "1", NAT,
                         check=False)
    assert unsolicited.returncode != 0
    listener.kill()
    out, _ = listener.communicate(timeout=10)
    assert "ACCEPTED" not in out
    assert int(g.read("drops")) > drops_before       # the SYNs (to NAT) died in IPRewriter
    assert g.read("nmappings") == "0"
    # and the private side still gets out
    rc, out, _ = finish(ping(g.h2, SERVER, count=2))
    assert rc == 0, out


def test_mappings_expire_after_their_timeouts(gateway):
    g = gateway
    send = ("import socket\n"
            "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            f"s.bind(('0.0.0.0', 4321))\n"
            f"for i in range(3): s.sendto(b'hello %d' % i, ('{SERVER}', 9999))\n")
    sink = ns.popen(g.pub, sys.executable, "-c",
                    "import socket\n"
                    "s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
                    f"s.bind(('{SERVER}', 9999)); s.settimeout(5)\n"
                    "print(s.recvfrom(100)[1][0], flush=True)\n",
                    stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)
    ns.run(g.h1, sys.executable, "-c", send)
    ns.run(g.h2, sys.executable, "-c", send)
    rc, out, _ = finish(ping(g.h1, SERVER, count=1))
    assert rc == 0, out
    source, _ = sink.communicate(timeout=10)
    assert source.strip() == NAT
    before = g.read("udp_table")
    assert len(mapped_lines(before, H1)) == 1 and len(mapped_lines(before, H2)) == 1, before
    assert "(10.0.0.2, 4321, 198.51.100.2, 9999) => (198.51.100.1, " in before
    assert mapped_lines(g.read("icmp_table"), H1)
    time.sleep(2.0 + 0.25 + 0.5)         # UDP_TIMEOUT + REAP_INTERVAL + slack
    assert g.read("udp_table") == ""
    assert g.read("icmp_table") == ""
    assert g.read("nmappings") == "0"
