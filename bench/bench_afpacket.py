"""Forwarding 64-byte UDP frames ns1 -> nsR -> ns2: kernel vs vforward's AF_PACKET rings.

    sudo .venv/bin/python bench/bench_afpacket.py [--runs 5] [--seconds 3]

Three namespaces joined by veth pairs, a1 [ns1] -- r1 [nsR] r2 -- a2 [ns2].
trafgen (netsniff-ng) in ns1, pinned to one core, sends 60-byte frames
(64 on the wire with the FCS) of UDP 10.1.0.1 -> 10.2.0.99 as fast as it can,
addressed to r1's MAC.  What nsR forwards is counted at a2 (its rx_packets)
over a fixed window.  Three forwarders take turns, interleaved, on the same
traffic:

  kernel     nsR routes (ip_forward=1, static neighbour for 10.2.0.99 at a2)
  ring       vforward in nsR: FromDevice(r1) -> ToDevice(r2), TPACKET_V3 RX
             ring and TPACKET_V2 TX ring, compiled walkers
  reference  the same config with RING false: one recvmsg and one send per
             packet on plain packet sockets (cext/afpacket_reference.py)

The router's core is the other core: vforward is pinned to it, and RPS on
r1 steers nsR's receive processing (the kernel's forwarding, or the copy
into the packet socket) to it too, so each forwarder gets one core for all
of nsR's work and the generator has the other.  vforward copies Ethernet
frames unchanged (no IP processing), so its numbers are the I/O path's
ceiling; the kernel does full IPv4 forwarding.  a2 drops what it receives
(10.2.0.99 is not its address) so nothing comes back.

Prints the median packets/s of each forwarder, the offered load, and the
ratios to the kernel.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from vforward import netns as ns  # noqa: E402

PYTHON = sys.executable
GEN_CPU, ROUTER_CPU = 0, 1


def sh(netns_name: str, *cmd: str) -> str:
    return ns.run(netns_name, *cmd).stdout


def sysctl(netns_name: str, key: str, value) -> None:
    sh(netns_name, "sysctl", "-qw", f"{key}={value}")


def mac_of(netns_name: str, dev: str) -> str:
    return json.loads(ns.ip("-j", "link", "show", dev, netns=netns_name))[0]["address"]


def rx_packets(netns_name: str, dev: str) -> int:
    out = ns.ip("-s", "-j", "link", "show", dev, netns=netns_name)
    return json.loads(out)[0]["stats64"]["rx"]["packets"]


def tx_packets(netns_name: str, dev: str) -> int:
    out = ns.ip("-s", "-j", "link", "show", dev, netns=netns_name)
    return json.loads(out)[0]["stats64"]["tx"]["packets"]


def ip_checksum(header: bytes) -> int:
    s = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, len(header), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def udp_frame(dst_mac: str, src_mac: str) -> bytes:
    """60 bytes: Ethernet, IPv4 10.1.0.1 -> 10.2.0.99 (TTL 64), UDP 9 -> 9, 18 bytes of zeros."""
    payload = bytes(18)
    udp = (9).to_bytes(2, "big") + (9).to_bytes(2, "big") + (8 + len(payload)).to_bytes(2, "big") \
        + b"\0\0" + payload
    ip = bytearray(b"\x45\x00" + (20 + len(udp)).to_bytes(2, "big") + b"\0\0\0\0\x40\x11\0\0"
                   + bytes([10, 1, 0, 1]) + bytes([10, 2, 0, 99]))
    ip[10:12] = ip_checksum(bytes(ip)).to_bytes(2, "big")
    eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", "")) \
        + b"\x08\x00"
    return eth + bytes(ip) + udp


class Testbed:
    def __init__(self, rps: bool = True):
        self.rps = rps
        tag = uuid.uuid4().hex[:6]
        self.ns1, self.nsr, self.ns2 = f"vfb1-{tag}", f"vfbr-{tag}", f"vfb2-{tag}"
        self.a1, self.r1, self.r2, self.a2 = (f"{p}{tag}" for p in ("a1", "r1", "r2", "a2"))
        self.made = []

    def up(self):
        for n in (self.ns1, self.nsr, self.ns2):
            ns.create(n)
            self.made.append(n)
            sysctl(n, "net.ipv6.conf.all.disable_ipv6", 1)
            sysctl(n, "net.ipv6.conf.default.disable_ipv6", 1)
        ns.veth_pair(self.a1, self.ns1, self.r1, self.nsr)
        ns.veth_pair(self.r2, self.nsr, self.a2, self.ns2)
        ns.ip("addr", "add", "10.1.0.1/24", "dev", self.a1, netns=self.ns1)
        ns.ip("addr", "add", "10.1.0.254/24", "dev", self.r1, netns=self.nsr)
        ns.ip("addr", "add", "10.2.0.254/24", "dev", self.r2, netns=self.nsr)
        ns.ip("addr", "add", "10.2.0.1/24", "dev", self.a2, netns=self.ns2)
        ns.ip("neigh", "replace", "10.2.0.99", "lladdr", mac_of(self.ns2, self.a2),
              "dev", self.r2, "nud", "permanent", netns=self.nsr)
        if self.rps:
            # RPS: nsR's receive work on r1 runs on the router's core.
            sh(self.nsr, "sh", "-c", f"echo {1 << ROUTER_CPU:x} > "
                                     f"/sys/class/net/{self.r1}/queues/rx-0/rps_cpus")
        self.frame = udp_frame(mac_of(self.nsr, self.r1), mac_of(self.ns1, self.a1))

    def down(self):
        for n in self.made:
            ns.delete(n)

    def trafgen_config(self, path: str) -> None:
        with open(path, "w") as f:
            f.write("{ " + ", ".join(f"0x{b:02x}" for b in self.frame) + " }\n")


def start_router(tb: Testbed, ring: bool) -> subprocess.Popen:
    opt = "" if ring else ", RING false"
    config = (f"f1 :: FromDevice({tb.r1}{opt}) -> t2 :: ToDevice({tb.r2}{opt});")
    p = ns.popen(tb.nsr, "taskset", "-c", str(ROUTER_CPU), PYTHON, "-m", "vforward", "run",
                 "-e", config, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # Ready when both packet sockets exist in nsR.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        lines = sh(tb.nsr, "cat", "/proc/net/packet").splitlines()[1:]
        if len(lines) >= 2:
            return p
        if p.poll() is not None:
            raise RuntimeError(f"router failed to start: {p.stderr.read()}")
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("router did not open its sockets in 20 s")


def stop_router(p: subprocess.Popen) -> str:
    p.send_signal(signal.SIGTERM)
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    return err


def measure(tb: Testbed, mode: str, conf: str, seconds: float) -> tuple[float, float, str]:
    """(forwarded packets/s, offered packets/s, router summary) for one run."""
    sysctl(tb.nsr, "net.ipv4.ip_forward", 1 if mode == "kernel" else 0)
    router = start_router(tb, ring=(mode == "ring")) if mode != "kernel" else None
    gen = ns.popen(tb.ns1, "taskset", "-c", str(GEN_CPU), "trafgen", "-o", tb.a1, "-i", conf,
                   "-P", "1", "-S", "256KiB", "--no-sock-mem", "--notouch-irq", "--no-cpu-stats",
                   stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE, start_new_session=True)
    summary = ""
    try:
        time.sleep(0.7)   # warm up: rings fill, caches settle
        if gen.poll() is not None:
            raise RuntimeError(f"trafgen exited: {gen.stderr.read().decode()}")
        c0, s0, t0 = rx_packets(tb.ns2, tb.a2), tx_packets(tb.ns1, tb.a1), time.monotonic()
        time.sleep(seconds)
        c1, s1, t1 = rx_packets(tb.ns2, tb.a2), tx_packets(tb.ns1, tb.a1), time.monotonic()
    finally:
        # trafgen forks its workers: stop its whole process group (its own session).
        os.killpg(gen.pid, signal.SIGINT)
        try:
            gen.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(gen.pid, signal.SIGKILL)
            gen.wait()
        if router is not None:
            summary = stop_router(router)
    return (c1 - c0) / (t1 - t0), (s1 - s0) / (t1 - t0), summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="interleaved runs per forwarder")
    ap.add_argument("--seconds", type=float, default=3.0, help="measurement window per run")
    ap.add_argument("--no-rps", action="store_true",
                    help="leave nsR's receive work on the generator's core")
    args = ap.parse_args()
    if os.geteuid() != 0:
        print("bench_afpacket: needs root (namespaces, packet sockets)", file=sys.stderr)
        return 1
    if (os.cpu_count() or 1) < 2:
        print("bench_afpacket: needs two cores (generator and router)", file=sys.stderr)
        return 1
    load = os.getloadavg()[0]
    if load > 1.0:
        print(f"note: load average {load:.1f} before starting: other work shares the two cores, "
              "so expect noisy numbers", flush=True)
    modes = ["kernel", "ring", "reference"]
    rates = {m: [] for m in modes}
    offered = {m: [] for m in modes}
    tb = Testbed(rps=not args.no_rps)
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "udp64.cfg")
        try:
            tb.up()
            tb.trafgen_config(conf)
            for run in range(args.runs):
                for mode in (modes if run % 2 == 0 else modes[::-1]):
                    fwd, off, summary = measure(tb, mode, conf, args.seconds)
                    rates[mode].append(fwd)
                    offered[mode].append(off)
                    print(f"run {run + 1}/{args.runs} {mode:<9} {fwd / 1e3:9.1f} kpps forwarded "
                          f"of {off / 1e3:9.1f} kpps offered", flush=True)
                    if summary and run == 0:
                        print("  " + " ".join(line.strip() for line in summary.splitlines()
                                              if "." in line), flush=True)
        finally:
            tb.down()
    kernel = statistics.median(rates["kernel"])
    print(f"\n64-byte UDP, ns1 -> nsR -> ns2 over veth; generator on CPU {GEN_CPU}, nsR on "
          f"CPU {ROUTER_CPU}; median of {args.runs} runs of {args.seconds:g} s")
    print(f"{'forwarder':<11}{'kpps':>10}{'offered kpps':>15}{'vs kernel':>11}")
    for m in modes:
        med = statistics.median(rates[m])
        print(f"{m:<11}{med / 1e3:10.1f}{statistics.median(offered[m]) / 1e3:15.1f}"
              f"{med / kernel:10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
