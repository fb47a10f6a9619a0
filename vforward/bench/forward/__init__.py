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
  naive     vforward/bench/naive_forwarder.py on TAP devices as in `tap`: the
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

The parts: testbed.py (the namespaces and links), ethtool.py (device
offloads), forwarders.py (starting and stopping each mode's forwarder),
loads.py (the four loads), results.py (medians, ratios, targets, the table
and the chart); this module runs them in turn.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict

from vforward.bench.forward.forwarders import (MODES, ROUTER_CONFIG, make_forwarder,
                                               ring_variant)
from vforward.bench.forward.loads import measure_iperf, measure_pps, measure_rtt, udp_frame
from vforward.bench.forward.results import (Sample, check_targets, format_table, ratios,
                                            summarize, write_png)
from vforward.bench.forward.testbed import (FRAME_SIZE, FWD_CPU, GEN_CPU, UDP_PAYLOAD,
                                            BenchError, Testbed)

__all__ = ["MODES", "BenchError", "add_arguments", "main", "ring_variant", "run"]


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
    if {"tap", "tap-plain", "tap-poll", "afpacket", "afpacket-tso"} & set(modes) and \
            not os.path.exists(ROUTER_CONFIG):
        raise BenchError(f"{ROUTER_CONFIG} is missing: reinstall vforward (it ships the "
                         "example configs)")


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
