"""A lab worker: one process that runs several nodes' routers on one loop.

Started by `deploy` through `vforward topo workers LABDIR GROUP...`, which
imports vforward once and forks one worker per GROUP (comma-separated node
names), so that workers share the imported code instead of each paying
for it; `vforward topo worker LABDIR NODE...` runs a single worker.  A
worker builds each node's graph from LABDIR/configs/NODE.click (the routers that need the same slot
size share one packet pool, see shared_pools), opens
LABDIR/sock/NODE.sock as the node's control socket, and writes
LABDIR/ready/PID once every router has started (or LABDIR/ready/PID.error
with the reason, and exits 1).  LABDIR/poll-budget, when deploy wrote one
(`deploy --poll-budget`), is the spin budget of every worker's loop
(vforward/busypoll.py); a restarted worker reads it again.  A worker asks
the scheduler for a short slice (vforward/schedslice.py), so that a packet
that wakes it is not kept waiting behind the machine's other work.
"""
from __future__ import annotations

import gc
import os
import signal
import sys

POOL_SLOTS = 2048
# Routers with offloads get 64 KB slots; a slot a packet used stays resident
# (a page or two of it), so fewer of them: 512 hold 32 MB of super-frames in
# flight per router, and an overloaded lab pins 2-4 MB per router, not 8-16.
# A worker's routers share their slots (shared_pools): one router may hold
# more than its part while the others hold less, as ports share a switch's
# buffer; the worker's total stays the sum.
GSO_POOL_SLOTS = 512


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


POLL_BUDGET_FILE = "poll-budget"


def poll_budget_of(lab_dir: str) -> tuple[float, float]:
    """The (window, share) deploy gave the lab's workers; (0, 0) when none."""
    from vforward.busypoll import parse_budget
    try:
        with open(os.path.join(lab_dir, POLL_BUDGET_FILE)) as f:
            return parse_budget(f.read().strip())
    except FileNotFoundError:
        return 0.0, 0.0


def shared_pools(graphs: list, pool_slots: int = POOL_SLOTS) -> dict:
    """id(graph) -> its router's pool: one pool for all the graphs that need
    the same slot size, as many slots as they would have had each.  Routers
    that share a pool hand packets over an InProcessLink by their slot
    indices (no copy, a super-frame whole), and a worker's hot slots are
    few: the free list hands out the slot any of its routers freed last."""
    from vforward.runtime import pool_for, slot_size_needed
    by_size: dict = {}
    for graph in graphs:
        by_size.setdefault(slot_size_needed(graph), []).append(graph)
    pools = {}
    for same in by_size.values():
        # Ordinary pages: a lab's many routers mostly carry small packets,
        # each touching 4 KB of its 64 KB offload slot instead of a 2 MB page.
        pool = pool_for(same[0], pool_slots * len(same), huge_pages=False,
                        gso_slots=GSO_POOL_SLOTS * len(same))
        for graph in same:
            pools[id(graph)] = pool
    return pools


def run_worker(lab_dir: str, nodes: list[str], pool_slots: int = POOL_SLOTS) -> int:
    from vforward.catalogue import load_builtin
    from vforward.control import ControlServer
    from vforward.graph import build_graph
    from vforward.runtime import RouterGroup
    from vforward.schedslice import request_slice

    request_slice()
    ready = os.path.join(lab_dir, "ready")
    os.makedirs(ready, exist_ok=True)
    me = os.path.join(ready, str(os.getpid()))
    try:
        load_builtin()
        group = RouterGroup(poll_budget=poll_budget_of(lab_dir))
        graphs = {}
        for node in nodes:
            cfg = os.path.join(lab_dir, "configs", f"{node}.click")
            with open(cfg) as f:
                graphs[node] = build_graph(f.read(), cfg)
        pools = shared_pools(list(graphs.values()), pool_slots)
        for node, graph in graphs.items():
            router = group.add(node, graph, pools[id(graph)])
            sock = os.path.join(lab_dir, "sock", f"{node}.sock")
            server = ControlServer(router, path=sock)
            server.bind()
            router.listeners.append(server)
        group.initialize()
    except Exception as e:   # report why, for deploy to show the user
        _write(me + ".error", f"{type(e).__name__}: {e}\n")
        print(f"vforward worker: {e}", file=sys.stderr)
        return 1
    def started() -> None:
        # Into the nodes' cgroup (resources:) once built: a start-up under a tight CPU
        # limit would take minutes; the pools' pages are charged as traffic touches them.
        from vforward.topo.isolation import join_worker
        join_worker(lab_dir, nodes)
        _write(me, " ".join(nodes) + "\n")
    code = group.run(on_started=started)
    _write(me + ".exit", f"{code}\n")    # the supervisor tells a clean stop from a crash
    return code


def log_path(lab_dir: str, index: int) -> str:
    return os.path.join(lab_dir, "logs", f"worker-{index}.log")


def fork_workers(lab_dir: str, groups: list[list[str]]) -> list[int]:
    """Import what a worker runs, then fork one worker per group of nodes,
    each in its own session with its log as stdout and stderr; their pids."""
    from vforward.catalogue import load_builtin
    from vforward import control, graph, packet, runtime   # noqa: F401 (shared by the children)
    load_builtin()
    gc.freeze()             # the collector then leaves the shared objects' pages alone
    sys.stdout.flush()
    sys.stderr.flush()
    pids = []
    for i, nodes in enumerate(groups):
        try:
            pid = os.fork()
        except OSError:
            for started in pids:     # all of the lab's workers, or none
                os.kill(started, signal.SIGKILL)
            raise
        if pid == 0:
            code = 1
            try:
                os.setsid()
                log = os.open(log_path(lab_dir, i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log, 1)
                os.dup2(log, 2)
                os.close(log)
                os.close(null)
                code = run_worker(lab_dir, nodes)
            except BaseException as e:
                print(f"vforward worker: {e}", file=sys.stderr)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        pids.append(pid)
    return pids
