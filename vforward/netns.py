"""Network namespaces: create, enter, run commands in, and remove them.

Thin wrappers over iproute2's `ip netns` (named namespaces under
/var/run/netns, which `ip netns exec` and BIRD's tooling understand) plus
`entered(name)`, which moves the calling thread into a namespace for the
length of a `with` block so that a TAP device or socket can be opened there.
"""
from __future__ import annotations

import contextlib
import ctypes
import os
import subprocess

CLONE_NEWNET = 0x40000000
NETNS_DIR = "/var/run/netns"

_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(RuntimeError):
    """A namespace operation failed; the message carries the command and its error."""


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Run `ip ARGS` (inside netns if given) and return its stdout."""
    cmd = ["ip"] + (["-n", netns] if netns else []) + list(args)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if check and p.returncode != 0:
        raise NetnsError(f"'{' '.join(cmd)}' failed: {p.stderr.strip()}")
    return p.stdout


def exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def create(name: str) -> None:
    """Create a named namespace with its loopback up."""
    ip("netns", "add", name)
    ip("link", "set", "lo", "up", netns=name)


def delete(name: str) -> None:
    """Remove a namespace; killing what still runs in it first (idempotent)."""
    if not exists(name):
        return
    pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), 9)
    subprocess.run(["ip", "netns", "del", name], capture_output=True)


def list_names() -> list[str]:
    return sorted(os.listdir(NETNS_DIR)) if os.path.isdir(NETNS_DIR) else []


def run(name: str, *cmd: str, check: bool = True, timeout: float | None = 60,
        **kw) -> subprocess.CompletedProcess:
    """Run a command inside namespace `name` and wait for it."""
    p = subprocess.run(["ip", "netns", "exec", name, *cmd], capture_output=True, text=True,
                       timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise NetnsError(f"'{' '.join(cmd)}' in netns {name} failed ({p.returncode}): "
                         f"{(p.stderr or p.stdout).strip()}")
    return p


def popen(name: str, *cmd: str, **kw) -> subprocess.Popen:
    """Start a command inside namespace `name` without waiting."""
    return subprocess.Popen(["ip", "netns", "exec", name, *cmd], **kw)


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise NetnsError(f"setns failed: {os.strerror(err)}")


@contextlib.contextmanager
def entered(name: str | None):
    """Run the block with this thread inside namespace `name` (None: stay put).

    File descriptors opened inside (TAP devices, sockets) stay bound to that
    namespace after the block returns to the original one.
    """
    if not name:
        yield
        return
    path = os.path.join(NETNS_DIR, name)
    if not os.path.exists(path):
        raise NetnsError(f"network namespace {name!r} does not exist (create it with "
                         f"'ip netns add {name}')")
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(path, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(home)
    finally:
        os.close(target)
        os.close(home)


def veth_pair(a: str, ns_a: str | None, b: str, ns_b: str | None) -> None:
    """A veth pair a<->b with each end moved into its namespace and set up."""
    ip("link", "add", a, "type", "veth", "peer", "name", b)
    for dev, ns in ((a, ns_a), (b, ns_b)):
        if ns:
            ip("link", "set", dev, "netns", ns)
        ip("link", "set", dev, "up", netns=ns)
