"""The bench's testbed: src, node and dst namespaces and the links of each mode."""
from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

from vforward import netns as ns
from vforward.bench.forward.ethtool import offloads_off

GEN_CPU, FWD_CPU = 0, 1

# The defaults of configs/examples/router.click (and of vforward/bench/naive_forwarder.py).
HOST1, IP1, LEN1, HOST_ETH1, ETH1 = "10.1.0.2", "10.1.0.1", 24, "02:00:0a:01:00:02", \
    "02:00:0a:01:00:01"
HOST2, IP2, LEN2, HOST_ETH2, ETH2 = "10.2.0.2", "10.2.0.1", 24, "02:00:0a:02:00:02", \
    "02:00:0a:02:00:01"
SINK_PORT = 9
FRAME_SIZE = 60          # without the FCS: 64-byte frames on the wire
UDP_PAYLOAD = 1400


class BenchError(RuntimeError):
    """The benchmark cannot run or a forwarder failed; the message says which and why."""


def link_stats(space: str, dev: str) -> dict:
    return json.loads(ns.ip("-s", "-j", "link", "show", "dev", dev, netns=space))[0]["stats64"]


def stop_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
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
                try:
                    offloads_off(space, dev)
                except OSError as e:
                    raise BenchError(f"cannot turn offloads off on {dev} in {space}: "
                                     f"{e.strerror}") from None
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
