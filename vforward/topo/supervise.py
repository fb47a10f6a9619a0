"""Supervision of a lab's router processes: noticed when they die, restarted by policy.

Processes are known by identity, not by a bare PID that the system may have
given to someone else since: a record holds the pid, the process's start
time (field 22 of /proc/PID/stat, clock ticks since boot) and its command
line, and a process is the lab's only while all three match.  Signals go
through a pidfd opened after the identity is checked, so that the process
signalled is the process checked.

Every deployed user-mode lab has a supervisor (`vforward topo supervise
LABDIR`, started by deploy), which watches the router processes through
pidfds (readable once the process has exited) and applies the lab's
`restart:` policy, as containerlab and Kubernetes name theirs:

    on-failure (default)  restart a process killed by a signal or exiting
                          non-zero (an element raised); a clean exit (the
                          `stop` handler) stays down
    always                restart whatever the exit
    never                 leave it down

A restarted process runs the same nodes from the same generated configs:
its TAP devices, which outlive it in their namespaces, with their
addresses, are opened again, and its routes come back from the node's
kernel table, where the routing daemon keeps them; what was set by hand
(manual routes, per-flow paths, recorded in LABDIR) is re-applied before the
process is reported running.  A restart asked for (`vforward topo restart`,
a scenario's node event) leaves a mark in LABDIR/restart-requests/PID and
stops the process; the supervisor restarts a marked process whatever the
policy, by the same path as after a crash.  The supervisor writes
LABDIR/supervisor.json (each process: pid, state, restarts, how long the
last restart took), which `inspect`, `validate` and `destroy` read.
"""
from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time

POLICIES = ("always", "on-failure", "never")
DEFAULT_POLICY = "on-failure"
STATUS_FILE = "supervisor.json"
READY_TIMEOUT = 60.0
REQUESTS = "restart-requests"     # LABDIR/restart-requests/PID: stop PID, restart it whatever the policy


# -- process identity ----------------------------------------------------------

def process_identity(pid: int) -> dict | None:
    """{"pid", "start", "cmd"} of a live (not zombie) process, or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmd = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return None
    if fields[0] == "Z":
        return None
    return {"pid": pid, "start": int(fields[19]), "cmd": cmd}


def lab_workers_by_command_line(lab_dir: str) -> list[dict]:
    """The live processes whose command line is `... vforward topo worker LAB_DIR ...`:
    a worker the supervisor was starting when it was stopped, before it could be
    recorded.  Matched by the lab's own folder, so no other lab's process is named."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        words = [a.decode("utf-8", "replace") for a in args]
        for i in range(len(words) - 3):
            if words[i:i + 4] == ["vforward", "topo", "worker", lab_dir]:
                ident = process_identity(int(name))
                if ident is not None:
                    out.append(ident)
                break
    return out


def same_process(record: dict) -> bool:
    """True while the process `record` names is alive and is the one recorded."""
    now = process_identity(int(record["pid"]))
    if now is None:
        return False
    if "start" not in record:          # a record from before identities were kept
        return True
    return now["start"] == record["start"] and now["cmd"] == record.get("cmd", now["cmd"])


def identify(record: dict) -> dict:
    """record with the identity of its (just started) process added."""
    ident = process_identity(int(record["pid"]))
    if ident is not None:
        record.update(start=ident["start"], cmd=ident["cmd"])
    return record


def signal_process(record: dict, sig: int) -> bool:
    """Send sig to the recorded process if, and only if, it is still that process.
    False when it is gone or is now another program."""
    try:
        fd = os.pidfd_open(int(record["pid"]))
    except (ProcessLookupError, OSError):
        return False
    try:
        if not same_process(record):      # checked after the pidfd pins the process
            return False
        signal.pidfd_send_signal(fd, sig)
        return True
    except ProcessLookupError:
        return False
    finally:
        os.close(fd)


# -- the status file -----------------------------------------------------------

def read_status(lab_dir: str) -> dict | None:
    try:
        with open(os.path.join(lab_dir, STATUS_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_status(lab_dir: str, status: dict) -> None:
    workers = [{k: v for k, v in w.items() if k != "_fd"} for w in status["workers"]]
    path = os.path.join(lab_dir, STATUS_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump(dict(status, workers=workers), f, indent=2)
    os.replace(path + ".tmp", path)


def current_workers(st) -> list[dict]:
    """The lab's router processes now: the supervisor's view when it has one
    (it knows the restarted ones), else the deploy record's."""
    status = read_status(st.directory)
    if status is not None:
        return status["workers"]
    return [dict(w, state="running" if same_process(w) else "down") for w in st.workers]


def down_nodes(st) -> dict:
    """node -> why, for every router whose process is not running now."""
    out = {}
    for w in current_workers(st):
        if w.get("state") != "running" or not same_process(w):
            why = w.get("last_exit") or "its process is gone"
            for node in w["nodes"]:
                out[node] = f"router process {w['pid']} down ({why})"
    for d in st.daemons:      # an emulated host's `vforward node run` (vforward.node.emulate)
        if d.get("what") == "node" and not same_process(d):
            out[d["node"]] = f"node run {d['pid']} down (see {d.get('log')})"
    return out


# -- the supervisor ------------------------------------------------------------

def _exit_reason(lab_dir: str, pid: int) -> tuple[str, bool]:
    """(how the process ended, whether that is a failure).  A worker writes
    ready/PID.exit with its exit code; without one it was killed."""
    try:
        with open(os.path.join(lab_dir, "ready", f"{pid}.exit")) as f:
            code = int(f.read().strip() or 1)
    except (OSError, ValueError):
        return "killed", True
    return (f"exit {code}", code != 0)


def request_restart(lab_dir: str, record: dict) -> bool:
    """Ask the supervisor to restart the worker `record` names: mark it, then
    stop it (SIGTERM); the supervisor sees it exit, finds the mark and starts
    it again whatever the lab's policy.  False when the process is already gone."""
    folder = os.path.join(lab_dir, REQUESTS)
    os.makedirs(folder, exist_ok=True)
    mark = os.path.join(folder, str(record["pid"]))
    with open(mark, "w") as f:
        f.write("restart requested\n")
    if not signal_process(record, signal.SIGTERM):
        os.unlink(mark)
        return False
    return True


def _take_request(lab_dir: str, pid: int) -> bool:
    try:
        os.unlink(os.path.join(lab_dir, REQUESTS, str(pid)))
        return True
    except FileNotFoundError:
        return False


def restore_state(lab_dir: str, nodes: list[str]) -> str:
    """Re-apply what was set by hand on nodes' routers (manual routes,
    per-flow paths) after their process started again; what was done."""
    from vforward.experiment.restore import restore_nodes
    from vforward.topo.state import LabState
    with open(os.path.join(lab_dir, "state.json")) as f:
        st = LabState(**json.load(f))
    return restore_nodes(st, nodes)


def start_worker(lab_dir: str, nodes: list[str], log: str) -> dict:
    """Start one worker for nodes (as deploy's do), its record once it is ready."""
    with open(log, "a") as out:
        p = subprocess.Popen([sys.executable, "-m", "vforward", "topo", "worker", lab_dir, *nodes],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                             start_new_session=True)
    ready = os.path.join(lab_dir, "ready", str(p.pid))
    deadline = time.monotonic() + READY_TIMEOUT
    while not os.path.exists(ready):
        if p.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"restarted worker for {', '.join(nodes)} did not come up; "
                               f"see {log}")
        time.sleep(0.02)
    p.returncode = 0          # detached: reaped by the supervisor's own loop
    # identified once ready: by then it has exec'd, and /proc shows its own command line
    return identify({"pid": p.pid, "nodes": nodes, "log": log})


class Supervisor:
    """Watches a lab's workers; restarts them by policy.  run() until SIGTERM."""

    def __init__(self, lab_dir: str, policy: str, workers: list[dict]):
        self.lab_dir = lab_dir
        self.policy = policy
        self.workers = [dict(w, state="running", restarts=0) for w in workers]
        self._stop = False

    def _save(self) -> None:
        _write_status(self.lab_dir, {"policy": self.policy, "supervisor": os.getpid(),
                                     "workers": self.workers})

    def run(self, poll: float = 1.0) -> int:
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "_stop", True))
        self._save()
        fds: dict[int, dict] = {}
        while not self._stop:
            for w in self.workers:
                if w["state"] == "running" and w.get("_fd") is None:
                    try:
                        w["_fd"] = os.pidfd_open(w["pid"])
                    except OSError:
                        w["_fd"] = -1
                    if w["_fd"] >= 0 and not same_process(w):
                        os.close(w["_fd"])
                        w["_fd"] = -1
                    if w["_fd"] >= 0:
                        fds[w["_fd"]] = w
            dead = [w for w in self.workers if w["state"] == "running" and w["_fd"] == -1]
            try:
                ready, _, _ = select.select(list(fds), [], [], poll)
            except InterruptedError:
                ready = []
            for fd in ready:
                dead.append(fds.pop(fd))
                os.close(fd)
            for w in dead:
                self._died(w)
            self._reap()
        return 0

    def _reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return

    def _died(self, w: dict) -> None:
        w["_fd"] = None
        if self._stop:
            return
        why, failed = _exit_reason(self.lab_dir, w["pid"])
        requested = _take_request(self.lab_dir, w["pid"])
        if requested:
            why = "restart requested"
        w.update(state="down", last_exit=why, down_at=time.time())
        self._save()
        if not requested and (self.policy == "never" or
                              (self.policy == "on-failure" and not failed)):
            return
        t0 = time.monotonic()
        try:
            new = start_worker(self.lab_dir, w["nodes"], w["log"])
        except (RuntimeError, OSError) as e:
            w["last_error"] = str(e)
            self._save()
            return
        took = round(time.monotonic() - t0, 3)
        # Before the record says running, so that whoever waits for that finds them back.
        try:
            restored = restore_state(self.lab_dir, w["nodes"])
            w.pop("restore_error", None)
        except Exception as e:      # the router runs regardless; say what is missing
            restored = ""
            w["restore_error"] = f"{type(e).__name__}: {e}"
        w.update(pid=new["pid"], start=new.get("start"), cmd=new.get("cmd"), state="running",
                 restarts=w["restarts"] + 1, last_restart_s=took, restored=restored)
        print(f"restarted {', '.join(w['nodes'])} ({why}) as process {w['pid']} in "
              f"{took:.2f}s" + (f"; {restored}" if restored else "") +
              (f"; could not re-apply: {w['restore_error']}" if "restore_error" in w else ""),
              flush=True)
        self._save()


def start_supervisor(st, policy: str) -> dict:
    """Start the lab's supervisor as a process of its own; its record."""
    log = os.path.join(st.directory, "logs", "supervisor.log")
    with open(log, "a") as out:
        p = subprocess.Popen([sys.executable, "-m", "vforward", "topo", "supervise",
                              st.directory, policy], stdin=subprocess.DEVNULL, stdout=out,
                             stderr=out, start_new_session=True)
    deadline = time.monotonic() + 20
    while read_status(st.directory) is None:     # written once it runs: exec'd by then
        if p.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the lab's supervisor did not start; see {log}")
        time.sleep(0.02)
    return identify({"pid": p.pid})


def run_supervisor(lab_dir: str, policy: str) -> int:
    """`vforward topo supervise LABDIR POLICY`: watch the workers state.json names."""
    with open(os.path.join(lab_dir, "state.json")) as f:
        workers = json.load(f)["workers"]
    return Supervisor(lab_dir, policy, workers).run()
