"""`vforward topo list`: every lab deployed from this machine, side by side.

One row per lab found under the state folder: its mode, its nodes, where
they run (hosts and router processes), its age, and the CPU and memory its
processes (routers, daemons, supervisor) use now: CPU in per cent of one
CPU over a short sample, memory as the sum of resident sets.  A lab deployed
on Kubernetes is listed from its record, with its namespace and pods.
"""
from __future__ import annotations

import json
import os
import time

from vforward.topo.state import STATE_ROOT, deployed_labs, load_state
from vforward.topo.supervise import current_workers, same_process

SAMPLE = 0.3     # seconds over which CPU use is measured
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _cpu_ticks(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])      # utime + stime
    except (OSError, IndexError, ValueError):
        return 0


def _rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def _processes(st) -> list[int]:
    records = current_workers(st) + st.daemons + ([st.supervisor] if st.supervisor else [])
    return [r["pid"] for r in records if same_process(r)]


def _state(name: str):
    try:
        return load_state(name)
    except (OSError, ValueError, TypeError):    # being written or removed right now
        return None


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def _k8s_rows() -> list[dict]:
    """Labs deployed on Kubernetes: their record (NAME/k8s.json) says where they
    run; their processes live in the cluster, so CPU and memory are not sampled."""
    if not os.path.isdir(STATE_ROOT):
        return []
    rows = []
    for name in sorted(os.listdir(STATE_ROOT)):
        path = os.path.join(STATE_ROOT, name, "k8s.json")
        try:
            with open(path) as f:
                record = json.load(f)
            created = os.path.getmtime(path)
        except (OSError, ValueError):   # no record, or one being written
            continue
        pods = record.get("pods", [])     # one per router; its lab hosts live in it
        rows.append({"name": record.get("name", name), "mode": "k8s", "routers": len(pods),
                     "hosts": max(len(record.get("pod_of", {})) - len(pods), 0),
                     "placement": f"namespace {record.get('namespace')}, {len(pods)} pods",
                     "processes": 0, "age_s": round(time.time() - created, 1),
                     "cpu_percent": None, "memory_bytes": None, "limited": []})
    return rows


def list_labs(sample: float = SAMPLE) -> list[dict]:
    """A row per deployed lab: name, mode, routers, hosts, placement, processes,
    age_s, cpu_percent, memory_bytes, limited (nodes with resources:)."""
    states = [st for st in (_state(n) for n in deployed_labs()) if st is not None]
    pids = {st.name: _processes(st) for st in states}
    before = {p: _cpu_ticks(p) for ps in pids.values() for p in ps}
    time.sleep(sample if before else 0)
    rows = []
    for st in states:
        ps = pids[st.name]
        ticks = sum(_cpu_ticks(p) - before[p] for p in ps)
        routers = len(st.sockets) if st.mode == "user" else len(
            {i["node"] for i in st.interfaces.values() if i["kind"] == "router"})
        rows.append({"name": st.name, "mode": st.mode, "routers": routers,
                     "hosts": len(st.namespaces) - routers,
                     "placement": f"local, {len(current_workers(st))} router processes"
                     if st.mode == "user" else "local, kernel",
                     "processes": len(ps), "age_s": round(time.time() - st.created, 1),
                     "cpu_percent": round(100.0 * ticks / _TICK / sample, 1) if sample else 0.0,
                     "memory_bytes": sum(_rss(p) for p in ps),
                     "limited": sorted((st.cgroups or {}).get("nodes", {}))})
    return sorted(rows + _k8s_rows(), key=lambda r: r["name"])


def cmd_list(a) -> int:
    rows = list_labs()
    if a.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no lab is deployed")
        return 0
    print(f"{'lab':<14}{'mode':<7}{'nodes':<20}{'placement':<30}{'age':>7}{'cpu %':>8}"
          f"{'memory':>10}  limits")
    for r in rows:
        nodes = f"{r['routers']} routers, {r['hosts']} hosts"
        if r["cpu_percent"] is None:    # on a cluster: not sampled from here
            use = f"{'-':>8}{'-':>10}"
        else:
            use = f"{r['cpu_percent']:>8.1f}{r['memory_bytes'] / 2**20:>8.1f}MB"
        print(f"{r['name']:<14}{r['mode']:<7}{nodes:<20}{r['placement']:<30}"
              f"{_age(r['age_s']):>7}{use}  {', '.join(r['limited']) or '-'}")
    return 0


def add_parser(ts) -> None:
    p = ts.add_parser("list", help="every deployed lab: mode, nodes, placement, age, CPU, memory")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
