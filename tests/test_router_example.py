"""configs/examples/router.click on real namespaces, TAPs and traffic.

    host A (namespace a)                 vforward                 host B (namespace b)
    10.1.0.2/24 --TAP-- 10.1.0.1 [ if1   router   if2 ] 10.2.0.1 --TAP-- 10.2.0.2/24
                                                                  (and 10.3.0.1 on lo)

Each test brings up its own two namespaces and starts the router with
`vforward run configs/examples/router.click NS1=... NS2=... CTL=...` as a
subprocess (the router owns both TAPs: it is the whole router), then drives
ping, traceroute, iperf3 and crafted frames through it and reads its
handlers over the control socket.  The router process is stopped, and the
namespaces deleted, even when a test fails.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.control import ControlClient

netns_test = pytest.mark.netns

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG = os.path.join(ROOT, "configs", "examples", "router.click")
# The config's defaults for addresses and MACs.
HOST_A, ROUTER_A, HOST_A_ETH, ROUTER_A_ETH = "10.1.0.2", "10.1.0.1", "02:00:0a:01:00:02", \
    "02:00:0a:01:00:01"
HOST_B, ROUTER_B = "10.2.0.2", "10.2.0.1"
BEHIND_B = "10.3.0.1"        # on B's loopback: reachable once the router has a route


def _need(*tools):
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


class RouterBed:
    """Two host namespaces and the example router running between them."""

    def __init__(self, netns, tmp_path):
        self.a, self.b = netns("ra"), netns("rb")
        for space in (self.a, self.b):
            ns.run(space, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                   "net.ipv6.conf.default.disable_ipv6=1")
        ns.ip("addr", "add", f"{BEHIND_B}/32", "dev", "lo", netns=self.b)
        tag = uuid.uuid4().hex[:6]
        self.dev_a, self.dev_b = f"vra{tag}", f"vrb{tag}"
        self.ctl = str(tmp_path / "router.sock")
        self.log = open(tmp_path / "router.log", "w+")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vforward", "run", CONFIG, f"NS1={self.a}", f"NS2={self.b}",
             f"DEV1={self.dev_a}", f"DEV2={self.dev_b}", f"CTL={self.ctl}"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        self._wait_ready()

    def _wait_ready(self, seconds=20.0):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"the router exited ({self.proc.returncode}):\n"
                                     f"{self.output()}")
            with contextlib.suppress(OSError):
                with ControlClient(self.ctl, timeout=2) as c:
                    c.read("if2.dev_name")
                return
            time.sleep(0.05)
        raise AssertionError(f"the router's control socket did not answer:\n{self.output()}")

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def read(self, handler: str, arg: str | None = None) -> str:
        with ControlClient(self.ctl) as c:
            return c.read(handler, arg)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def bed(netns, tmp_path):
    _need("ping")
    b = RouterBed(netns, tmp_path)
    try:
        yield b
    finally:
        b.stop()


def test_the_config_builds_with_its_defaults_and_with_overrides():
    from vforward.graph import build_graph
    with open(CONFIG) as f:
        text = f.read()
    graph = build_graph(text, CONFIG, {"NS1": "h1", "HOST1": "192.0.2.2", "IP1": "192.0.2.1",
                                       "LEN1": "28"})
    tap = graph.elements["if1"]
    assert (tap.netns, tap.address, tap.prefixlen) == ("h1", 0xC0000202, 28)
    assert tap.gateway == 0xC0000201
    assert "192.0.2.1/32" in graph.elements["rt"].config


@pytest.mark.parametrize("offload", [False, True])
def test_the_afpacket_variants_the_benchmark_runs_build(offload):
    from vforward.bench.forward import ring_variant
    from vforward.graph import build_graph
    with open(CONFIG) as f:
        graph = build_graph(ring_variant(f.read(), offload), CONFIG, {"NS1": "n", "NS2": "n"})
    devices = {name: e for name, e in graph.elements.items() if name.startswith(("if1/", "if2/"))}
    assert sorted(e.class_name() for e in devices.values()) == \
        ["FromDevice", "FromDevice", "ToDevice", "ToDevice"]
    assert all(e.offload == offload for e in devices.values())
    assert all(e.block_timeout == (0.001 if offload else 0)
               for e in devices.values() if e.class_name() == "FromDevice")


def ping(space, address, *extra, count=3):
    return ns.run(space, "ping", "-n", "-c", str(count), "-i", "0.2", "-W", "1", *extra, address,
                  check=False, timeout=30)


@netns_test
def test_a_ping_across_the_router_comes_back_with_ttl_63(bed):
    for space, target in ((bed.a, HOST_B), (bed.b, HOST_A)):
        p = ping(space, target)
        assert p.returncode == 0, p.stdout
        ttls = re.findall(r"bytes from .*? ttl=(\d+)", p.stdout)
        assert ttls == ["63"] * 3, p.stdout
    # both hosts learnt the router's MAC through its ARPResponder, and it learnt theirs
    assert HOST_B in bed.read("arpq2.table")
    assert HOST_A in bed.read("arpq1.table")


@netns_test
def test_the_router_answers_pings_to_each_of_its_addresses(bed):
    for space in (bed.a, bed.b):
        for target in (ROUTER_A, ROUTER_B):
            p = ping(space, target, count=2)
            assert p.returncode == 0, f"{target} from {space}: {p.stdout}"
            assert re.findall(rf"bytes from {re.escape(target)}: icmp_seq=\d+ ttl=(\d+)",
                              p.stdout) == ["254"] * 2
    assert bed.read("ping.count") == "8"


@netns_test
def test_ttl_1_gets_time_exceeded_from_the_routers_address(bed):
    p = ping(bed.a, HOST_B, "-t", "1", count=2)
    assert p.returncode != 0
    assert re.findall(r"From (\S+) icmp_seq=\d+ Time to live exceeded", p.stdout) == \
        [ROUTER_A] * 2, p.stdout
    # from B's side the router answers with the address facing B
    p = ping(bed.b, HOST_A, "-t", "1", count=1)
    assert f"From {ROUTER_B} icmp_seq=1 Time to live exceeded" in p.stdout, p.stdout
    assert bed.read("ttl2.drops") == "2" and bed.read("ttl1.drops") == "1"


@netns_test
def test_traceroute_shows_the_router_then_b(bed):
    _need("traceroute")
    p = ns.run(bed.a, "traceroute", "-n", "-q", "1", "-w", "2", "-m", "5", HOST_B,
               check=False, timeout=30)
    hops = re.findall(r"^\s*(\d+)\s+(\S+)", p.stdout, re.M)
    assert hops == [("1", ROUTER_A), ("2", HOST_B)], p.stdout


def _iperf(bed, udp: bool) -> dict:
    server = ns.popen(bed.b, "iperf3", "-s", "-1", "-J", "-B", HOST_B,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 5
        while not ns.run(bed.b, "ss", "-ltnH", "sport = :5201", check=False).stdout.strip():
            assert time.monotonic() < deadline, "iperf3 server did not start"
            time.sleep(0.05)
        cmd = ["iperf3", "-c", HOST_B, "-t", "2", "-J", "--connect-timeout", "3000"]
        if udp:
            cmd += ["-u", "-b", "50M", "-l", "1400"]
        client = ns.run(bed.a, *cmd, check=False, timeout=30)
        assert client.returncode == 0, client.stdout + client.stderr
        out, err = server.communicate(timeout=15)
        assert server.returncode == 0, err or out
        return json.loads(out)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


@netns_test
def test_iperf3_tcp_and_udp_run_through_the_router(bed):
    _need("iperf3", "ss")
    tcp = _iperf(bed, udp=False)
    assert tcp["start"]["connected"][0]["remote_host"] == HOST_A
    assert tcp["end"]["sum_received"]["bytes"] > 1_000_000
    assert int(bed.read("if1.gso_count")) > 0     # OFFLOAD: TCP came in as super-frames
    udp = _iperf(bed, udp=True)["end"]["sum"]
    assert udp["packets"] > 1000, udp
    assert udp["lost_percent"] < 10, udp
    assert bed.read("chk.drops") == "0"


def _checksum(header: bytes) -> int:
    s = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _udp_frame(payload: bytes, port: int, good_checksum: bool) -> bytes:
    udp = struct.pack("!HHHH", 40000, port, 8 + len(payload), 0) + payload
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                                   socket.inet_aton(HOST_A), socket.inet_aton(HOST_B)))
    checksum = _checksum(bytes(header))
    header[10:12] = struct.pack("!H", checksum if good_checksum else checksum ^ 0x5A5A)
    mac = lambda m: bytes.fromhex(m.replace(":", ""))   # noqa: E731
    return mac(ROUTER_A_ETH) + mac(HOST_A_ETH) + b"\x08\x00" + bytes(header) + udp


@netns_test
def test_packets_with_bad_ip_checksums_are_dropped_and_counted(bed):
    port = 47000
    with ns.entered(bed.b):
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with ns.entered(bed.a):
        raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    try:
        sink.bind((HOST_B, port))
        sink.settimeout(3)
        raw.bind((bed.dev_a, 0))
        for i in range(20):
            raw.send(_udp_frame(b"bad %d" % i, port, good_checksum=False))
        raw.send(_udp_frame(b"good", port, good_checksum=True))
        data, source = sink.recvfrom(100)
        assert (data, source[0]) == (b"good", HOST_A)
        sink.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sink.recvfrom(100)      # nothing with a bad checksum got through
    finally:
        raw.close()
        sink.close()
    assert bed.read("chk.drops") == "20"
    details = dict(line.split("\t")[::-1] for line in bed.read("chk.drop_details").splitlines())
    assert sum(int(n) for n in details.values()) == 20
    assert [int(n) for reason, n in details.items() if "checksum" in reason.lower()] == [20]


@netns_test
def test_a_route_added_through_the_control_socket_answers_from_then_on(bed):
    # ping runs until told to stop, so a slow start of the ctl command on a busy
    # machine cannot end the ping before the route exists
    pinger = ns.popen(bed.a, "ping", "-n", "-c", "600", "-i", "0.1", "-W", "1", BEHIND_B,
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(1.0)
        assert bed.read("rt.lookup", BEHIND_B) == "3"      # the no-route output
        added = subprocess.run([sys.executable, "-m", "vforward", "ctl", bed.ctl, "write",
                                "rt.add", "10.3.0.0/24", HOST_B, "2"],
                               capture_output=True, text=True, cwd=ROOT, timeout=20)
        assert added.returncode == 0, added.stderr
        time.sleep(2.0)
        pinger.send_signal(signal.SIGINT)
        out, _ = pinger.communicate(timeout=30)
    finally:
        if pinger.poll() is None:
            pinger.kill()
            pinger.communicate()
    unreachable = [int(s) for s in re.findall(
        rf"From {re.escape(ROUTER_A)} icmp_seq=(\d+) Destination Net Unreachable", out)]
    answered = [int(s) for s in re.findall(rf"bytes from {re.escape(BEHIND_B)}: icmp_seq=(\d+)",
                                           out)]
    assert len(unreachable) >= 5, out           # before the route: the router said so
    assert answered, out
    assert max(unreachable) < min(answered), out
    # from the first answer on, every ping was answered
    assert len(answered) >= 10, out
    assert answered == list(range(min(answered), max(answered) + 1)), out
    routes = [line.split() for line in bed.read("rt.table").splitlines()]
    assert ["10.3.0.0/24", HOST_B, "2"] in routes
