"""A lab's `resources:` applied: cgroups for its routers and daemons.

    resources: {cpu: 2, memory: 1G}          # the whole lab (optional)
    topology:
      nodes:
        r1:
          resources: {cpu: 0.5, memory: 256M}  # one node (or under defaults:)

A node with limits runs in a worker process of its own (deploy's
worker_groups), so that the limit is the node's alone.  The groups, made
through topo/cgroups.py (v2 or v1, whichever the machine has):

    vforward/LAB            the lab's limits; holds no process itself
    vforward/LAB/NODE       a limited node's worker and its BIRD
    vforward/LAB/shared     every other worker and daemon of the lab

A worker joins its group itself once its routers are built, before it says
it is ready (run_worker calls `join_worker`): a worker the supervisor
restarts lands in the same group, and a start-up (imports, graphs) is not
slowed to a crawl by a small CPU share.  Pool memory is charged to the group
as packets first touch its pages.
The state record keeps the directories ({"version", "lab", "shared",
"nodes": {node: dirs}}); destroy removes them once the processes are gone.
"""
from __future__ import annotations

import json
import os
import time

from vforward.topo import cgroups
from vforward.topo.model import Lab

SHARED = "shared"


def wanted(lab: Lab) -> bool:
    return bool(lab.resources) or any(n.resources for n in lab.routers())


def setup(lab: Lab) -> dict:
    """Create and limit the lab's groups; the record for LabState.cgroups ({} without limits)."""
    if not wanted(lab):
        return {}
    tree = cgroups.detect()
    record = {"version": tree.version, "lab": tree.make([lab.name]), "nodes": {}}
    try:
        if lab.resources:
            tree.limit(record["lab"], lab.resources.get("cpu"), lab.resources.get("memory"))
        record["shared"] = tree.make([lab.name, SHARED])
        for node in lab.routers():
            if node.resources:
                group = tree.make([lab.name, node.name])
                record["nodes"][node.name] = group
                tree.limit(group, node.resources.get("cpu"), node.resources.get("memory"))
    except BaseException:
        teardown(record)
        raise
    return record


def group_of(record: dict, node: str) -> list[str]:
    return record["nodes"].get(node) or record["shared"]


def join(record: dict, node: str, pid: int) -> None:
    """Move process `pid` (node's worker or daemon) into the node's group."""
    if record:
        _tree(record).join(group_of(record, node), pid)


def join_worker(lab_dir: str, nodes: list[str]) -> None:
    """Called by a worker as it starts: into the group of its nodes (a limited node runs alone)."""
    try:
        with open(os.path.join(lab_dir, "state.json")) as f:
            record = json.load(f).get("cgroups") or {}
    except OSError:
        return
    if record:
        join(record, nodes[0], os.getpid())


def teardown(record: dict) -> list[str]:
    """Remove the groups (their processes gone); what was removed or could not be."""
    if not record:
        return []
    tree, out = _tree(record), []
    groups = list(record.get("nodes", {}).values()) + [record.get("shared"), record.get("lab")]
    for group in groups:
        if not group:
            continue
        for _ in range(50):       # a killed process leaves its group a moment after it is reaped
            try:
                tree.remove(group)
                out.append(f"cgroup {group[0]}")
                break
            except cgroups.CgroupError as e:
                err = e
                time.sleep(0.05)
        else:
            out.append(f"cgroup {group[0]} left behind: {err}")
    return out


def usage(record: dict, sample: float = 0.3) -> dict:
    """node (and 'lab') -> its limits and use: cpu_limit and cpu_used in CPUs (over `sample`
    seconds), memory_limit and memory_bytes, throttled_s."""
    if not record:
        return {}
    tree = _tree(record)
    groups = {"lab": record["lab"], **record["nodes"]}
    before = {k: tree.read(g) for k, g in groups.items()}
    time.sleep(sample)
    out = {}
    for k, g in groups.items():
        now = tree.read(g)
        now["cpu_used"] = round((now["cpu_s"] - before[k]["cpu_s"]) / sample, 3)
        out[k] = now
    return out


def _tree(record: dict) -> cgroups.CgroupTree:
    tree = cgroups.detect()
    if tree.version != record["version"]:
        raise cgroups.CgroupError(f"the lab's cgroups are v{record['version']}, but this machine "
                                  f"now offers v{tree.version}")
    return tree
