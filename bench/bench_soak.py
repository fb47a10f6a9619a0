"""Soak: a big lab under mixed traffic and a flapping link, sampled for leaks.

Deploys a ring of N routers with two hosts on opposite sides (the scale
benchmark's generator, static routes), then for DURATION seconds:

  traffic   h1 -> h2 pings every 0.2 s (64 bytes) and every 0.5 s (1400
            bytes), and, when iperf3 is installed, a 2 Mbit/s UDP stream
  flapping  one link on the hosts' path goes down and up again every
            FLAP seconds (half down, half up), through `topo link`
  control   every SAMPLE seconds, every router's `metrics` handler is read
            through its control socket (N requests); every failure counts
  samples   every SAMPLE seconds: the router processes' RSS and open file
            descriptors (from /proc), and the pool slots in use summed over
            the routers (from their metrics)

At the end it prints each series' least-squares slope (per minute) and its
first and last value, the control failures, the pings lost (expected while
the link is down), and then destroys the lab and checks that nothing is
left: no namespace, no process and no state of the lab.

    python bench/bench_soak.py [--routers 100] [--duration 600] [--flap 4]
                               [--sample 10] [--per-worker 25] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

from vforward import netns
from vforward.control import ControlClient
from vforward.topo import generate, ops
from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.state import lab_dir, load_state
from vforward.topo.supervise import current_workers, same_process


def slope_per_minute(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    if n < 2:
        return 0.0
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return 60 * sum((t - mt) * (v - mv) for t, v in samples) / var if var else 0.0


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))


def n_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def pool_used(metrics: str) -> int:
    slots = free = 0
    for line in metrics.splitlines():
        if line.startswith("vforward_router_pool_slots"):
            slots += int(float(line.split()[-1]))
        elif line.startswith("vforward_router_pool_free_slots"):
            free += int(float(line.split()[-1]))
    return slots - free


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--routers", type=int, default=100)
    ap.add_argument("--duration", type=float, default=600)
    ap.add_argument("--flap", type=float, default=4)
    ap.add_argument("--sample", type=float, default=10)
    ap.add_argument("--per-worker", type=int, default=25)
    ap.add_argument("--json")
    a = ap.parse_args()

    name = "sk" + uuid.uuid4().hex[:6]
    tmp = tempfile.mkdtemp(prefix="soak")
    path = os.path.join(tmp, "soak.yaml")
    generate.ring(a.routers, hosts=2, name=name, path=path)
    t0 = time.monotonic()
    deploy(path, nodes_per_worker=a.per_worker, log=print)
    print(f"deployed {a.routers} routers in {time.monotonic() - t0:.0f} s")
    lab = prepare(path)
    st = load_state(name)
    procs = []
    result = {"routers": a.routers, "duration_s": a.duration}
    try:
        h1, h2 = st.namespaces["h1"], st.namespaces["h2"]
        dst = lab.nodes["h2"].interfaces["eth1"].address.ip.compressed
        n_pings = int(a.duration / 0.2) + int(a.duration / 0.5)
        procs.append(subprocess.Popen(["ip", "netns", "exec", h1, "ping", "-q", "-i", "0.2",
                                       "-w", str(int(a.duration)), dst],
                                      stdout=subprocess.PIPE, text=True))
        procs.append(subprocess.Popen(["ip", "netns", "exec", h1, "ping", "-q", "-i", "0.5",
                                       "-s", "1400", "-w", str(int(a.duration)), dst],
                                      stdout=subprocess.PIPE, text=True))
        if shutil.which("iperf3"):
            procs.append(subprocess.Popen(["ip", "netns", "exec", h2, "iperf3", "-s", "-1"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            time.sleep(0.5)
            procs.append(subprocess.Popen(["ip", "netns", "exec", h1, "iperf3", "-c", dst, "-u",
                                           "-b", "2M", "-t", str(int(a.duration))],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        flapped = "r2:eth2"          # r1 -- r2 carries h1's traffic towards h2 one way round
        rss, fds, used = [], [], []
        failures = requests = flaps = 0
        start = time.monotonic()
        next_flap, next_sample, down = start + a.flap / 2, start, False
        clients: dict = {}
        while time.monotonic() - start < a.duration:
            now = time.monotonic()
            if now >= next_flap:
                try:
                    ops.set_link(name, flapped, "up" if down else "down")
                    down = not down
                    flaps += 1
                except Exception as e:           # a failed control request is a finding
                    failures += 1
                    print(f"flap failed: {e}")
                requests += 1
                next_flap += a.flap / 2
            if now >= next_sample:
                t = now - start
                total = 0
                for node, sock in st.sockets.items():
                    requests += 1
                    try:
                        if node not in clients:
                            clients[node] = ControlClient(sock, timeout=10)
                        total += pool_used(clients[node].read("metrics"))
                    except Exception as e:
                        failures += 1
                        clients.pop(node, None)
                        print(f"control request to {node} failed: {e}")
                used.append((t, total))
                # after the reads, so that this benchmark's own connections (one per
                # router, kept open) are in every sample, not a jump after the first
                workers = [w for w in current_workers(st) if same_process(w)]
                rss.append((t, sum(rss_kb(w["pid"]) for w in workers)))
                fds.append((t, sum(n_fds(w["pid"]) for w in workers)))
                print(f"t={t:5.0f}s  rss {rss[-1][1] / 1024:.1f} MB  fds {fds[-1][1]}  "
                      f"pool slots in use {total}  workers {len(workers)}", flush=True)
                next_sample += a.sample
            time.sleep(0.05)
        for c in clients.values():
            c.close()
        if down:
            ops.set_link(name, flapped, "up")
        lost = []
        for p in procs[:2]:
            out = p.communicate(timeout=a.duration + 30)[0]
            m = re.search(r"(\d+) packets transmitted, (\d+) received", out)
            lost.append((int(m.group(1)), int(m.group(2))) if m else None)
        result.update(
            rss_kb_per_min=round(slope_per_minute(rss), 1), rss_first_kb=rss[0][1],
            rss_last_kb=rss[-1][1], fds_per_min=round(slope_per_minute(fds), 3),
            fds_first=fds[0][1], fds_last=fds[-1][1],
            pool_used_per_min=round(slope_per_minute(used), 2), pool_used_first=used[0][1],
            pool_used_last=used[-1][1], control_requests=requests, control_failures=failures,
            flaps=flaps, pings=lost, samples=len(rss), expected_pings=n_pings)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        t1 = time.monotonic()
        destroy(name)
        result["destroy_s"] = round(time.monotonic() - t1, 1)
        shutil.rmtree(tmp, ignore_errors=True)
    left = {
        "namespaces": [n for n in netns.list_all() if name in n] if hasattr(netns, "list_all")
        else [n for n in st.namespaces.values() if netns.exists(n)],
        "processes": [w["pid"] for w in st.workers + st.daemons + [st.supervisor]
                      if w and same_process(w)],
        "state": os.path.exists(lab_dir(name)),
    }
    result["left_behind"] = left
    print(json.dumps(result, indent=2))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f, indent=2)
    clean = not left["namespaces"] and not left["processes"] and not left["state"]
    print("PASS" if clean and result.get("control_failures", 1) == 0 else "FAIL")
    return 0 if clean and result.get("control_failures", 1) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
