"""Each mode's forwarder: the node's kernel, vforward on TAPs or AF_PACKET rings,
or the naive per-packet router; started and stopped on a Testbed."""
from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

from vforward import bundled
from vforward import netns as ns
from vforward.bench.forward.testbed import FWD_CPU, BenchError, Testbed

MODES = ("kernel", "kernel-tso", "tap", "tap-plain", "tap-poll", "afpacket", "afpacket-tso",
         "naive")
PYTHON = sys.executable
ROUTER_CONFIG = bundled.example("router.click")
NAIVE_FORWARDER = "vforward.bench.naive_forwarder"     # run as python -m


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
        self._spawn([PYTHON, "-m", NAIVE_FORWARDER,
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
