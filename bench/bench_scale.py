"""Testbed scale: deploy rings and grids of 10, 30 and 100 routers and measure
how long they take to come up, to reach all pairs, and what a node costs.

For every shape (ring, grid), size and routers-per-process value, one lab is
generated (vforward.topo.generate, two hosts at the ends/corners), deployed
with `deploy(path, nodes_per_worker=K)`, measured, and destroyed:

  deploy    wall time of deploy(): namespaces, configs, worker processes,
            their graphs and devices, node kernels' addresses and routes.
  reach     time from deploy()'s return until every ordered pair of nodes
            has answered: each node (router or host) pings every other
            node's address (a router's loopback, a host's interface), so
            N*(N-1) pairs, 10302 for a 100-router lab with 2 hosts.  The
            pings are sent by this process through one raw ICMP socket per
            node namespace, at most WINDOW in flight across the lab; a ping
            not answered within PROBE_TIMEOUT (or, once replies come, TCP's
            retransmission timeout from their RTTs) is sent again, until all
            pairs answered or REACH_TIMEOUT passed.  The nodes' kernels send
            with TTL 255 (ip_default_ttl), so rings of more than 63 routers
            are reachable end to end.  The first echo of a pair also
            pays ARP at every hop, so this is how long a fresh lab takes to
            carry traffic everywhere.  `--sources N` pings from N sources
            only (spread evenly, hosts included) for labs too big for all pairs.
  up+reach  deploy + reach: the issue's "up and reachable" number.
  memory    the routers' worker processes after the sweep: the sum of their
            PSS (/proc/PID/smaps_rollup; shared pages split among sharers)
            divided by the number of routers, and the same for RSS (which
            counts shared pages in full), after the sweep and (in the JSON)
            right after deploy.  Kernel memory (namespaces, TAP devices) is
            not in it: `kernel_slab_mb_per_node` in the JSON is the growth
            of the kernel's slab over the deploy divided by the nodes, a
            system-wide figure that other jobs on the host disturb.
  destroy   wall time of destroy().

Every lab is destroyed in a finally block (also on Ctrl-C or SIGTERM), and a
lab left over by an interrupted earlier run is destroyed before deploying.

    python bench/bench_scale.py [--sizes 10,30,100] [--shapes ring,grid]
        [--per-worker 10,25,50] [--sources N] [--window W]
        [--reach-timeout S] [--phases] [--json out.json]

Needs root.  A routers-per-process value that gives the same split into
processes as one already run for that lab is skipped.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import select
import signal
import socket
import struct
import sys
import tempfile
import time
from collections import deque

from vforward import netns
from vforward.topo import deploy as topo_deploy
from vforward.topo import generate
from vforward.topo.state import load_state

ICMP_ECHO, ICMP_ECHO_REPLY = 8, 0
ID_BASE = 0x5600


# -- labs ----------------------------------------------------------------------------------

def grid_shape(n: int) -> tuple[int, int]:
    """rows x cols = n, as square as n allows (rows <= cols)."""
    rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return rows, n // rows


def lab_text(shape: str, size: int) -> str:
    if shape == "ring":
        return generate.ring(size, hosts=2, name=f"bs-r{size}")
    rows, cols = grid_shape(size)
    return generate.grid(rows, cols, hosts=2, name=f"bs-g{rows}x{cols}")


# -- all-pairs reachability ------------------------------------------------------------------

def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def _echo(ident: int, seq: int, token: bytes) -> bytes:
    head = struct.pack("!BBHHH", ICMP_ECHO, 0, 0, ident, seq)
    csum = _checksum(head + token)
    return struct.pack("!BBHHH", ICMP_ECHO, 0, csum, ident, seq) + token


class PairProber:
    """Pings between the nodes of a deployed lab from this process.

    One raw ICMP socket per node, opened inside the node's namespace; the
    echo identifier names the source node and the sequence number the
    destination, so a reply names its pair without any state per packet.
    """

    def __init__(self, nodes: list[tuple[str, str, str]], ttl: int = 255):
        """nodes: (name, namespace, address to ping it at).  Every node's
        kernel sends with `ttl` (net.ipv4.ip_default_ttl, 64 by default),
        so that echoes and replies cross rings of more than 63 routers."""
        self.names = [n for n, _, _ in nodes]
        self.addrs = [a for _, _, a in nodes]
        self.socks = []
        self.token = os.urandom(8)
        try:
            for _, ns, _ in nodes:
                with netns.entered(ns):
                    with open("/proc/sys/net/ipv4/ip_default_ttl", "w") as f:
                        f.write(f"{ttl}\n")
                    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
                s.setblocking(False)
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
                self.socks.append(s)
        except BaseException:
            self.close()
            raise
        self.fd_index = {s.fileno(): i for i, s in enumerate(self.socks)}

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.socks = []

    def _rtt_sample(self, rtt: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = rtt, rtt / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - rtt)
            self.srtt = 0.875 * self.srtt + 0.125 * rtt

    def _drain(self, i: int, answered: dict, sent_at: dict, resent: set, now: float) -> None:
        s = self.socks[i]
        while True:
            try:
                pkt = s.recv(2048)
            except BlockingIOError:
                return
            ihl = (pkt[0] & 15) * 4
            if len(pkt) < ihl + 16:
                continue
            kind, _, _, ident, seq = struct.unpack_from("!BBHHH", pkt, ihl)
            if (kind != ICMP_ECHO_REPLY or ident != ID_BASE + i
                    or pkt[ihl + 8:ihl + 16] != self.token):
                continue
            pair = (i, seq)
            if pair in sent_at and pair not in answered:
                # A late answer to an earlier copy counts too; only pings sent
                # once time the round trip (Karn's rule).
                rtt = answered[pair] = now - sent_at[pair]
                if pair not in resent:
                    self._rtt_sample(rtt)

    def sweep(self, sources: list[int], timeout: float, window: int = 400,
              probe_timeout: float = 1.0) -> dict:
        """Ping every (source, other node) pair until all answered or timeout.

        A ping is sent again when it stays unanswered longer than the
        retransmission timeout: probe_timeout at first, then as TCP computes
        it (smoothed RTT + 4 * RTT variation, at least probe_timeout), so a
        loaded lab whose RTTs grow is not flooded with needless copies."""
        n = len(self.names)
        # Interleave the sources so every router carries some of the load at once.
        todo = deque((s, (s + k) % n) for k in range(1, n) for s in sources)
        pairs = len(todo)
        answered: dict = {}
        sent_at: dict = {}          # pair -> time of its latest ping
        resent: set = set()         # pairs pinged more than once
        inflight: list = []         # (time, pair) in sending order
        attempts = 0
        self.srtt = self.rttvar = None
        rto = probe_timeout
        t0 = time.monotonic()
        fds = list(self.fd_index)
        poller = select.epoll()
        for fd in fds:
            poller.register(fd, select.EPOLLIN)
        try:
            while len(answered) < pairs:
                now = time.monotonic()
                if now - t0 > timeout:
                    break
                if self.srtt is not None:
                    rto = min(max(probe_timeout, self.srtt + 4 * self.rttvar), 10.0)
                # Probes that timed out go back into the queue.
                keep = []
                for when, pair in inflight:
                    if pair in answered:
                        continue
                    if now - when > rto:
                        todo.append(pair)
                    else:
                        keep.append((when, pair))
                inflight = keep
                while todo and len(inflight) < window:
                    pair = todo.popleft()
                    if pair in answered:
                        continue
                    src, dst = pair
                    try:
                        self.socks[src].sendto(_echo(ID_BASE + src, dst, self.token),
                                               (self.addrs[dst], 0))
                    except OSError:
                        pass        # no route yet, or a full queue: it times out and is retried
                    if pair in sent_at:
                        resent.add(pair)
                    attempts += 1
                    sent_at[pair] = time.monotonic()
                    inflight.append((sent_at[pair], pair))
                for fd, _ in poller.poll(0.005):
                    self._drain(self.fd_index[fd], answered, sent_at, resent, time.monotonic())
        finally:
            poller.close()
        took = time.monotonic() - t0
        missing = sorted({(self.names[s], self.names[d]) for s in sources for d in range(n)
                          if s != d and (s, d) not in answered})
        rtts = sorted(answered.values())
        return {"pairs": pairs, "answered": len(answered), "seconds": took,
                "probes": attempts, "retries": attempts - len(sent_at),
                "rtt_median_ms": 1000 * rtts[len(rtts) // 2] if rtts else None,
                "rtt_max_ms": 1000 * rtts[-1] if rtts else None,
                "missing": [f"{a}->{b}" for a, b in missing[:20]],
                "n_missing": len(missing)}


def lab_nodes(lab) -> list[tuple[str, str, str]]:
    from vforward.topo.render import netns_name
    from vforward.topo.validate import target_address
    return [(name, netns_name(lab, name), target_address(lab, name)) for name in lab.nodes]


def router_passes(lab, nodes: list[tuple[str, str, str]], sources: list[int]) -> int:
    """Routers an echo and its reply cross, summed over the pairs a sweep pings.

    A path from node A to node B crosses every router between their
    routers, both ends included (a host's router is its gateway); hop counts
    are breadth-first, which is the routed path in a lab of equal link costs."""
    adj = {r.name: [] for r in lab.routers()}
    attach = {}
    for link in lab.links:
        a, b = link.a.node, link.b.node
        if lab.nodes[a].is_router and lab.nodes[b].is_router:
            adj[a].append(b)
            adj[b].append(a)
        elif lab.nodes[a].is_router:
            attach[b] = a
        else:
            attach[a] = b
    for r in adj:
        attach[r] = r
    dist_from = {}
    total = 0
    for s in sources:
        src = attach[nodes[s][0]]
        if src not in dist_from:
            dist = {src: 0}
            frontier = [src]
            while frontier:
                nxt = []
                for u in frontier:
                    for v in adj[u]:
                        if v not in dist:
                            dist[v] = dist[u] + 1
                            nxt.append(v)
                frontier = nxt
            dist_from[src] = dist
        dist = dist_from[src]
        for d, (name, _, _) in enumerate(nodes):
            if d != s:
                total += 2 * (dist[attach[name]] + 1)
    return total


def spread(n: int, k: int, must: list[int]) -> list[int]:
    """k indices of 0..n-1 spread evenly, including those in `must`."""
    if k >= n:
        return list(range(n))
    chosen = list(dict.fromkeys(must))
    step = n / max(k - len(chosen), 1)
    i = 0.0
    while len(chosen) < k and i < n:
        if int(i) not in chosen:
            chosen.append(int(i))
        i += step
    return sorted(chosen[:k])


# -- memory ---------------------------------------------------------------------------------

def process_memory(pid: int) -> dict:
    """PSS and RSS in kB of one process (zeros when it is gone)."""
    out = {"pss": 0, "rss": 0}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                key, _, rest = line.partition(":")
                if key in ("Pss", "Rss"):
                    out[key.lower()] = int(rest.split()[0])
    except OSError:
        pass
    return out


def cpu_seconds(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds a process has used (zeros when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def slab_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                return int(line.split()[1])
    return 0


# -- deploy phases (optional) -----------------------------------------------------------------

_PHASES = ("prepare", "_new_namespace", "_new_namespaces", "_start_workers", "_wait_ready",
           "_kernel_setup", "_start_daemons")


class PhaseTimer:
    """Wraps deploy's internal steps, when they exist, to time them (--phases)."""

    def __init__(self, enabled: bool):
        self.times: dict = {}
        self._saved = []
        if not enabled:
            return
        for name in _PHASES:
            fn = getattr(topo_deploy, name, None)
            if callable(fn):
                self._saved.append((topo_deploy, name, fn))
                setattr(topo_deploy, name, self._wrap(name.lstrip("_"), fn))
        fn = getattr(topo_deploy.render, "configs", None)
        if callable(fn):
            self._saved.append((topo_deploy.render, "configs", fn))
            topo_deploy.render.configs = self._wrap("render", fn)

    def _wrap(self, label, fn):
        def timed(*a, **kw):
            t = time.monotonic()
            try:
                return fn(*a, **kw)
            finally:
                self.times[label] = self.times.get(label, 0.0) + time.monotonic() - t
        return timed

    def reset(self) -> dict:
        out, self.times = self.times, {}
        return out

    def restore(self) -> None:
        for owner, name, fn in self._saved:
            setattr(owner, name, fn)


# -- one case -----------------------------------------------------------------------------------

def _destroy_leftover(name: str) -> None:
    if load_state(name) is not None:
        print(f"  destroying lab {name} left over by an earlier run", file=sys.stderr)
        topo_deploy.destroy(name)


def run_case(shape: str, size: int, per_worker: int, args, tmpdir: str, phases: PhaseTimer) -> dict:
    text = lab_text(shape, size)
    path = os.path.join(tmpdir, f"{shape}{size}.yaml")
    with open(path, "w") as f:
        f.write(text)
    lab = topo_deploy.prepare(path)
    name = lab.name
    routers = len(lab.routers())
    row = {"shape": shape, "size": size, "routers": routers, "nodes": len(lab.nodes),
           "links": len(lab.links), "per_worker": per_worker,
           "workers": math.ceil(routers / per_worker), "lab": name}
    _destroy_leftover(name)
    slab0 = slab_kb()
    phases.reset()
    st = None
    t0 = time.monotonic()
    try:
        st = topo_deploy.deploy(path, nodes_per_worker=per_worker, log=lambda *a: None)
        row["deploy_s"] = time.monotonic() - t0
        row["workers"] = len(st.workers)     # a small lab is spread over the CPUs
        row["phases"] = phases.reset()
        row["kernel_slab_mb_per_node"] = (slab_kb() - slab0) / 1024 / len(lab.nodes)
        idle = [process_memory(w["pid"]) for w in st.workers]
        row["pss_mb_per_router_idle"] = sum(m["pss"] for m in idle) / 1024 / routers
        nodes = lab_nodes(lab)
        hosts = [i for i, (n, _, _) in enumerate(nodes) if not lab.nodes[n].is_router]
        sources = spread(len(nodes), args.sources or len(nodes), hosts)
        pids = [w["pid"] for w in st.workers]
        prober = PairProber(nodes)
        try:
            cpu0 = [cpu_seconds(p) for p in pids]
            reach = prober.sweep(sources, timeout=args.reach_timeout, window=args.window,
                                 probe_timeout=args.probe_timeout)
            cpu1 = [cpu_seconds(p) for p in pids]
        finally:
            prober.close()
        user = sum(b[0] - a[0] for a, b in zip(cpu0, cpu1))
        system = sum(b[1] - a[1] for a, b in zip(cpu0, cpu1))
        passes = router_passes(lab, nodes, sources)
        reach.update(worker_user_s=user, worker_sys_s=system, router_passes=passes,
                     us_per_router_pass=1e6 * (user + system) / passes)
        row["reach"] = reach
        row["reach_s"] = reach["seconds"] if reach["answered"] == reach["pairs"] else None
        row["up_and_reach_s"] = row["deploy_s"] + reach["seconds"]
        mem = [process_memory(w["pid"]) for w in st.workers]
        row["pss_mb_total"] = sum(m["pss"] for m in mem) / 1024
        row["rss_mb_total"] = sum(m["rss"] for m in mem) / 1024
        row["pss_mb_per_router"] = row["pss_mb_total"] / routers
        row["rss_mb_per_router"] = row["rss_mb_total"] / routers
        row["pss_mb_per_worker"] = [round(m["pss"] / 1024, 1) for m in mem]
    except Exception as e:
        row["error"] = f"{type(e).__name__}: {e}"
    finally:
        t1 = time.monotonic()
        try:
            if load_state(name) is not None:
                topo_deploy.destroy(name)
        except Exception as e:   # report, and leave the next case a chance
            row["destroy_error"] = f"{type(e).__name__}: {e}"
        row["destroy_s"] = time.monotonic() - t1
    return row


# -- output -----------------------------------------------------------------------------------

def _fmt(v, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def print_row(r: dict) -> None:
    if "error" in r and "deploy_s" not in r:
        print(f"{r['shape']:<5}{r['routers']:>5}{r['per_worker']:>5}{r['workers']:>4}  "
              f"FAILED: {r['error']}", flush=True)
        return
    reach = r.get("reach", {})
    ok = f"{reach.get('answered', 0)}/{reach.get('pairs', 0)}"
    print(f"{r['shape']:<5}{r['routers']:>5}{r['per_worker']:>5}{r['workers']:>4}"
          f"{_fmt(r.get('deploy_s'), '9.2f')}{_fmt(r.get('reach_s'), '9.2f')}"
          f"{_fmt(r.get('up_and_reach_s'), '9.2f')}{ok:>13}{reach.get('retries', 0):>8}"
          f"{_fmt(r.get('pss_mb_per_router'), '9.1f')}{_fmt(r.get('rss_mb_per_router'), '9.1f')}"
          f"{_fmt(r.get('destroy_s'), '9.2f')}{_fmt(reach.get('us_per_router_pass'), '9.0f')}"
          + (f"  ERROR {r['error']}" if "error" in r else ""), flush=True)
    if r.get("phases"):
        print("      deploy phases: " + ", ".join(f"{k} {v:.2f}s" for k, v in r["phases"].items()),
              flush=True)
    if reach.get("n_missing"):
        print(f"      {reach['n_missing']} pairs never answered, e.g. "
              f"{' '.join(reach['missing'][:5])}", flush=True)


_COLUMNS = [("shape", "", "<5"), ("rtrs", "", ">5"), ("per", "", ">5"), ("wk", "", ">4"),
            ("deploy", "s", ">9"), ("reach", "s", ">9"), ("up+rch", "s", ">9"),
            ("pairs ok", "", ">13"), ("retry", "", ">8"), ("PSS/rtr", "MB", ">9"),
            ("RSS/rtr", "MB", ">9"), ("destroy", "s", ">9"), ("cpu/pass", "us", ">9")]
HEADER = ("".join(format(name, fmt) for name, _, fmt in _COLUMNS) + "\n"
          + "".join(format(unit, fmt) for _, unit, fmt in _COLUMNS))


def best_per_worker(rows: list[dict]) -> dict:
    """(shape, size) -> the routers-per-process value with the lowest up+reach time."""
    best = {}
    for r in rows:
        if r.get("reach_s") is None:
            continue
        key = f"{r['shape']}{r['size']}"
        if key not in best or r["up_and_reach_s"] < best[key]["up_and_reach_s"]:
            best[key] = {"per_worker": r["per_worker"], "up_and_reach_s": r["up_and_reach_s"],
                         "pss_mb_per_router": r["pss_mb_per_router"]}
    return best


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=_ints, default=[10, 30, 100], help="routers per lab (10,30,100)")
    ap.add_argument("--shapes", default="ring,grid", help="ring,grid")
    ap.add_argument("--per-worker", type=_ints, default=[10, 25, 50],
                    help="routers per worker process to try (10,25,50)")
    ap.add_argument("--sources", type=int, default=0,
                    help="ping from this many nodes only (default: all: every pair)")
    ap.add_argument("--window", type=int, default=400, help="pings in flight at most (400)")
    ap.add_argument("--probe-timeout", type=float, default=1.0,
                    help="seconds before an unanswered ping is sent again (1.0)")
    ap.add_argument("--reach-timeout", type=float, default=60.0,
                    help="seconds to wait for all pairs (60)")
    ap.add_argument("--phases", action="store_true", help="time deploy's steps too")
    ap.add_argument("--json", metavar="PATH", help="write every number here")
    args = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("bench_scale: labs need root (namespaces, TAP devices)", file=sys.stderr)
        return 1
    shapes = [s for s in args.shapes.split(",") if s]
    for s in shapes:
        if s not in ("ring", "grid"):
            ap.error(f"unknown shape '{s}': ring or grid")

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)

    rows = []
    phases = PhaseTimer(args.phases)
    print(HEADER, flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmpdir:
            for shape in shapes:
                for size in args.sizes:
                    splits = set()
                    for per in args.per_worker:
                        workers = math.ceil(size / per)
                        if workers in splits:
                            continue
                        splits.add(workers)
                        row = run_case(shape, size, per, args, tmpdir, phases)
                        rows.append(row)
                        print_row(row)
    except KeyboardInterrupt:
        print("interrupted; the lab in progress was destroyed", file=sys.stderr)
    finally:
        phases.restore()
    best = best_per_worker(rows)
    if best:
        print("best routers per process (lowest up+reach): " +
              ", ".join(f"{k}: {v['per_worker']}" for k, v in best.items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cpus": os.cpu_count(), "rows": rows, "best_per_worker": best,
                       "args": {k: v for k, v in vars(args).items()}}, f, indent=2)
    return 0 if rows and all("error" not in r and r.get("reach_s") is not None for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
