"""CPU and memory limits for a lab's processes, on cgroup v2 or cgroup v1.

`detect()` returns the controller set this machine offers, behind one small
interface (`CgroupTree`): `make(parts)` creates a group (a lab, a node in
it), `limit(group, cpu, memory)` writes its limits, `join(group, pid)` moves
a process in, `read(group)` gives its use and limits back, `remove(group)`
deletes it.  A group is a list of directories: one on v2, one per
controller (cpu, cpuacct, memory) on v1.

cgroup v2 (one unified tree with the `cpu` and `memory` controllers):
    cpu.max "QUOTA PERIOD" (cpu 0.5 -> "50000 100000"), cpu.weight
    (100 per CPU, so limited nodes share a busy machine in proportion),
    memory.max in bytes; use from cpu.stat (usage_usec, throttled_usec,
    nr_throttled) and memory.current.  The groups live under
    MOUNT/vforward: the root of the tree is the one place processes and
    enabled controllers may sit side by side.
cgroup v1 (a hierarchy per controller):
    cpu.cfs_quota_us / cpu.cfs_period_us, cpu.shares (1024 per CPU),
    memory.limit_in_bytes; use from cpuacct.usage, cpu.stat (throttled_time,
    nr_throttled) and memory.usage_in_bytes.  The groups live under the
    deploying process's own group of each hierarchy (+ /vforward), so
    whatever already accounts for it still accounts for the lab.

Neither available: CgroupError says what was found and what is missing.
"""
from __future__ import annotations

import os
import re

PERIOD_US = 100_000
TOP = "vforward"


class CgroupError(RuntimeError):
    """No usable cgroup controllers, or a write the kernel refused; the message says which."""


def parse_memory(text) -> int:
    """'256M', '1G', '512Mi', '1048576' -> bytes (K/M/G/T are powers of 1024, as the kernel's)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B?)\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"memory '{text}' is not a size such as 256M, 1G or 1048576")
    value = float(m.group(1)) * 1024 ** " KMGT".index((m.group(2) or " ").upper())
    if value < 4 * 1024 ** 2:
        raise ValueError(f"memory '{text}' is below 4M; a router needs tens of megabytes")
    return int(value)


def _mounts() -> list[tuple[str, str, set]]:
    """(type, mount point, options) of every cgroup mount."""
    out = []
    with open("/proc/mounts") as f:
        for line in f:
            _, point, kind, opts, *_ = line.split()
            if kind in ("cgroup", "cgroup2"):
                out.append((kind, point, set(opts.split(","))))
    return out


def _own_path(controller: str) -> str:
    """This process's group in the v1 hierarchy of `controller` ('/' if none)."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, names, path = line.rstrip("\n").split(":", 2)
            if controller in names.split(","):
                return path
    return "/"


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as e:
        raise CgroupError(f"cannot write '{value}' to {path}: {e.strerror}") from None


def _read(path: str, default: str = "") -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _stat(path: str) -> dict:
    return {k: int(v) for k, v in (line.split() for line in _read(path).splitlines() if line)}


class CgroupTree:
    """The common shape of the v2 and v1 trees."""
    version = 0

    def make(self, parts: list[str]) -> list[str]:
        """Create TOP/parts... (each level) and return the group's directories."""
        raise NotImplementedError

    def limit(self, group: list[str], cpu: float | None, memory: int | None) -> None:
        raise NotImplementedError

    def read(self, group: list[str]) -> dict:
        """{cpu_limit, memory_limit, cpu_s, throttled_s, nr_throttled, memory_bytes}."""
        raise NotImplementedError

    def join(self, group: list[str], pid: int) -> None:
        for d in group:
            _write(os.path.join(d, "cgroup.procs"), str(pid))

    def remove(self, group: list[str]) -> None:
        """rmdir the group (its processes must be gone); a group already gone is fine."""
        for d in group:
            try:
                os.rmdir(d)
            except FileNotFoundError:
                pass
            except OSError as e:
                raise CgroupError(f"cannot remove cgroup {d}: {e.strerror}") from None


class CgroupV2(CgroupTree):
    version = 2

    def __init__(self, mount: str):
        self.mount = mount

    def make(self, parts: list[str]) -> list[str]:
        d = self.mount
        for part in [TOP, *parts]:
            self._enable(d)
            d = os.path.join(d, part)
            os.makedirs(d, exist_ok=True)
        return [d]

    def _enable(self, d: str) -> None:
        have = set(_read(os.path.join(d, "cgroup.subtree_control")).split())
        if not {"cpu", "memory"} <= have:
            _write(os.path.join(d, "cgroup.subtree_control"), "+cpu +memory")

    def limit(self, group, cpu, memory) -> None:
        d = group[0]
        if cpu is not None:
            _write(os.path.join(d, "cpu.max"), f"{max(1000, round(cpu * PERIOD_US))} {PERIOD_US}")
            _write(os.path.join(d, "cpu.weight"), str(min(10000, max(1, round(cpu * 100)))))
        if memory is not None:
            _write(os.path.join(d, "memory.max"), str(memory))

    def read(self, group) -> dict:
        d = group[0]
        quota, _, period = _read(os.path.join(d, "cpu.max"), "max").partition(" ")
        mem = _read(os.path.join(d, "memory.max"), "max")
        st = _stat(os.path.join(d, "cpu.stat"))
        return {"cpu_limit": None if quota == "max" else int(quota) / int(period or PERIOD_US),
                "memory_limit": None if mem == "max" else int(mem),
                "cpu_s": st.get("usage_usec", 0) / 1e6,
                "throttled_s": st.get("throttled_usec", 0) / 1e6,
                "nr_throttled": st.get("nr_throttled", 0),
                "memory_bytes": int(_read(os.path.join(d, "memory.current"), "0"))}


# A v1 limit beyond this is "no limit" (the kernel's is the page-rounded LONG_MAX).
V1_UNLIMITED = 1 << 62


class CgroupV1(CgroupTree):
    version = 1

    def __init__(self, cpu: str, cpuacct: str, memory: str):
        self.roots = {"cpu": cpu, "cpuacct": cpuacct, "memory": memory}

    def make(self, parts: list[str]) -> list[str]:
        group, seen = [], set()
        for controller, mount in self.roots.items():
            d = os.path.join(mount, _own_path(controller).lstrip("/"), TOP, *parts)
            if d not in seen:      # cpu and cpuacct may share one hierarchy
                os.makedirs(d, exist_ok=True)
                group.append(d)
                seen.add(d)
        return group

    def _dir(self, group, controller: str) -> str:
        root = os.path.realpath(self.roots[controller])
        return next(d for d in group if os.path.realpath(d).startswith(root + os.sep))

    def limit(self, group, cpu, memory) -> None:
        if cpu is not None:
            d = self._dir(group, "cpu")
            _write(os.path.join(d, "cpu.cfs_period_us"), str(PERIOD_US))
            _write(os.path.join(d, "cpu.cfs_quota_us"), str(max(1000, round(cpu * PERIOD_US))))
            _write(os.path.join(d, "cpu.shares"), str(max(2, round(cpu * 1024))))
        if memory is not None:
            _write(os.path.join(self._dir(group, "memory"), "memory.limit_in_bytes"), str(memory))

    def read(self, group) -> dict:
        cpu, acct, mem = (self._dir(group, c) for c in ("cpu", "cpuacct", "memory"))
        quota = int(_read(os.path.join(cpu, "cpu.cfs_quota_us"), "-1"))
        period = int(_read(os.path.join(cpu, "cpu.cfs_period_us"), str(PERIOD_US)))
        limit = int(_read(os.path.join(mem, "memory.limit_in_bytes"), "0"))
        st = _stat(os.path.join(cpu, "cpu.stat"))
        return {"cpu_limit": None if quota < 0 else quota / period,
                "memory_limit": None if not limit or limit >= V1_UNLIMITED else limit,
                "cpu_s": int(_read(os.path.join(acct, "cpuacct.usage"), "0")) / 1e9,
                "throttled_s": st.get("throttled_time", 0) / 1e9,
                "nr_throttled": st.get("nr_throttled", 0),
                "memory_bytes": int(_read(os.path.join(mem, "memory.usage_in_bytes"), "0"))}


def detect() -> CgroupTree:
    """The cgroup tree with cpu and memory controllers: v2 if it has both, else v1."""
    mounts = _mounts()
    v2 = [point for kind, point, _ in mounts if kind == "cgroup2"]
    for point in v2:
        if {"cpu", "memory"} <= set(_read(os.path.join(point, "cgroup.controllers")).split()):
            return CgroupV2(point)
    v1 = {}
    for kind, point, opts in mounts:
        if kind == "cgroup":
            for controller in ("cpu", "cpuacct", "memory"):
                if controller in opts:
                    v1.setdefault(controller, point)
    if {"cpu", "cpuacct", "memory"} <= set(v1):
        return CgroupV1(v1["cpu"], v1["cpuacct"], v1["memory"])
    found = ", ".join(f"cgroup2 at {p} with controllers "
                      f"'{_read(os.path.join(p, 'cgroup.controllers')) or 'none'}'" for p in v2)
    found += ("; " if found and v1 else "") + ", ".join(f"cgroup v1 {c} at {p}" for c, p in v1.items())
    missing = sorted({"cpu", "cpuacct", "memory"} - set(v1))
    raise CgroupError("resources: need cgroup v2 with the cpu and memory controllers, or cgroup v1 "
                      f"cpu, cpuacct and memory hierarchies; found {found or 'no cgroup mount'}"
                      f" (v1 lacks {', '.join(missing)}). Mount one (e.g. 'mount -t cgroup2 none "
                      "/sys/fs/cgroup') or remove resources: from the lab")
