"""Where an idle hop's time goes: router.click against a C poll()+read()+write() loop.

Two host namespaces and a forwarder between their TAP devices (the
forwarder on CPU 1; ping, trafgen and tcpdump on CPU 0), as in `vforward
bench forward`'s tap mode, with no offloads (OFFLOAD=false: every frame
MTU-sized, as the C loop sees them).  Forwarders, run in turn and rotated
from one round to the next (one run, side by side):

  c-loop        bench/tap_loop.c, compiled here with gcc -O2: poll() on the
                two TAP fds, read() each frame, answer ARP, TTL and
                Ethernet rewrite, write() (the floor a router is held to)
  vforward      `vforward run configs/examples/router.click OFFLOAD=false`
  vforward-poll the same with --poll (one CPU at 100%)
  vforward-spin the same with --poll-budget 50us (adaptive polling: spin up
                to 50 µs after device work before sleeping)

For each: idle RTT (ping every --interval s, p50), the request and reply
legs apart (tcpdump on both hosts' TAPs stamps each echo as it leaves one
host and reaches the other), and 64-byte UDP packets/s (trafgen floods
src's TAP; counted at dst's TAP).  Ratios are to c-loop.

With --realtime, every forwarder and ping run at real-time priority
(chrt -f 1): on a machine busy with other programs a sleeping process
otherwise waits milliseconds for a CPU at times, and the RTT measures that.

With --legs FORWARDER (repeatable), that vforward's legs are cut finer: the router runs in this
script's child process with stamps (CLOCK_REALTIME, as tcpdump's) taken
when the TAP's reader is called (wake-up: from the host's transmit to
the callback), when its read returns (TAP read), when the frame reaches
the other TAP's write (graph) and when that write returns (sink write).

    python bench/bench_ping_legs.py [--rounds N] [--count N] [--interval S]
                                    [--forwarders c-loop,vforward,...]
                                    [--legs vforward] [--legs vforward-spin] [--realtime]
                                    [--old-tree DIR]

--old-tree DIR adds forwarder vforward-old: router.click run by DIR's own
vforward (DIR/.venv), to compare two trees in one run.

Needs root, gcc, tcpdump, trafgen, ping, taskset.
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

from vforward import netns as ns  # noqa: E402

CONFIG = os.path.join(ROOT, "configs", "examples", "router.click")
TAP_LOOP_C = os.path.join(ROOT, "bench", "tap_loop.c")
# router.click's defaults, which the C loop is given too.
IP1, IP2, HOST1, HOST2 = "10.1.0.1", "10.2.0.1", "10.1.0.2", "10.2.0.2"
ETH1, ETH2 = "02:00:0a:01:00:01", "02:00:0a:02:00:01"
HOST_ETH1, HOST_ETH2 = "02:00:0a:01:00:02", "02:00:0a:02:00:02"
FORWARDER_CPU, LOAD_CPU = "1", "0"
FORWARDERS = ("c-loop", "vforward", "vforward-poll", "vforward-spin")
EXTRA_ARGS = {"vforward-poll": ["--poll"], "vforward-spin": ["--poll-budget", "50us"]}
REALTIME: list[str] = []      # ["chrt", "-f", "1"] with --realtime
OLD_TREE: list[str] = []      # [source tree] with --old-tree: forwarder vforward-old runs it
_LINE = re.compile(r"^(\d+\.\d+) IP .*ICMP echo (request|reply), id \d+, seq (\d+)")


def _stamps(text: str) -> dict:
    """(kind, seq) -> capture time, from `tcpdump -tt` output."""
    out = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m:
            out[(m.group(2), int(m.group(3)))] = float(m.group(1))
    return out


def _udp64_frame() -> bytes:
    """60 bytes: Ethernet to the router's MAC, IPv4 10.1.0.2 -> 10.2.0.2, UDP to port 9."""
    payload = bytes(18)
    udp = struct.pack("!HHHH", 9, 9, 8 + len(payload), 0) + payload
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                               bytes(map(int, HOST1.split("."))), bytes(map(int, HOST2.split(".")))))
    s = sum(struct.unpack("!10H", bytes(ip)))
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    ip[10:12] = struct.pack("!H", ~s & 0xFFFF)
    eth = bytes.fromhex(ETH1.replace(":", "")) + bytes.fromhex(HOST_ETH1.replace(":", "")) + \
        b"\x08\x00"
    return eth + bytes(ip) + udp


def _rx_packets(space: str, dev: str) -> int:
    return int(ns.run(space, "cat", f"/sys/class/net/{dev}/statistics/rx_packets").stdout)


class Bed:
    """Two host namespaces (their TAPs come with each forwarder)."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.a, self.b = f"vflga{tag}", f"vflgb{tag}"
        self.dev_a, self.dev_b = f"lga{tag}", f"lgb{tag}"
        self.tmp = tempfile.mkdtemp(prefix="vflegs")
        self.trafgen_conf = os.path.join(self.tmp, "udp64.trafgen")
        with open(self.trafgen_conf, "w") as f:
            f.write("{ " + ", ".join(f"0x{b:02x}" for b in _udp64_frame()) + " }\n")
        self.tap_loop = os.path.join(self.tmp, "tap_loop")

    def up(self):
        subprocess.run(["gcc", "-O2", "-o", self.tap_loop, TAP_LOOP_C], check=True)
        for space in (self.a, self.b):
            ns.create(space)

    def down(self):
        for space in (self.a, self.b):
            ns.delete(space)

    def defines(self) -> list[str]:
        return [f"NS1={self.a}", f"NS2={self.b}", f"DEV1={self.dev_a}", f"DEV2={self.dev_b}"]


def start_forwarder(bed: Bed, name: str, run_args: list[str], stamp_file: str | None):
    """Start one forwarder on FORWARDER_CPU; return its process once both TAPs are up."""
    pin = ["taskset", "-c", FORWARDER_CPU] + REALTIME
    if name == "c-loop":
        from vforward.elements.io.tundevice import configure_device, open_device
        import ipaddress
        devs = []
        try:
            for space, dev, host, mac, gw in ((bed.a, bed.dev_a, HOST1, HOST_ETH1, IP1),
                                              (bed.b, bed.dev_b, HOST2, HOST_ETH2, IP2)):
                d = open_device(dev, True, space)
                devs.append(d)
                configure_device(d, int(ipaddress.IPv4Address(host)), 24, 1500,
                                 bytes.fromhex(mac.replace(":", "")),
                                 int(ipaddress.IPv4Address(gw)))
            fds = [d.fd for d in devs]
            proc = subprocess.Popen([*pin, bed.tap_loop, str(fds[0]), str(fds[1]), IP1, IP2,
                                     ETH1, ETH2, HOST_ETH1, HOST_ETH2], pass_fds=fds,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        finally:
            for d in devs:
                d.close()      # the child holds them now
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("tap_loop did not start")
        return proc
    ctl = os.path.join(bed.tmp, f"{name}.sock")
    if stamp_file:
        cmd = [sys.executable, os.path.abspath(__file__), "--router-child", stamp_file, *run_args]
    else:
        python = sys.executable
        if name == "vforward-old":      # the same config, run by another tree's vforward
            python = os.path.join(OLD_TREE[0], ".venv", "bin", "python")
        cmd = [python, "-m", "vforward", "run", "-q", *run_args, CONFIG]
    proc = subprocess.Popen([*pin, *cmd, *bed.defines(), f"CTL={ctl}", "OFFLOAD=false"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=OLD_TREE[0] if name == "vforward-old" else None)
    deadline = time.monotonic() + 30
    while not os.path.exists(ctl):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not come up: {proc.stderr.read()[-800:]}")
        time.sleep(0.05)
    return proc


def stop(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def measure(bed: Bed, name: str, run_args: list[str], opts, stamp_file=None) -> dict:
    """RTT p50, request/reply legs, pps of one forwarder (and the tcpdump stamps)."""
    proc = start_forwarder(bed, name, run_args, stamp_file)
    load = ["taskset", "-c", LOAD_CPU]
    try:
        ns.run(bed.a, "ping", "-c", "3", "-i", "0.2", "-W", "2", HOST2, check=False)  # ARP
        dumps = [ns.popen(space, *load, "tcpdump", "-i", dev, "-nn", "-tt",
                          "--time-stamp-precision=micro", "-l", "icmp",
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                 for space, dev in ((bed.a, bed.dev_a), (bed.b, bed.dev_b))]
        time.sleep(1.0)                                     # tcpdump is listening
        p = ns.run(bed.a, *load, *REALTIME, "ping", "-n", "-c", str(opts.count), "-i", str(opts.interval),
                   HOST2, check=False, timeout=opts.count * opts.interval + 30)
        rtts = [float(t) * 1000 for t in re.findall(r"time=([\d.]+) ms", p.stdout)]
        time.sleep(0.3)
        texts = []
        for d in dumps:
            d.terminate()
            texts.append(d.communicate(timeout=10)[0])
        at_a, at_b = _stamps(texts[0]), _stamps(texts[1])
        request = [(at_b[k] - at_a[k]) * 1e6 for k in at_a if k[0] == "request" and k in at_b]
        reply = [(at_a[k] - at_b[k]) * 1e6 for k in at_a if k[0] == "reply" and k in at_b]
        pps = None
        if opts.seconds > 0 and not stamp_file:
            gen = ns.popen(bed.a, *load, "trafgen", "-o", bed.dev_a, "-i", bed.trafgen_conf,
                           "-P", "1", "-q", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
            try:
                time.sleep(1.0)
                r0, t0 = _rx_packets(bed.b, bed.dev_b), time.monotonic()
                time.sleep(opts.seconds)
                r1, t1 = _rx_packets(bed.b, bed.dev_b), time.monotonic()
            finally:
                os.killpg(gen.pid, signal.SIGINT)
                try:
                    gen.wait(5)
                except subprocess.TimeoutExpired:
                    os.killpg(gen.pid, signal.SIGKILL)
                    gen.wait()
            pps = (r1 - r0) / (t1 - t0)
    finally:
        stop(proc)
    return {"rtt_us": statistics.median(rtts) if rtts else None,
            "request_us": statistics.median(request) if request else None,
            "reply_us": statistics.median(reply) if reply else None,
            "pps": pps, "at_a": at_a, "at_b": at_b}


# -- the instrumented router (--legs) ---------------------------------------------------

def router_child(stamp_file: str, words: list[str]) -> None:
    """Run router.click with stamps on each TAP read and write; dump them at exit."""
    from vforward.elements.io.kerneltun import KernelTun
    from vforward.graph import build_graph
    from vforward.runtime import Router
    now = time.time_ns
    events = []     # [tap, called, read returned, frames, write started, write returned, out tap]
    from vforward.busypoll import parse_budget
    poll = "--poll" in words
    budget = parse_budget(words[words.index("--poll-budget") + 1]) \
        if "--poll-budget" in words else (0.0, 0.0)
    defines = dict(w.split("=", 1) for w in words if "=" in w and not w.startswith("-"))
    with open(CONFIG) as f:
        router = Router(build_graph(f.read(), CONFIG, defines), poll=poll, poll_budget=budget)
    taps = [e for e in router.elements.values() if isinstance(e, KernelTun)]
    current = [None]

    def stamped(inner, tap):
        def on_readable():
            ev = [tap.name, now(), 0, 0, 0, 0, ""]
            current[0] = ev
            inner()
            current[0] = None
            if ev[3]:
                events.append(ev)
        return on_readable

    def stamped_read(read):
        def read_burst(fd, pool, n):
            idx = read(fd, pool, n)
            ev = current[0]
            if ev is not None and len(idx):
                ev[2], ev[3] = now(), len(idx)
            return idx
        return read_burst

    def wrap_reader(tap):
        # The device's reader is made in initialize, from its read function.
        make = tap._reader

        def reader():
            tap._read_burst = stamped_read(tap._read_burst)
            return stamped(make(), tap)
        tap._reader = reader

    for tap in taps:
        wrap_reader(tap)
    router.initialize()
    for tap in taps:

        class _Io:
            def __init__(self, io, name):
                self._io, self._name = io, name

            def __getattr__(self, attr):
                return getattr(self._io, attr)

            def write_burst(self, fd, pool, idx):
                ev = current[0]
                t = now()
                out = self._io.write_burst(fd, pool, idx)
                if ev is not None and not ev[4]:
                    ev[4], ev[5], ev[6] = t, now(), self._name
                return out
        tap._writer.io = _Io(tap._writer.io, tap.name)
    try:
        router.run()
    finally:
        with open(stamp_file, "w") as f:
            json.dump(events, f)


def legs_table(result: dict, stamp_file: str) -> dict:
    """Median µs of each leg of the request (if1 -> if2) and the reply (if2 -> if1)."""
    with open(stamp_file) as f:
        events = json.load(f)
    legs = {}
    for kind, src, dst, start_at, end_at in (("request", "if1", "if2", result["at_a"], result["at_b"]),
                                             ("reply", "if2", "if1", result["at_b"], result["at_a"])):
        rows = []
        for key, t_host in start_at.items():
            if key[0] != kind or key not in end_at:
                continue
            t0 = int(t_host * 1e9)
            ev = next((e for e in events if e[0] == src and e[6] == dst and
                       0 <= e[1] - t0 < 20_000_000), None)
            if ev is None:
                continue
            rows.append({"wake-up": (ev[1] - t0) / 1e3, "TAP read": (ev[2] - ev[1]) / 1e3,
                         "graph": (ev[4] - ev[2]) / 1e3, "sink write": (ev[5] - ev[4]) / 1e3,
                         "write to host": (end_at[key] * 1e9 - ev[4]) / 1e3,
                         "host to host": (end_at[key] - t_host) * 1e6})
        legs[kind] = {k: statistics.median(r[k] for r in rows) for k in rows[0]} if rows else {}
    return legs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=3, help="rounds over all forwarders")
    ap.add_argument("--count", type=int, default=30, help="echo requests per run")
    ap.add_argument("--interval", type=float, default=0.2, help="seconds between them")
    ap.add_argument("--seconds", type=float, default=3.0, help="pps window (0: no flood)")
    ap.add_argument("--forwarders", default=",".join(FORWARDERS))
    ap.add_argument("--run-arg", action="append", default=[],
                    help="extra `vforward run` argument for the vforward forwarders")
    ap.add_argument("--legs", action="append", default=[], choices=FORWARDERS[1:],
                    help="also time this vforward's legs inside (repeatable)")
    ap.add_argument("--realtime", action="store_true",
                    help="run the forwarders and ping at SCHED_FIFO priority 1")
    ap.add_argument("--old-tree", help="another source tree (with its .venv): adds forwarder "
                    "vforward-old, router.click run by that tree's vforward, to compare")
    ap.add_argument("--router-child", help=argparse.SUPPRESS)
    opts, rest = ap.parse_known_args()
    if opts.realtime:
        REALTIME[:] = ["chrt", "-f", "1"]
    if opts.router_child:
        router_child(opts.router_child, rest)
        return
    names = opts.forwarders.split(",")
    if opts.old_tree:
        OLD_TREE[:] = [os.path.abspath(opts.old_tree)]
        names.append("vforward-old")
    runs = {n: [] for n in names}
    bed = Bed()
    bed.up()
    load = os.getloadavg()[0]
    print(f"load average {load:.1f} at start" + (" (other programs share the CPUs: noisy)"
                                                 if load > 0.5 else "")
          + (", real-time priority" if opts.realtime else ""), flush=True)
    try:
        for rnd in range(opts.rounds):
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for name in order:
                run_args = list(opts.run_arg) if name != "c-loop" else []
                run_args += EXTRA_ARGS.get(name, [])
                r = measure(bed, name, run_args, opts)
                runs[name].append(r)
                print(f"round {rnd + 1} {name:<14} RTT {r['rtt_us'] or 0:7.0f} us  request "
                      f"{r['request_us'] or 0:6.0f} us  reply {r['reply_us'] or 0:6.0f} us  "
                      f"{(r['pps'] or 0) / 1e3:6.0f} kpps", flush=True)
        legs = {}
        for name in opts.legs:
            stamp_file = os.path.join(bed.tmp, f"{name}-legs.json")
            r = measure(bed, f"{name}-legs", list(opts.run_arg) + EXTRA_ARGS.get(name, []), opts,
                        stamp_file=stamp_file)
            legs[name] = legs_table(r, stamp_file)
    finally:
        bed.down()

    def med(name, key):
        vals = [r[key] for r in runs[name] if r[key] is not None]
        return statistics.median(vals) if vals else None
    base = "c-loop" if "c-loop" in names else None
    print(f"\nmedians over {opts.rounds} rounds (forwarder on CPU {FORWARDER_CPU})")
    print(f"{'forwarder':<14}{'RTT p50 us':>11}{'request':>9}{'reply':>7}{'kpps':>7}"
          f"{'RTT/c-loop':>11}{'pps/c-loop':>11}")
    for name in names:
        rtt, pps = med(name, "rtt_us"), med(name, "pps")
        rr = f"{rtt / med(base, 'rtt_us'):.2f}" if base and rtt else "-"
        pr = f"{pps / med(base, 'pps'):.2f}" if base and pps and med(base, "pps") else "-"
        print(f"{name:<14}{rtt or 0:>11.0f}{med(name, 'request_us') or 0:>9.0f}"
              f"{med(name, 'reply_us') or 0:>7.0f}{(pps or 0) / 1e3:>7.0f}{rr:>11}{pr:>11}")
    print("targets: vforward RTT/c-loop <= 1.3, pps/c-loop >= 1.0")
    keys = ["wake-up", "TAP read", "graph", "sink write", "write to host", "host to host"]
    for name, table in legs.items():
        print(f"\n{name}'s legs, medians in us (stamps in the router; tcpdump on the hosts)")
        print(f"{'leg':<10}" + "".join(f"{k:>14}" for k in keys))
        for kind, row in table.items():
            print(f"{kind:<10}" + "".join(f"{row.get(k, 0):>14.1f}" for k in keys))


if __name__ == "__main__":
    main()
