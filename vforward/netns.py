"""Network namespaces: create, enter, run commands in, and remove them.

Thin wrappers over iproute2's `ip netns` (named namespaces under
/var/run/netns, which `ip netns exec` and BIRD's tooling understand) plus
`entered(name)`, which moves the calling thread into a namespace for the
length of a `with` block so that a TAP device or socket can be opened there.
"""
from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import signal
import socket
import struct
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


def create_many(names: list[str], sysctls: dict | None = None) -> None:
    """Create named namespaces with their loopback up, and set `sysctls`
    ({"net.ipv4.ip_forward": "0", ...}) in each: one `ip` process for all of
    them, the rest from this process (a lab creates a hundred at once)."""
    if not names:
        return
    p = subprocess.run(["ip", "-batch", "-"], input="".join(f"netns add {n}\n" for n in names),
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise NetnsError(f"'ip netns add' failed: {p.stderr.strip()}")
    for name in names:
        with entered(name):
            for key, value in (sysctls or {}).items():
                with open("/proc/sys/" + key.replace(".", "/"), "w") as f:
                    f.write(f"{value}\n")
            _set_up("lo")


_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1


def _set_up(dev: str) -> None:
    """Bring a device of the current thread's namespace up."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = fcntl.ioctl(s, _SIOCGIFFLAGS, struct.pack("16s24x", dev.encode()))
        flags = struct.unpack_from("16sh", ifr)[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh22x", dev.encode(), flags | _IFF_UP))


def delete_many(names: list[str]) -> None:
    """Remove namespaces (those that exist), killing what still runs in them
    first: one pass over /proc and one `ip` process for all of them."""
    names = [n for n in names if exists(n)]
    if not names:
        return
    inodes = set()
    for n in names:
        with contextlib.suppress(OSError):
            inodes.add(os.stat(os.path.join(NETNS_DIR, n)).st_ino)
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if os.stat(f"/proc/{pid}/ns/net").st_ino in inodes:
                os.kill(int(pid), signal.SIGKILL)
    subprocess.run(["ip", "-force", "-batch", "-"],
                   input="".join(f"netns del {n}\n" for n in names), capture_output=True, text=True)


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
