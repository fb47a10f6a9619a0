"""The record of a deployed lab: what exists, so that it can be found,
inspected and destroyed even after the YAML changed or a router died.

Each lab has a folder under STATE_ROOT (default /run/vforward/labs/NAME)
holding `state.json`, the generated configs, the worker logs and the nodes'
control sockets.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields

STATE_ROOT = os.environ.get("VFORWARD_STATE_DIR", "/run/vforward/labs")


@dataclass
class LabState:
    name: str
    topology: str                    # the YAML path it was deployed from
    mode: str = "user"               # user | kernel
    created: float = field(default_factory=time.time)
    namespaces: dict = field(default_factory=dict)    # node -> netns name
    workers: list = field(default_factory=list)       # [{"pid": n, "nodes": [...], "log": path}]
    sockets: dict = field(default_factory=dict)       # node -> control socket path
    links: dict = field(default_factory=dict)         # "r1:eth1" -> {"peer", "element", "state", "impair", ...}
    interfaces: dict = field(default_factory=dict)    # "r1:eth1" -> {"address", "mac", "kind"}
    underlay: dict = field(default_factory=dict)      # "r1:eth1" -> [addr, port]
    daemons: list = field(default_factory=list)       # [{"node", "pid", "what"}]
    supervisor: dict = field(default_factory=dict)    # {"pid", "start", "cmd"}: see supervise.py
    extra_devices: list = field(default_factory=list) # [[netns or "", devname]] made outside namespaces
    impairments: dict = field(default_factory=dict)   # kernel mode: "r1:eth1" -> Impairment fields
    warnings: list = field(default_factory=list)      # conditions that could not be applied
    emulated_hosts: dict = field(default_factory=dict)  # see vforward.node.emulate
    cgroups: dict = field(default_factory=dict)       # resources: limits, see topo/isolation.py

    @property
    def directory(self) -> str:
        return lab_dir(self.name)

    def save(self) -> None:
        os.makedirs(self.directory, exist_ok=True)
        tmp = os.path.join(self.directory, "state.json.tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(self), f, indent=2, sort_keys=True)
        os.replace(tmp, os.path.join(self.directory, "state.json"))

    def pids(self) -> list[int]:
        return [w["pid"] for w in self.workers] + [d["pid"] for d in self.daemons]


def lab_dir(name: str) -> str:
    return os.path.join(STATE_ROOT, name)


def load_state(name: str) -> LabState | None:
    path = os.path.join(lab_dir(name), "state.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        data = json.load(f)
    # A record written by another vforward version may carry fields this one lacks.
    known = {f.name for f in fields(LabState)}
    return LabState(**{k: v for k, v in data.items() if k in known})


def remove_state(name: str) -> None:
    shutil.rmtree(lab_dir(name), ignore_errors=True)


@contextmanager
def labs_lock():
    """Held while a deploy picks its UDP ports and saves the record that
    claims them, so that two labs deployed at the same instant do not both
    take a port the other has chosen but not yet recorded."""
    os.makedirs(STATE_ROOT, exist_ok=True)
    with open(os.path.join(STATE_ROOT, ".deploy.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def deployed_labs() -> list[str]:
    if not os.path.isdir(STATE_ROOT):
        return []
    return sorted(d for d in os.listdir(STATE_ROOT)
                  if os.path.exists(os.path.join(STATE_ROOT, d, "state.json")))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False
