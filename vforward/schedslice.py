"""A short scheduler slice for a latency-bound process (Linux EEVDF, 6.12 and later).

A lab's router processes sleep between packets and must run as soon as a
packet wakes them.  On a busy machine a woken process waits in the run queue
behind the task on its CPU: the fair scheduler lets that task finish its
slice (about 3 ms on two CPUs) before the woken one runs, and an idle RTT
across a lab pays that at every wake-up of every process on the path.
Since Linux 6.12 a task may ask for a shorter slice (sched_setattr with
sched_runtime set, policy SCHED_OTHER): its virtual deadline comes sooner,
so it preempts the running task when it wakes, and it gives the CPU back
sooner too.  Its share of the CPU does not change (that is what nice does),
so a flooded router takes no more than before from the machine's other
work.  The kernel keeps a slice between 0.1 ms and 100 ms; kernels without
custom slices refuse or ignore the request, and nothing else changes then.

Measured on the bundled ring (bench/bench_lab_legs.py and ping across it
with the workers' slices switched in place, a 2-CPU VM at load 10-11):
idle RTT p50 1.33-1.37 ms with 100 µs slices against 1.45-4.16 ms with the
default.
"""
from __future__ import annotations

import ctypes
import os
import platform

# sched_setattr's system call number per architecture (absent elsewhere).
_SYS_SCHED_SETATTR = {"x86_64": 314, "aarch64": 274, "arm64": 274}
_SYS_SCHED_GETATTR = {"x86_64": 315, "aarch64": 275, "arm64": 275}
SCHED_OTHER = 0
DEFAULT_SLICE = 100e-6


class _SchedAttr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
                ("sched_flags", ctypes.c_uint64), ("sched_nice", ctypes.c_int32),
                ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
                ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64),
                ("sched_util_min", ctypes.c_uint32), ("sched_util_max", ctypes.c_uint32)]


def request_slice(seconds: float = DEFAULT_SLICE, tid: int = 0) -> bool:
    """Ask for a fair-scheduler slice of `seconds` for thread `tid` (0: the
    calling one; threads it starts later inherit it), keeping its nice
    value.  True when the kernel took it; False where it cannot (another
    architecture or OS, a kernel before 6.12 refuses a runtime, or the
    thread runs under another policy)."""
    number = _SYS_SCHED_SETATTR.get(platform.machine())
    if number is None or not hasattr(os, "sched_getscheduler"):
        return False
    try:
        if os.sched_getscheduler(tid) != os.SCHED_OTHER:
            return False            # a real-time or batch policy chosen by the user: leave it
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return False
    attr = _SchedAttr(size=ctypes.sizeof(_SchedAttr), sched_policy=SCHED_OTHER, sched_nice=nice,
                      sched_runtime=int(seconds * 1e9))
    return libc.syscall(number, tid, ctypes.byref(attr), 0) == 0


def current_slice(tid: int = 0) -> float | None:
    """The slice thread `tid` runs with, in seconds, or None where it cannot be read."""
    number = _SYS_SCHED_GETATTR.get(platform.machine())
    if number is None:
        return None
    attr = _SchedAttr()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    if libc.syscall(number, tid, ctypes.byref(attr), ctypes.sizeof(attr), 0) != 0:
        return None
    return attr.sched_runtime / 1e9
