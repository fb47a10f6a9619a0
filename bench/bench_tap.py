"""TAP-to-TAP forwarding rate: compiled burst I/O against per-packet forwarders.

Two namespaces, `gen` and `sink`, each hold one TAP device owned by the
forwarder under test, which bridges them (frames read from one are written
to the other).  trafgen floods 64-byte UDP frames (60 bytes plus FCS) into
gen's device from CPU 0; the forwarder runs on CPU 1; the rate is what the
sink namespace's kernel receives on its device (its rx_packets counter),
measured over a window after a warm-up, along with the CPU time the
forwarder's thread used in it.  Three forwarders, one after the other in
the same run, on fresh devices each:

  naive       a plain Python loop: epoll, then os.read/os.write per packet
  reference   vforward `a :: KernelTap -> b; b -> a` with tapio_reference
              (the same graph, per-packet os.read/os.write inside)
  compiled    the same graph with cext/tapio (burst read()/write() loops
              in C, GIL released)

    python bench/bench_tap.py [--seconds S] [--warmup S] [--rate PPS] [--repeat R] [--json out.json]

Needs root, trafgen (netsniff-ng) and two CPUs.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

from vforward import netns as ns
from vforward.catalogue import load_builtin
from vforward.cext import tapio_reference
from vforward.elements.io.tundevice import configure_device, open_device
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router

MAC_A = "02:00:00:00:99:01"
MAC_B = "02:00:00:00:99:02"
IP_A, IP_B = "10.99.0.1", "10.99.0.2"
SINK_PORT = 9
# trafgen pins its sender to CPU 0 whatever its own affinity; the forwarder gets CPU 1.
GENERATOR_CPU, FORWARDER_CPU = 0, 1


def trafgen_packet(size: int) -> str:
    """A trafgen packet: Ethernet/IPv4/UDP from gen's to sink's address, `size` bytes without FCS."""
    payload = size - 14 - 20 - 8
    mac = lambda m: ", ".join("0x" + b for b in m.split(":"))   # noqa: E731
    ip = lambda a: ", ".join(a.split("."))                      # noqa: E731
    return (f"{{ {mac(MAC_B)}, {mac(MAC_A)}, c16(0x0800), "
            f"0x45, 0x00, c16({20 + 8 + payload}), c16(0), 0x40, 0x00, 64, 17, csumip(14, 33), "
            f"{ip(IP_A)}, {ip(IP_B)}, "
            f"c16(4000), c16({SINK_PORT}), c16({8 + payload}), c16(0), fill(0x41, {payload}) }}")


def link_stats(space: str, dev: str) -> dict:
    out = ns.ip("-s", "-j", "link", "show", "dev", dev, netns=space)
    return json.loads(out)[0]["stats64"]


def thread_cpu(tid: int | None) -> tuple[float, float]:
    """(user, system) CPU seconds of one thread of this process."""
    if tid is None:
        return 0.0, 0.0
    with open(f"/proc/self/task/{tid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except ProcessLookupError:
        return False


class Testbed:
    """The two namespaces, a sink socket, and trafgen; devices come from each forwarder."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.gen, self.sink = f"vftapgen-{tag}", f"vftapsink-{tag}"
        self.dev_a, self.dev_b = f"vft{tag}a", f"vft{tag}b"
        for space in (self.gen, self.sink):
            ns.create(space)
            # No IPv6 chatter (router solicitations, MLD) on the devices.
            ns.run(space, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                   "net.ipv6.conf.default.disable_ipv6=1")
        with ns.entered(self.sink):
            # A bound UDP socket that is never read: datagrams are dropped at it,
            # and the kernel sends no port-unreachable errors back through the forwarder.
            self.sink_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.sink_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            self.sink_socket.bind(("0.0.0.0", SINK_PORT))
        self.generator = None

    def close(self):
        self.stop_generator()
        self.sink_socket.close()
        for space in (self.gen, self.sink):
            ns.delete(space)

    def config(self) -> str:
        return (f"a :: KernelTap({IP_A}/24, NETNS {self.gen}, DEVNAME {self.dev_a}, ETHER {MAC_A});"
                f"b :: KernelTap({IP_B}/24, NETNS {self.sink}, DEVNAME {self.dev_b}, ETHER {MAC_B});"
                "a -> b; b -> a;")

    def start_generator(self, size: int, rate: int | None) -> None:
        cmd = ["taskset", "-c", str(GENERATOR_CPU), "trafgen", "--dev", self.dev_a, "-P", "1",
               "--no-sock-mem", "--notouch-irq", "--no-cpu-stats", "--conf", "-"]
        if rate:
            cmd += ["-b", f"{rate}pps"]
        # trafgen forks its sender: give it a process group of its own to stop it whole.
        self._errors = tempfile.TemporaryFile("w+")
        self.generator = ns.popen(self.gen, *cmd, stdin=subprocess.PIPE, text=True,
                                  stdout=subprocess.DEVNULL, stderr=self._errors,
                                  start_new_session=True)
        self.generator.stdin.write(trafgen_packet(size))
        self.generator.stdin.close()

    def stop_generator(self) -> str:
        """Stop trafgen (and its forked sender); returns what it printed on stderr."""
        if self.generator is None:
            return ""
        pgid = self.generator.pid
        for sig, wait in ((signal.SIGINT, 3), (signal.SIGKILL, 3)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline and _group_alive(pgid):
                self.generator.poll()      # reap the leader: a zombie still counts in the group
                time.sleep(0.05)
            if not _group_alive(pgid):
                break
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.generator.wait(1)
        self.generator = None
        self._errors.seek(0)
        text = self._errors.read()
        self._errors.close()
        return text

    def measure(self, size, rate, warmup, seconds, tid) -> dict:
        """Run the generator while the forwarder (thread tid) runs; rates over the
        window after warm-up, and the forwarder's CPU use (user, system) in it."""
        self.start_generator(size, rate)
        time.sleep(warmup)
        if self.generator.poll() is not None:
            raise RuntimeError(f"trafgen exited: {self.stop_generator().strip()}")
        a0, b0, t0 = link_stats(self.gen, self.dev_a), link_stats(self.sink, self.dev_b), time.monotonic()
        c0 = thread_cpu(tid)
        time.sleep(seconds)
        c1 = thread_cpu(tid)
        a1, b1, t1 = link_stats(self.gen, self.dev_a), link_stats(self.sink, self.dev_b), time.monotonic()
        self.stop_generator()
        dt = t1 - t0
        return {
            "user": (c1[0] - c0[0]) / dt,
            "system": (c1[1] - c0[1]) / dt,
            "pps": (b1["rx"]["packets"] - b0["rx"]["packets"]) / dt,
            # Frames that gen's kernel queued for the forwarder, and those it dropped
            # because the forwarder's ring was full (trafgen retries those at once,
            # so this counts attempts, not distinct frames).
            "queued_pps": (a1["tx"]["packets"] - a0["tx"]["packets"]) / dt,
            "ring_drops_pps": (a1["tx"]["dropped"] - a0["tx"]["dropped"]) / dt,
        }


# -- the forwarders ---------------------------------------------------------------

class _Started:
    """The forwarder thread's kernel thread id, handed to the measuring thread."""
    def __init__(self):
        self._event = threading.Event()
        self.tid = None

    def set_tid(self):
        self.tid = threading.get_native_id()
        self._event.set()

    def wait_tid(self):
        self._event.wait(5)
        return self.tid


def run_naive(bed: Testbed, size, rate, warmup, seconds) -> dict:
    """The per-packet forwarder everyone writes first: epoll, os.read, os.write."""
    devs = [open_device(bed.dev_a, True, bed.gen), open_device(bed.dev_b, True, bed.sink)]
    configure_device(devs[0], int.from_bytes(socket.inet_aton(IP_A), "big"), 24,
                     ether=bytes.fromhex(MAC_A.replace(":", "")))
    configure_device(devs[1], int.from_bytes(socket.inet_aton(IP_B), "big"), 24,
                     ether=bytes.fromhex(MAC_B.replace(":", "")))
    stop = threading.Event()
    started = _Started()
    peer = {devs[0].fd: devs[1].fd, devs[1].fd: devs[0].fd}

    def forward():
        os.sched_setaffinity(0, {FORWARDER_CPU})
        started.set_tid()
        ep = select.epoll()
        for fd in peer:
            ep.register(fd, select.EPOLLIN)
        while not stop.is_set():
            for fd, _ in ep.poll(0.1):
                out = peer[fd]
                while True:
                    try:
                        frame = os.read(fd, 2048)
                    except BlockingIOError:
                        break
                    try:
                        os.write(out, frame)
                    except BlockingIOError:
                        pass
        ep.close()

    thread = threading.Thread(target=forward)
    thread.start()
    try:
        return bed.measure(size, rate, warmup, seconds, started.wait_tid())
    finally:
        stop.set()
        thread.join()
        for d in devs:
            d.close()


def run_graph(bed: Testbed, size, rate, warmup, seconds, reference: bool) -> dict:
    router = Router(build_graph(bed.config(), "<bench>"), PacketPool(8192))
    if reference:
        for name in ("a", "b"):
            router.element(name).io = tapio_reference
    router.initialize()
    started = _Started()

    def run():
        os.sched_setaffinity(0, {FORWARDER_CPU})
        started.set_tid()
        router.run()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        result = bed.measure(size, rate, warmup, seconds, started.wait_tid())
    finally:
        router.loop.call_soon_threadsafe(router.stop)
        thread.join()
        router.close()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=3.0, help="measuring window per run")
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--size", type=int, default=60, help="frame size without FCS (60 = 64-byte frames)")
    ap.add_argument("--rate", type=int, default=0,
                    help="packets/s trafgen aims at (0: as fast as it goes); it retries refused frames")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_tap needs root (namespaces and TAP devices)")
    if not shutil.which("trafgen"):
        sys.exit("bench_tap needs trafgen (netsniff-ng)")
    if os.cpu_count() < 2:
        sys.exit("bench_tap needs two CPUs: one for the generator, one for the forwarder")
    load_builtin()
    runs = {
        "naive": lambda bed: run_naive(bed, a.size, a.rate, a.warmup, a.seconds),
        "reference": lambda bed: run_graph(bed, a.size, a.rate, a.warmup, a.seconds, True),
        "compiled": lambda bed: run_graph(bed, a.size, a.rate, a.warmup, a.seconds, False),
    }
    samples = {k: [] for k in runs}
    bed = Testbed()
    try:
        for _ in range(a.repeat):
            for name, run in runs.items():
                samples[name].append(run(bed))
    finally:
        bed.close()
    rows = {}
    base = statistics.median(s["pps"] for s in samples["naive"])
    ref = statistics.median(s["pps"] for s in samples["reference"])
    print(f"{a.size + 4}-byte UDP frames, TAP -> forwarder -> TAP, forwarder on one CPU")
    print(f"{'forwarder':<12}{'kpps':>9}{'vs naive':>10}{'vs reference':>14}"
          f"{'CPU user':>10}{'CPU sys':>9}{'kpps/CPU':>10}{'ring drops':>12}")
    for name, s in samples.items():
        pps = statistics.median(x["pps"] for x in s)
        drops = statistics.median(x["ring_drops_pps"] for x in s)
        user = statistics.median(x["user"] for x in s)
        system = statistics.median(x["system"] for x in s)
        per_cpu = statistics.median(x["pps"] / max(x["user"] + x["system"], 1e-9) for x in s)
        rows[name] = {"pps": pps, "pps_per_cpu": per_cpu, "runs": s}
        print(f"{name:<12}{pps / 1e3:>9.0f}{pps / base:>9.2f}x{pps / ref:>13.2f}x"
              f"{user:>10.0%}{system:>9.0%}{per_cpu / 1e3:>10.0f}{drops / 1e3:>11.0f}k")
    print("kpps: frames/s the sink namespace received.  CPU: the forwarder thread's share of its\n"
          "CPU; kpps/CPU: kpps per CPU-second it used (what it would reach on a CPU of its own\n"
          "when other programs share that CPU).  ring drops: send attempts/s that found the\n"
          "forwarder's device queue full (trafgen retries at once).")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
