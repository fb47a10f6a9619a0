"""A Click user's AF_PACKET router, unmodified: vforward's defaults against Click userlevel.

bench/afpacket_router.click (FromDevice/ToDevice on veth, a Queue before each
ToDevice, BURST 32, no vforward-specific keyword) runs in a router namespace
between two host namespaces joined by veth pairs, offloads off on every
veth (TSO/GSO/GRO: both forwarders see MTU-sized frames; transmit
checksums too, which Click's FromDevice would forward unfilled):

  host A [a1 10.1.0.2/24] --- [r1  router namespace  r2] --- [a2 10.2.0.2/24] host B

Forwarders, run in turn and rotated from one round to the next (one run,
side by side), each pinned to CPU 1 (the loads on CPU 0):

  click        Click userlevel (--click PATH; left out when not given)
  vforward     `vforward run bench/afpacket_router.click`, the defaults
  vforward-v3  the same with BLOCK_TIMEOUT 1ms on both FromDevices: the
               block ring that was FromDevice's default before
  kernel       no router: the kernel of the router namespace forwards
               (ip_forward=1), for scale
  baseline     with --baseline TREE: `vforward run` of another checkout
               (TREE/.venv/bin/python), the same config: before and after
               a change, side by side

Loads: idle RTT p50 (ping every --interval s), 64-byte UDP packets/s
(trafgen floods host A's veth; counted at host B's), TCP Mbit/s (iperf3,
one stream, --seconds).  Ratios are to click when it ran.

    python bench/bench_afpacket_click.py [--click /path/to/userlevel/click]
                                         [--rounds N] [--realtime]
                                         [--baseline /path/to/other/checkout]

Targets (issue 11): vforward's pps and TCP >= 1.0x Click's, RTT p50 <= 1.3x.
Needs root, trafgen, iperf3, ping, ethtool, taskset.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench_ping_legs import stop as stop_process  # noqa: E402  (bench/ is the script's folder)
from vforward import netns as ns  # noqa: E402

CONFIG = os.path.join(ROOT, "bench", "afpacket_router.click")
HOST1, HOST2, IP1, IP2 = "10.1.0.2", "10.2.0.2", "10.1.0.1", "10.2.0.1"
FORWARDER_CPU, LOAD_CPU = "1", "0"
FORWARDERS = ("click", "vforward", "vforward-v3", "kernel")
REALTIME: list[str] = []


def _mac(space: str, dev: str) -> str:
    return ns.run(space, "cat", f"/sys/class/net/{dev}/address").stdout.strip()


def _rx_packets(space: str, dev: str) -> int:
    return int(ns.run(space, "cat", f"/sys/class/net/{dev}/statistics/rx_packets").stdout)


class Bed:
    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.a, self.r, self.b = f"vfcka{tag}", f"vfckr{tag}", f"vfckb{tag}"
        self.a1, self.r1, self.r2, self.a2 = (f"ck{x}{tag}" for x in ("a1", "r1", "r2", "a2"))
        self.tmp = tempfile.mkdtemp(prefix="vfclick")

    def up(self):
        for space in (self.a, self.r, self.b):
            ns.create(space)
        ns.veth_pair(self.a1, self.a, self.r1, self.r)
        ns.veth_pair(self.r2, self.r, self.a2, self.b)
        for space, dev in ((self.a, self.a1), (self.r, self.r1), (self.r, self.r2),
                           (self.b, self.a2)):
            ns.run(space, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro", "off",
                   "tx", "off")
        self.eth1, self.eth2 = _mac(self.r, self.r1), _mac(self.r, self.r2)
        for space, dev, addr, gw in ((self.a, self.a1, HOST1, IP1), (self.b, self.a2, HOST2, IP2)):
            ns.ip("addr", "add", f"{addr}/24", "dev", dev, netns=space)
            ns.ip("route", "add", "default", "via", gw, netns=space)
        frame = self._udp64(bytes.fromhex(self.eth1.replace(":", "")),
                            bytes.fromhex(_mac(self.a, self.a1).replace(":", "")))
        self.trafgen_conf = os.path.join(self.tmp, "udp64.trafgen")
        with open(self.trafgen_conf, "w") as f:
            f.write("{ " + ", ".join(f"0x{b:02x}" for b in frame) + " }\n")
        # A bound, never-read socket in host B eats the flood quietly.
        self.sink = ns.popen(self.b, sys.executable, "-c",
                             "import socket,time; s=socket.socket(socket.AF_INET,"
                             "socket.SOCK_DGRAM); s.bind(('0.0.0.0', 9)); time.sleep(1e6)")

    @staticmethod
    def _udp64(dst: bytes, src: bytes) -> bytes:
        payload = bytes(18)
        udp = struct.pack("!HHHH", 9, 9, 8 + len(payload), 0) + payload
        ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                                   bytes(map(int, HOST1.split("."))),
                                   bytes(map(int, HOST2.split(".")))))
        s = sum(struct.unpack("!10H", bytes(ip)))
        s = (s & 0xFFFF) + (s >> 16)
        s = (s & 0xFFFF) + (s >> 16)
        ip[10:12] = struct.pack("!H", ~s & 0xFFFF)
        return dst + src + b"\x08\x00" + bytes(ip) + udp

    def down(self):
        self.sink.kill()
        self.sink.wait()
        for space in (self.a, self.r, self.b):
            ns.delete(space)

    def defines(self) -> list[str]:
        return [f"DEV1={self.r1}", f"DEV2={self.r2}", f"ETH1={self.eth1}", f"ETH2={self.eth2}"]


def start(bed: Bed, name: str, click: str | None, baseline: str | None = None):
    pin = ["taskset", "-c", FORWARDER_CPU, *REALTIME]
    if name == "kernel":
        ns.run(bed.r, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for dev, addr in ((bed.r1, IP1), (bed.r2, IP2)):
            ns.ip("addr", "add", f"{addr}/24", "dev", dev, netns=bed.r)
        return None
    if name == "click":
        cmd = [click, CONFIG, *bed.defines()]
    else:
        conf = CONFIG
        if name == "vforward-v3":
            conf = os.path.join(bed.tmp, "v3.click")
            with open(CONFIG) as f:
                text = f.read().replace("BURST 32) -> c", "BURST 32, BLOCK_TIMEOUT 1ms) -> c")
            with open(conf, "w") as f:
                f.write(text)
        python = (os.path.join(baseline, ".venv", "bin", "python") if name == "baseline"
                  else sys.executable)
        cmd = [python, "-m", "vforward", "run", "-q", conf, *bed.defines()]
    proc = ns.popen(bed.r, *pin, *cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                    text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:        # up once host A reaches host B through it
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited: {proc.stderr.read()[-600:]}")
        if ns.run(bed.a, "ping", "-c", "1", "-W", "0.5", HOST2, check=False).returncode == 0:
            return proc
    raise RuntimeError(f"{name}: host B unreachable through it")


def stop(bed: Bed, name: str, proc) -> None:
    if name == "kernel":
        ns.run(bed.r, "sysctl", "-qw", "net.ipv4.ip_forward=0")
        for dev in (bed.r1, bed.r2):
            ns.ip("addr", "flush", "dev", dev, netns=bed.r)
        return
    stop_process(proc)


def measure(bed: Bed, name: str, opts) -> dict:
    proc = start(bed, name, opts.click, opts.baseline)
    load = ["taskset", "-c", LOAD_CPU]
    out = {"rtt_us": None, "pps": None, "tcp_mbps": None}
    try:
        p = ns.run(bed.a, *load, *REALTIME, "ping", "-n", "-c", str(opts.count), "-i",
                   str(opts.interval), HOST2, check=False, timeout=opts.count * opts.interval + 30)
        rtts = [float(t) * 1000 for t in re.findall(r"time=([\d.]+) ms", p.stdout)]
        out["rtt_us"] = statistics.median(rtts) if rtts else None
        gen = ns.popen(bed.a, *load, *REALTIME, "trafgen", "-o", bed.a1, "-i", bed.trafgen_conf, "-P", "1",
                       "-q", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       start_new_session=True)
        try:
            time.sleep(1.0)
            r0, t0 = _rx_packets(bed.b, bed.a2), time.monotonic()
            time.sleep(opts.seconds)
            r1, t1 = _rx_packets(bed.b, bed.a2), time.monotonic()
        finally:
            os.killpg(gen.pid, signal.SIGINT)
            gen.wait()
        out["pps"] = (r1 - r0) / (t1 - t0)
        time.sleep(0.5)
        server = ns.popen(bed.b, *load, "iperf3", "-s", "-1", "-J", "-B", HOST2,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        time.sleep(0.5)
        try:
            ns.run(bed.a, *load, "iperf3", "-c", HOST2, "-t", f"{opts.seconds:g}", "-J",
                   "--connect-timeout", "3000", check=False, timeout=opts.seconds + 15)
            res = json.loads(server.communicate(timeout=15)[0])
            out["tcp_mbps"] = res["end"]["sum_received"]["bits_per_second"] / 1e6
        except (ValueError, KeyError, subprocess.TimeoutExpired):
            server.kill()
            server.communicate()
            print(f"  {name}: the TCP test failed", flush=True)
    finally:
        stop(bed, name, proc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--click", help="path of Click userlevel's click binary")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--count", type=int, default=20, help="echo requests per run")
    ap.add_argument("--interval", type=float, default=0.2)
    ap.add_argument("--seconds", type=float, default=3.0, help="pps window and TCP test")
    ap.add_argument("--forwarders", default=",".join(FORWARDERS))
    ap.add_argument("--baseline", metavar="TREE",
                    help="also run another checkout's vforward (TREE/.venv) as 'baseline'")
    ap.add_argument("--realtime", action="store_true",
                    help="run the forwarders, ping and the traffic generator at SCHED_FIFO "
                         "priority 1 (on a loaded machine the generator, not the "
                         "forwarder, is otherwise what limits the packets/s)")
    opts = ap.parse_args()
    if opts.realtime:
        REALTIME[:] = ["chrt", "-f", "1"]
    names = [n for n in opts.forwarders.split(",") if n != "click" or opts.click]
    if opts.baseline and "baseline" not in names:
        names.append("baseline")
    runs = {n: [] for n in names}
    bed = Bed()
    try:
        bed.up()
        print(f"load average {os.getloadavg()[0]:.1f} at start"
              + (", real-time priority" if opts.realtime else ""), flush=True)
        for rnd in range(opts.rounds):
            for name in names[rnd % len(names):] + names[:rnd % len(names)]:
                r = measure(bed, name, opts)
                runs[name].append(r)
                print(f"round {rnd + 1} {name:<12} RTT {r['rtt_us'] or 0:6.0f} us "
                      f"{(r['pps'] or 0) / 1e3:6.0f} kpps {r['tcp_mbps'] or 0:7.0f} Mbit/s TCP",
                      flush=True)
    finally:
        bed.down()

    def med(name, key):
        vals = [r[key] for r in runs.get(name, []) if r[key] is not None]
        return statistics.median(vals) if vals else None
    base = "click" if "click" in names else None
    print(f"\nmedians over {opts.rounds} rounds")
    print(f"{'forwarder':<13}{'RTT p50 us':>11}{'kpps':>7}{'TCP Mbit/s':>11}"
          f"{'RTT/click':>10}{'pps/click':>10}{'TCP/click':>10}")
    for name in names:
        cells = []
        for key in ("rtt_us", "pps", "tcp_mbps"):
            v, b = med(name, key), med(base, key) if base else None
            cells.append(f"{v / b:.2f}" if v and b else "-")
        print(f"{name:<13}{med(name, 'rtt_us') or 0:>11.0f}{(med(name, 'pps') or 0) / 1e3:>7.0f}"
              f"{med(name, 'tcp_mbps') or 0:>11.0f}" + "".join(f"{c:>10}" for c in cells))
    print("targets: vforward pps and TCP >= 1.0x click, RTT <= 1.3x click")


if __name__ == "__main__":
    main()
