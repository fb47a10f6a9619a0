"""Forwarding through one router node: the kernel against vforward, on identical traffic.

Three network namespaces, `src`, `node` and `dst`.  The hosts are the same
in every mode: src's interface has 10.1.0.2/24 (MAC 02:00:0a:01:00:02) and a
default route via 10.1.0.1, dst's has 10.2.0.2/24 and a default route via
10.2.0.1; the router's interfaces are 10.1.0.1 (MAC 02:00:0a:01:00:01) and
10.2.0.1 -- the defaults of configs/examples/router.click.  What stands
between the hosts changes:

  kernel    src:vfs <-veth-> node <-veth-> dst:vfd; the node's kernel forwards
            (ip_forward=1, the router's addresses and MACs on its veth ends).
            TSO and GRO are off on the veth ends: MTU-sized frames.
  kernel-tso  the same with the veths' TSO and GRO on, as they come: TCP
            crosses the node as 64 KB super-frames.
  tap       vforward runs configs/examples/router.click unchanged: src's and
            dst's interfaces are TAP devices that vforward owns (the lab's
            host-facing ports), with checksum and TSO offloads (OFFLOAD
            true).  No node namespace and no veth: the router sits directly
            behind the hosts' devices.
  tap-plain the same with OFFLOAD=false: every frame MTU-sized.
  afpacket-tso  the same with the veths' TSO and GRO on and the AF_PACKET
            pairs with OFFLOAD: TCP crosses as super-frames, as in kernel-tso.
  tap-poll  tap with `vforward run --poll`: the forwarder busy-polls its
            devices (VPP's polling rx-mode) and keeps CPU 1 at 100%, trading
            a core for the wake-up latency of an idle CPU.
  afpacket  the veth topology of `kernel`, with the node's kernel not
            forwarding (its veth ends have no addresses) and the same
            router.click running in front of them, its two KernelTaps
            swapped for FromDevice/ToDevice pairs (AF_PACKET rings; the
            receive ring per frame, BLOCK_TIMEOUT 0, so that no block
            timeout adds to the RTT).
  naive     bench/naive_forwarder.py on TAP devices as in `tap`: the
            per-packet asyncio router one writes first (the floor).

Why TAP mode has no node namespace: the fair comparison is "the hosts'
packets cross one forwarding element", and with TAPs that element is the
vforward process itself.  Putting TAPs inside a node namespace that
receives from veths would charge vforward for a kernel forwarding pass as
well as its own.  Per packet, kernel mode costs one veth transmit and one
forwarding pass in the node; TAP mode costs one TAP transmit (the source
kernel queues the frame for vforward), vforward's read, its graph and its
write (the write delivers the frame into dst's stack).

CPUs (two are needed): the load generators (trafgen, iperf3 client and
server, ping) are pinned to CPU 0; the forwarder to CPU 1 -- the vforward
or naive process with taskset, and in kernel modes the node's receive
processing with RPS on its veth ends, so that the kernel's forwarding runs
on CPU 1.  In afpacket mode the node's receive processing (the copy of each
frame into the packet socket's ring, a NIC's DMA in real life) stays on the
sender's CPU 0, as a TAP's queueing does in tap mode: with RPS it would run
in CPU 1's softirq ahead of the forwarder, which then starves under the
flood (receive livelock: 70-130 kpps forwarded instead of ~900).  In every
mode dst's receive processing runs on CPU 1 as well (it happens in the
context of whoever hands dst the frame), so all modes pay the same.  On a shared machine the kernel's softirq work runs
ahead of every process, while a user-space forwarder takes turns with the
other processes on its CPU; so the forwarders and load generators run at
nice -10 (--nice), which gives them most of their CPU without starving the
rest.  Numbers from a busy machine still favour the kernel: run on an idle
one.

Offloads: in kernel, afpacket and tap-plain modes every forwarder handles
MTU-sized frames (TSO and GRO off on the veth ends; src still uses GSO,
segmenting in software at its device, as it does in front of a TAP without
offloads; an AF_PACKET reader would drop super-frames).  kernel-tso and
tap are the same pair with offloads on both: TCP super-frames cross the
forwarder whole.  Ratios are to `kernel`; the TCP target is also checked
against kernel-tso.

Loads, each run in turn on one forwarder, whose order is rotated from one
repetition to the next (so slow drifts of the machine spread over all):

  pps      trafgen floods 64-byte frames (60 bytes plus FCS) of UDP
           10.1.0.2 -> 10.2.0.2 port 9 into src's interface; counted by
           dst's interface rx_packets over the window after a warm-up.  A
           bound, never-read UDP socket in dst eats them quietly.
  udp      iperf3 UDP, 1400-byte datagrams, unlimited rate (-b 0): Mbit/s
           received by the server.  Client and server share CPU 0, so this
           is also bounded by how much of it the server gets; the JSON keeps
           what reached dst's device too (udp_delivered_mbps).
  tcp      iperf3 TCP, one stream: Mbit/s received by the server.
  rtt      ping src -> dst, 20 echo requests 50 ms apart on the idle path:
           the median round trip.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import itertools
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field

from vforward import netns as ns

MODES = ("kernel", "kernel-tso", "tap", "tap-plain", "tap-poll", "afpacket", "afpacket-tso",
         "naive")
GEN_CPU, FWD_CPU = 0, 1
PYTHON = sys.executable
PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOURCE_TREE = os.path.dirname(PACKAGE_DIR)
ROUTER_CONFIG = os.path.join(SOURCE_TREE, "configs", "examples", "router.click")
NAIVE_FORWARDER = os.path.join(SOURCE_TREE, "bench", "naive_forwarder.py")

# The defaults of configs/examples/router.click (and of bench/naive_forwarder.py).
HOST1, IP1, LEN1, HOST_ETH1, ETH1 = "10.1.0.2", "10.1.0.1", 24, "02:00:0a:01:00:02", \
    "02:00:0a:01:00:01"
HOST2, IP2, LEN2, HOST_ETH2, ETH2 = "10.2.0.2", "10.2.0.1", 24, "02:00:0a:02:00:02", \
    "02:00:0a:02:00:01"
SINK_PORT = 9
FRAME_SIZE = 60          # without the FCS: 64-byte frames on the wire
UDP_PAYLOAD = 1400

# Targets from the IP router issue: (metric, modes, bound, higher is better).  The
# TCP target is for TCP with offloads; AF_PACKET is to match the kernel's pps.
TARGETS = [
    ("pps", ("tap", "tap-plain", "tap-poll"), 0.85, True),
    ("pps", ("afpacket",), 1.0, True),
    ("tcp_mbps", ("tap", "tap-poll", "afpacket-tso"), 0.75, True),
    ("rtt_ms", ("tap", "tap-poll", "afpacket"), 2.0, False),
]
METRICS = [("pps", "64B UDP kpps", 1e-3, "{:.0f}"),
           ("udp_mbps", "1400B UDP Mbit/s", 1, "{:.0f}"),
           ("tcp_mbps", "TCP Mbit/s", 1, "{:.0f}"),
           ("rtt_ms", "RTT ms", 1, "{:.3f}")]


class BenchError(RuntimeError):
    """The benchmark cannot run or a forwarder failed; the message says which and why."""


# -- small tools ----------------------------------------------------------------

def _ip_checksum(header: bytes) -> int:
    s = sum(struct.unpack(f"!{len(header) // 2}H", header))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(size: int = FRAME_SIZE) -> bytes:
    """The flood's frame: Ethernet to the router's MAC, IPv4 src -> dst host (TTL 64),
    UDP to SINK_PORT with checksum 0 (none), zero payload; `size` bytes without FCS."""
    payload = bytes(size - 14 - 20 - 8)
    udp = struct.pack("!HHHH", 4000, SINK_PORT, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                               socket.inet_aton(HOST1), socket.inet_aton(HOST2)))
    ip[10:12] = struct.pack("!H", _ip_checksum(bytes(ip)))
    mac = lambda m: bytes.fromhex(m.replace(":", ""))   # noqa: E731
    return mac(ETH1) + mac(HOST_ETH1) + b"\x08\x00" + bytes(ip) + udp


def link_stats(space: str, dev: str) -> dict:
    return json.loads(ns.ip("-s", "-j", "link", "show", "dev", dev, netns=space))[0]["stats64"]


SIOCETHTOOL = 0x8946
ETHTOOL_STSO = 0x1F
ETHTOOL_SGRO = 0x2C


def _ethtool_set(space: str, dev: str, cmd: int, value: int) -> None:
    """A legacy ethtool 'set' (struct ethtool_value) on dev inside namespace space."""
    with ns.entered(space):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        arg = ctypes.create_string_buffer(struct.pack("II", cmd, value), 8)
        ifr = struct.pack("16sP", dev.encode(), ctypes.addressof(arg)).ljust(40, b"\0")
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)
    finally:
        sock.close()


def offloads_off(space: str, dev: str) -> None:
    """TSO and GRO off: the device passes MTU-sized frames only."""
    for cmd in (ETHTOOL_STSO, ETHTOOL_SGRO):
        try:
            _ethtool_set(space, dev, cmd, 0)
        except OSError as e:
            raise BenchError(f"cannot turn offloads off on {dev} in {space}: "
                             f"{e.strerror}") from None


def _stop_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """SIGINT to the process group (trafgen forks its senders), then SIGKILL."""
    for sig in (signal.SIGINT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            continue
        # the leader is gone; make sure no forked sender outlives it
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


# -- the namespaces ------------------------------------------------------------------

class Testbed:
    """src, node and dst namespaces, and the links between them for each mode."""

    def __init__(self, nice: int = 0):
        self.nice = nice
        tag = uuid.uuid4().hex[:6]
        self.src, self.node, self.dst = f"vfbs-{tag}", f"vfbn-{tag}", f"vfbd-{tag}"
        # host devices (veth ends or TAPs) and the node's veth ends
        self.src_dev, self.dst_dev = f"vfs{tag}", f"vfd{tag}"
        self.node1, self.node2 = f"vfn{tag}a", f"vfn{tag}b"
        self.made: list[str] = []
        self.sink: socket.socket | None = None
        self.tmp = tempfile.mkdtemp(prefix="vforward-bench-")
        self._ports = itertools.cycle(range(5201, 5251))

    def pinned(self, cpu: int) -> list[str]:
        """The command prefix that runs a program on `cpu` (at the bench's nice level)."""
        prefix = ["nice", "-n", str(self.nice)] if self.nice else []
        return prefix + ["taskset", "-c", str(cpu)]

    def next_port(self) -> int:
        """A fresh iperf3 port for each test (no waiting on the last one's sockets)."""
        return next(self._ports)

    def up(self) -> None:
        for space in (self.src, self.node, self.dst):
            ns.create(space)
            self.made.append(space)
            ns.run(space, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                   "net.ipv6.conf.default.disable_ipv6=1")
        with ns.entered(self.dst):
            # Bound and never read: the flood is dropped at the socket, and dst's kernel
            # sends no port-unreachable errors back through the forwarder.
            self.sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sink.bind(("0.0.0.0", SINK_PORT))

    def down(self) -> None:
        if self.sink is not None:
            self.sink.close()
        for space in self.made:
            ns.delete(space)
        shutil.rmtree(self.tmp, ignore_errors=True)

    # -- links ---------------------------------------------------------------
    def veth_links(self, node_routes: bool, offloads: bool = False, rps: bool = True) -> None:
        """src <-veth-> node <-veth-> dst; with node_routes the node's ends carry the
        router's addresses and MACs, without they are bare (an AF_PACKET router's).
        Without offloads, TSO and GRO are off on every end."""
        ns.veth_pair(self.src_dev, self.src, self.node1, self.node)
        ns.veth_pair(self.node2, self.node, self.dst_dev, self.dst)
        hosts = ((self.src, self.src_dev, f"{HOST1}/{LEN1}", HOST_ETH1, IP1),
                 (self.dst, self.dst_dev, f"{HOST2}/{LEN2}", HOST_ETH2, IP2))
        for space, dev, addr, mac, gw in hosts:
            ns.ip("link", "set", dev, "address", mac, netns=space)
            ns.ip("addr", "add", addr, "dev", dev, netns=space)
            ns.ip("route", "add", "default", "via", gw, netns=space)
        if node_routes:
            for dev, addr, mac in ((self.node1, f"{IP1}/{LEN1}", ETH1),
                                   (self.node2, f"{IP2}/{LEN2}", ETH2)):
                ns.ip("link", "set", dev, "address", mac, netns=self.node)
                ns.ip("addr", "add", addr, "dev", dev, netns=self.node)
        for space, dev in ((self.src, self.src_dev), (self.node, self.node1),
                           (self.node, self.node2), (self.dst, self.dst_dev)):
            if not offloads:
                offloads_off(space, dev)
        for dev in (self.node1, self.node2) if rps else ():
            # RPS: the node's receive processing (kernel forwarding) runs on the
            # forwarder's CPU.
            ns.run(self.node, "sh", "-c", f"echo {1 << FWD_CPU:x} > "
                                          f"/sys/class/net/{dev}/queues/rx-0/rps_cpus")

    def clear_links(self) -> None:
        for space, dev in ((self.src, self.src_dev), (self.dst, self.dst_dev)):
            ns.ip("link", "del", dev, netns=space, check=False)

    def router_defines(self, ns1: str, dev1: str, ns2: str, dev2: str, ctl: str) -> list[str]:
        return [f"NS1={ns1}", f"DEV1={dev1}", f"NS2={ns2}", f"DEV2={dev2}", f"CTL={ctl}"]

    def wait_path(self, seconds: float = 10.0) -> None:
        """Ping until dst answers: ARP everywhere is resolved, the forwarder works."""
        deadline = time.monotonic() + seconds
        while True:
            p = ns.run(self.src, "ping", "-n", "-c", "1", "-W", "1", HOST2, check=False)
            if p.returncode == 0:
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{HOST2} does not answer pings from src: the forwarder "
                                 f"does not forward\n{p.stdout}")
            time.sleep(0.1)


# -- the forwarders -------------------------------------------------------------------

class Forwarder:
    """Start and stop one mode's forwarder on a testbed."""
    mode = ""

    def __init__(self, bed: Testbed):
        self.bed = bed
        self.proc: subprocess.Popen | None = None
        self.log = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log is not None:
            self.log.close()
            self.log = None
        self.bed.clear_links()

    def _spawn(self, cmd: list[str]) -> None:
        self.log = open(os.path.join(self.bed.tmp, f"{self.mode}.log"), "w+")
        self.proc = subprocess.Popen([*self.bed.pinned(FWD_CPU), *cmd],
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def output(self) -> str:
        if self.log is None:
            return ""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def _failed(self, what: str) -> BenchError:
        return BenchError(f"{self.mode} forwarder {what}:\n{self.output().strip()}")


class KernelForwarder(Forwarder):
    def __init__(self, bed: Testbed, offloads: bool):
        super().__init__(bed)
        self.offloads = offloads
        self.mode = "kernel-tso" if offloads else "kernel"

    def start(self):
        self.bed.veth_links(node_routes=True, offloads=self.offloads)
        ns.run(self.bed.node, "sysctl", "-qw", "net.ipv4.ip_forward=1")

    def stop(self):
        ns.run(self.bed.node, "sysctl", "-qw", "net.ipv4.ip_forward=0", check=False)
        super().stop()


class VforwardForwarder(Forwarder):
    """configs/examples/router.click: on TAPs as it is, or on AF_PACKET rings."""

    def __init__(self, bed: Testbed, rings: bool, offload: bool = True, poll: bool = False):
        super().__init__(bed)
        self.rings = rings
        self.offload = offload
        self.poll = poll
        if rings:
            self.mode = "afpacket-tso" if offload else "afpacket"
        else:
            self.mode = "tap-poll" if poll else "tap" if offload else "tap-plain"

    def start(self):
        bed = self.bed
        ctl = os.path.join(bed.tmp, f"{self.mode}.sock")
        if self.rings:
            bed.veth_links(node_routes=False, offloads=self.offload, rps=False)
            config = os.path.join(bed.tmp, "router-rings.click")
            with open(ROUTER_CONFIG) as f:
                text = ring_variant(f.read(), self.offload)
            with open(config, "w") as f:
                f.write(text)
            defines = bed.router_defines(bed.node, bed.node1, bed.node, bed.node2, ctl)
        else:
            config = ROUTER_CONFIG
            defines = bed.router_defines(bed.src, bed.src_dev, bed.dst, bed.dst_dev, ctl)
            defines.append(f"OFFLOAD={'true' if self.offload else 'false'}")
        self._spawn([PYTHON, "-m", "vforward", "run", *(["--poll"] if self.poll else []),
                     config, *defines])
        self._wait_control(ctl)

    def _wait_control(self, ctl: str, seconds: float = 20.0) -> None:
        from vforward.control import ControlClient
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise self._failed(f"exited with status {self.proc.returncode}")
            with contextlib.suppress(OSError):
                with ControlClient(ctl, timeout=2) as c:
                    c.read("version")
                return
            time.sleep(0.05)
        raise self._failed(f"did not open its control socket in {seconds:g} s")


class NaiveForwarder(Forwarder):
    mode = "naive"

    def start(self):
        bed = self.bed
        if not os.path.exists(NAIVE_FORWARDER):
            raise BenchError(f"{NAIVE_FORWARDER} is missing: the naive mode runs from a "
                             "source tree; leave it out with --modes")
        self._spawn([PYTHON, NAIVE_FORWARDER,
                     *bed.router_defines(bed.src, bed.src_dev, bed.dst, bed.dst_dev, "")])
        deadline = time.monotonic() + 20
        while "ready" not in self.output():
            if self.proc.poll() is not None:
                raise self._failed(f"exited with status {self.proc.returncode}")
            if time.monotonic() > deadline:
                raise self._failed("did not come up in 20 s")
            time.sleep(0.05)


def make_forwarder(mode: str, bed: Testbed) -> Forwarder:
    if mode in ("kernel", "kernel-tso"):
        return KernelForwarder(bed, offloads=(mode == "kernel-tso"))
    if mode in ("tap", "tap-plain", "tap-poll", "afpacket", "afpacket-tso"):
        return VforwardForwarder(bed, rings=mode.startswith("afpacket"),
                                 offload=mode in ("tap", "tap-poll", "afpacket-tso"),
                                 poll=(mode == "tap-poll"))
    if mode == "naive":
        return NaiveForwarder(bed)
    raise BenchError(f"unknown mode {mode!r}; modes are {', '.join(MODES)}")


def ring_variant(text: str, offload: bool = False) -> str:
    """router.click with its two KernelTaps swapped for FromDevice/ToDevice pairs: with
    per-frame receive rings, or with offloads (block rings, super-frames whole)."""
    rx, tx = ("OFFLOAD true", ", OFFLOAD true") if offload else ("BLOCK_TIMEOUT 0", "")
    for i in (1, 2):
        text, n = re.subn(
            rf"^if{i} :: KernelTap\([^;]*\);$",
            f"if{i} :: {{ input -> ToDevice($DEV{i}, NETNS $NS{i}{tx}); "
            f"FromDevice($DEV{i}, NETNS $NS{i}, PROMISC true, {rx}) -> output }};",
            text, flags=re.M)
        if n != 1:
            raise BenchError(f"{ROUTER_CONFIG}: expected one line 'if{i} :: KernelTap(...);' "
                             "to swap for an AF_PACKET pair")
    return text


# -- the loads --------------------------------------------------------------------

@dataclass
class Sample:
    """One forwarder's results in one repetition (None: that load failed)."""
    mode: str
    pps: float | None = None
    offered_pps: float | None = None
    udp_mbps: float | None = None
    udp_lost_percent: float | None = None
    udp_delivered_mbps: float | None = None
    tcp_mbps: float | None = None
    rtt_ms: float | None = None
    errors: list = field(default_factory=list)


def measure_pps(bed: Testbed, conf: str, warmup: float, seconds: float) -> tuple[float, float]:
    """(packets/s dst received, packets/s trafgen offered) of the flood.  What src's
    device took or dropped for a full queue (tx packets + tx dropped) is what was offered."""
    gen = ns.popen(bed.src, *bed.pinned(GEN_CPU), "trafgen", "-o", bed.src_dev,
                   "-i", conf, "-P", "1", "-S", "256KiB", "--no-sock-mem", "--notouch-irq",
                   "--no-cpu-stats", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   start_new_session=True)
    try:
        time.sleep(warmup)
        if gen.poll() is not None:
            raise BenchError(f"trafgen exited: {gen.stderr.read().decode().strip()}")
        r0, s0, t0 = link_stats(bed.dst, bed.dst_dev), link_stats(bed.src, bed.src_dev), \
            time.monotonic()
        time.sleep(seconds)
        r1, s1, t1 = link_stats(bed.dst, bed.dst_dev), link_stats(bed.src, bed.src_dev), \
            time.monotonic()
    finally:
        _stop_group(gen)
        gen.stderr.close()
    dt = t1 - t0
    return ((r1["rx"]["packets"] - r0["rx"]["packets"]) / dt,
            (s1["tx"]["packets"] + s1["tx"]["dropped"]
             - s0["tx"]["packets"] - s0["tx"]["dropped"]) / dt)


def measure_iperf(bed: Testbed, seconds: float, udp: bool) -> dict:
    """The iperf3 server's (receiver's) JSON for one test src -> dst."""
    port = bed.next_port()
    server = ns.popen(bed.dst, *bed.pinned(GEN_CPU), "iperf3", "-s", "-1", "-J",
                      "-B", HOST2, "-p", str(port),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 5
        while not ns.run(bed.dst, "ss", "-ltnH", f"sport = :{port}", check=False).stdout.strip():
            if time.monotonic() > deadline or server.poll() is not None:
                raise BenchError(f"iperf3 server did not start: {server.stderr.read()}")
            time.sleep(0.02)
        cmd = [*bed.pinned(GEN_CPU), "iperf3", "-c", HOST2, "-p", str(port),
               "-t", f"{seconds:g}", "-J", "--connect-timeout", "3000"]
        if udp:
            cmd += ["-u", "-b", "0", "-l", str(UDP_PAYLOAD)]
        rx0 = link_stats(bed.dst, bed.dst_dev)["rx"]["bytes"]
        client = ns.run(bed.src, *cmd, check=False, timeout=seconds + 30)
        rx1 = link_stats(bed.dst, bed.dst_dev)["rx"]["bytes"]
        if client.returncode != 0:
            raise BenchError(f"iperf3 client failed: {(client.stdout + client.stderr)[-400:]}")
        out, err = server.communicate(timeout=15)
        if server.returncode != 0:
            raise BenchError(f"iperf3 server failed: {(err or out)[-400:]}")
        result = json.loads(out)
        # What the forwarder handed dst's device (Ethernet frames), whether or not the
        # iperf3 server then kept up with it.
        result["delivered_mbps"] = (rx1 - rx0) * 8 / 1e6 / seconds
        return result
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def measure_rtt(bed: Testbed, count: int) -> float:
    p = ns.run(bed.src, *bed.pinned(GEN_CPU), "ping", "-n", "-c", str(count),
               "-i", "0.05", "-W", "1", HOST2, check=False, timeout=count + 10)
    times = [float(t) for t in re.findall(r"time=([\d.]+) ms", p.stdout)]
    if not times:
        raise BenchError(f"no ping replies:\n{p.stdout}")
    return statistics.median(times)


def run_mode(bed: Testbed, mode: str, conf: str, opts) -> Sample:
    sample = Sample(mode)
    fwd = make_forwarder(mode, bed)
    try:
        fwd.start()
        bed.wait_path()
        steps = [("pps", lambda: measure_pps(bed, conf, opts.warmup, opts.seconds)),
                 ("udp", lambda: measure_iperf(bed, opts.seconds, udp=True)),
                 ("tcp", lambda: measure_iperf(bed, opts.seconds, udp=False)),
                 ("rtt", lambda: measure_rtt(bed, opts.pings))]
        for name, step in steps:
            try:
                result = step()
            except (BenchError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
                sample.errors.append(f"{name}: {e}")
                continue
            if name == "pps":
                sample.pps, sample.offered_pps = result
            elif name == "udp":
                s = result["end"].get("sum_received") or result["end"]["sum"]
                sample.udp_mbps = s["bits_per_second"] / 1e6
                sample.udp_lost_percent = s.get("lost_percent")
                sample.udp_delivered_mbps = result["delivered_mbps"]
            elif name == "tcp":
                sample.tcp_mbps = result["end"]["sum_received"]["bits_per_second"] / 1e6
            else:
                sample.rtt_ms = result
        if fwd.proc is not None and fwd.proc.poll() is not None:
            raise fwd._failed(f"died during the run (status {fwd.proc.returncode})")
    except BenchError as e:
        sample.errors.append(str(e))
    finally:
        fwd.stop()
    return sample


# -- results ---------------------------------------------------------------------

def summarize(samples: dict[str, list[Sample]]) -> dict:
    """mode -> {metric: median over repetitions (None if no run gave it)}."""
    out = {}
    for mode, runs in samples.items():
        row = {}
        for key in ("pps", "offered_pps", "udp_mbps", "udp_lost_percent", "udp_delivered_mbps",
                    "tcp_mbps", "rtt_ms"):
            values = [getattr(s, key) for s in runs if getattr(s, key) is not None]
            row[key] = statistics.median(values) if values else None
        out[mode] = row
    return out


def ratios(summary: dict) -> dict:
    """mode -> {metric: value / kernel's value} (RTT: higher is worse)."""
    base = summary.get("kernel")
    out = {}
    for mode, row in summary.items():
        out[mode] = {}
        for key, *_ in METRICS:
            v, b = row.get(key), (base or {}).get(key)
            out[mode][key] = v / b if v is not None and b else None
    return out


def check_targets(ratio: dict, summary: dict | None = None) -> list[dict]:
    results = []
    tso = (summary or {}).get("kernel-tso", {}).get("tcp_mbps")
    for mode in ("tap", "afpacket-tso"):    # offloads against offloads
        tcp = (summary or {}).get(mode, {}).get("tcp_mbps")
        if tso and tcp:
            results.append({"metric": "tcp_mbps", "mode": mode, "ratio": tcp / tso,
                            "target": ">= 0.75x kernel-tso", "met": tcp / tso >= 0.75})
    for key, modes, bound, higher in TARGETS:
        for mode in modes:
            r = ratio.get(mode, {}).get(key)
            if r is None:
                continue
            met = r >= bound if higher else r <= bound
            results.append({"metric": key, "mode": mode, "ratio": r,
                            "target": f"{'>=' if higher else '<='} {bound:g}x kernel",
                            "met": met})
    return results


def format_table(summary: dict, ratio: dict, opts) -> str:
    lines = [f"src -> node -> dst, median of {opts.repeat} run(s) of {opts.seconds:g} s; "
             f"load on CPU {GEN_CPU}, forwarder on CPU {FWD_CPU}; ratios to the kernel"]
    head = f"{'mode':<11}" + "".join(f"{title:>22}" for _, title, _, _ in METRICS)
    lines += [head, "-" * len(head)]
    for mode, row in summary.items():
        cells = []
        for key, _, scale, fmt in METRICS:
            v = row.get(key)
            r = ratio[mode].get(key)
            text = "-" if v is None else fmt.format(v * scale)
            if r is not None:
                text += f" ({r:.2f}x)"
            cells.append(f"{text:>22}")
        lines.append(f"{mode:<11}" + "".join(cells))
    for mode, row in summary.items():
        pps, offered = row.get("pps"), row.get("offered_pps")
        if pps and offered and pps >= 0.95 * offered:
            lines.append(f"note: {mode} delivered {pps / offered:.0%} of the "
                         f"{offered / 1e3:.0f} kpps "
                         "trafgen offered: the generator, not the forwarder, set its pps"
                         + (" (so ratios to it flatter the others)" if mode == "kernel" else ""))
    return "\n".join(lines)


def write_png(path: str, summary: dict, ratio: dict, opts) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BenchError("--png needs matplotlib (pip install matplotlib)") from None
    modes = list(summary)
    colors = {"kernel": "#4c72b0", "kernel-tso": "#64b5cd", "tap": "#55a868",
              "tap-plain": "#8c8c3c", "tap-poll": "#2f7d45", "afpacket": "#8172b2",
              "afpacket-tso": "#b19cd9", "naive": "#c44e52"}
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 4))
    for ax, (key, title, scale, fmt) in zip(axes, METRICS):
        values = [(summary[m].get(key) or 0) * scale for m in modes]
        bars = ax.bar(modes, values, color=[colors.get(m, "#888888") for m in modes])
        for bar, m in zip(bars, modes):
            r = ratio[m].get(key)
            if r is not None:
                ax.annotate(f"{r:.2f}x", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=9)
        ax.set_title(title + (" (lower is better)" if key == "rtt_ms" else ""), fontsize=10)
        ax.tick_params(axis="x", labelsize=9)
    fig.suptitle(f"Forwarding src -> node -> dst: median of {opts.repeat} runs "
                 f"of {opts.seconds:g} s, ratio to the kernel above each bar", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


# -- the whole run ------------------------------------------------------------------

def check_host(modes: list[str]) -> None:
    if os.geteuid() != 0:
        raise BenchError("the benchmark needs root (namespaces, TAP devices, packet sockets)")
    if (os.cpu_count() or 1) < 2:
        raise BenchError("the benchmark needs two CPUs: one for the load, one for the forwarder")
    for tool in ("trafgen", "iperf3", "ping", "taskset", "ss"):
        if shutil.which(tool) is None:
            raise BenchError(f"the benchmark needs {tool} (trafgen is in netsniff-ng, ss in "
                             "iproute2, taskset in util-linux)")
    if {"tap", "tap-plain", "tap-poll", "afpacket", "afpacket-tso"} & set(modes) and not os.path.exists(ROUTER_CONFIG):
        raise BenchError(f"{ROUTER_CONFIG} is missing: the vforward modes run it from a "
                         "source tree")


def run(opts, out=sys.stdout) -> dict:
    """Run the benchmark as opts says (modes, repeat, seconds, warmup, pings, json, png);
    print the table to out; return the results."""
    modes = list(opts.modes)
    for m in modes:
        if m not in MODES:
            raise BenchError(f"unknown mode {m!r}; modes are {', '.join(MODES)}")
    check_host(modes)
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: load average {load:.1f} before starting: other programs share the CPUs, "
              "so expect noisy numbers", file=out, flush=True)
    bed = Testbed(nice=opts.nice)
    samples: dict[str, list[Sample]] = {m: [] for m in modes}
    started = time.monotonic()
    try:
        bed.up()
        conf = os.path.join(bed.tmp, "udp64.trafgen")
        with open(conf, "w") as f:
            f.write("{ " + ", ".join(f"0x{b:02x}" for b in udp_frame()) + " }\n")
        for rep in range(opts.repeat):
            order = modes[rep % len(modes):] + modes[:rep % len(modes)]
            for mode in order:
                s = run_mode(bed, mode, conf, opts)
                samples[mode].append(s)
                print(f"run {rep + 1}/{opts.repeat} {mode:<10}"
                      f" {_fmt(s.pps, 1e-3, '{:8.0f}')} kpps"
                      f" {_fmt(s.udp_mbps, 1, '{:7.0f}')} Mbit/s UDP"
                      f" {_fmt(s.tcp_mbps, 1, '{:7.0f}')} Mbit/s TCP"
                      f" {_fmt(s.rtt_ms, 1, '{:7.3f}')} ms RTT", file=out, flush=True)
                for err in s.errors:
                    print(f"  {mode}: {err}", file=out, flush=True)
    finally:
        bed.down()
    summary = summarize(samples)
    ratio = ratios(summary)
    targets = check_targets(ratio, summary)
    print("", file=out)
    print(format_table(summary, ratio, opts), file=out)
    if targets:
        print("\ntargets:", file=out)
        for t in targets:
            print(f"  {t['mode']:<12} {t['metric']:<9} {t['ratio']:.2f}x (target {t['target']}): "
                  f"{'met' if t['met'] else 'MISSED'}", file=out)
    results = {
        "setup": {"modes": modes, "repeat": opts.repeat, "seconds": opts.seconds,
                  "warmup": opts.warmup, "pings": opts.pings, "nice": opts.nice,
                  "generator_cpu": GEN_CPU,
                  "forwarder_cpu": FWD_CPU, "frame_bytes": FRAME_SIZE + 4,
                  "udp_payload_bytes": UDP_PAYLOAD, "load_average_before": load,
                  "elapsed_s": round(time.monotonic() - started, 1)},
        "median": summary,
        "ratio_to_kernel": ratio,
        "targets": targets,
        "runs": {m: [asdict(s) for s in runs] for m, runs in samples.items()},
    }
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(results, f, indent=2)
        print(f"wrote {opts.json}", file=out)
    if opts.png:
        write_png(opts.png, summary, ratio, opts)
        print(f"wrote {opts.png}", file=out)
    return results


def _fmt(value, scale, fmt) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return fmt.format(float("nan")).replace("nan", "  -")
    return fmt.format(value * scale)


def add_arguments(p) -> None:
    p.add_argument("--modes", default=",".join(MODES),
                   type=lambda s: [m.strip() for m in s.split(",") if m.strip()],
                   help=f"comma-separated forwarders to run (default {','.join(MODES)})")
    p.add_argument("--repeat", type=int, default=3,
                   help="repetitions, interleaved across modes (default 3)")
    p.add_argument("--seconds", type=float, default=3.0,
                   help="measuring window of each load (default 3)")
    p.add_argument("--warmup", type=float, default=1.0,
                   help="seconds of flood before the pps window (default 1)")
    p.add_argument("--pings", type=int, default=20, help="echo requests for the RTT (default 20)")
    p.add_argument("--nice", type=int, default=-10,
                   help="nice level of the forwarders and load generators (default -10: "
                        "on a busy machine they still get most of their CPU, as the "
                        "kernel's softirq work does; 0 leaves them as they are)")
    p.add_argument("--json", metavar="PATH", help="write the results as JSON")
    p.add_argument("--png", metavar="PATH", help="draw a bar chart (needs matplotlib)")


def main(argv: list[str] | None = None) -> int:
    import argparse
    p = argparse.ArgumentParser(prog="bench_forward", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(p)
    opts = p.parse_args(argv)
    try:
        run(opts)
    except BenchError as e:
        print(f"bench forward: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
