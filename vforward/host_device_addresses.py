"""A host network device's own addresses, for arguments that name a device
(Click reads `eth0` as eth0's IPv4 address, its Ethernet address or, as
`eth0:gw`, the default gateway reached through it).

Read from the running system: the device's first IPv4 address and prefix
(SIOCGIFADDR / SIOCGIFNETMASK), its MAC from sysfs, and the default route
through it from /proc/net/route.  A name that is no device here, or a
device without the address asked for, gives nothing, and the caller says
what it expected.
"""
from __future__ import annotations

import difflib
import fcntl
import functools
import os
import re
import socket
import struct

_SIOCGIFADDR, _SIOCGIFNETMASK = 0x8915, 0x891B


def _ifreq(sock, request: int, name: str) -> int | None:
    try:
        raw = fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()[:15]))
    except OSError:
        return None
    return int.from_bytes(raw[20:24], "big")


def _default_gateway(name: str) -> int | None:
    try:
        with open("/proc/net/route") as f:
            rows = [ln.split() for ln in f.read().splitlines()[1:]]
    except OSError:
        return None
    for row in rows:
        if len(row) >= 8 and row[0] == name and row[1] == "00000000" and row[7] == "00000000":
            return int.from_bytes(bytes.fromhex(row[2])[::-1], "big")
    return None


@functools.lru_cache(maxsize=64)
def device_entry(name: str) -> dict | None:
    """{'ip': (addr, plen), 'eth': mac bytes, 'gw': (addr, 32)} for a host device,
    with only the keys it has; None if no device has this name."""
    if not name or "/" in name or not os.path.exists(f"/sys/class/net/{name}"):
        return None
    entry: dict = {}
    try:
        with open(f"/sys/class/net/{name}/address") as f:
            mac = bytes.fromhex(f.read().strip().replace(":", ""))
        if len(mac) == 6:
            entry["eth"] = mac
    except (OSError, ValueError):
        pass
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        addr = _ifreq(sock, _SIOCGIFADDR, name)
        mask = _ifreq(sock, _SIOCGIFNETMASK, name)
    if addr is not None:
        entry["ip"] = (addr, bin(mask or 0xFFFFFFFF).count("1"))
    gw = _default_gateway(name)
    if gw is not None:
        entry["gw"] = (gw, 32)
    return entry


# -- a static check ------------------------------------------------------------------
# `vforward check` parses and builds a configuration without opening devices
# (as click-flatten does), but it looks their names up in this network
# namespace: a device an element opens (FromDevice, ToDevice) or whose
# addresses an argument names (`ARPQuerier(10.0.0.1, eth1)`), and that is not
# here, is an error naming the element's place and the devices that are.
# A configuration meant for another machine is checked offline (`vforward
# check --no-devices`): such a device then gets a placeholder and the check
# warns, at the place, that it is read when the router runs.
# `vforward run` reads the device, and fails clearly when there is none.

_DEVICE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,14}")
_checks: list["static_check"] = []

NO_DEVICES_ADVICE = ("a configuration meant for another machine is checked with "
                     "'vforward check --no-devices'")


class static_check:
    """`with static_check(offline) as missing:` a `vforward check` reads a configuration.
    Offline, a device name this machine lacks gets a placeholder and `missing`
    collects it: name -> (the place of the first element naming it, a warning)."""

    def __init__(self, offline: bool = True):
        self.offline = offline
        self.missing: dict = {}

    def __enter__(self) -> dict:
        _checks.append(self)
        return self.missing

    def __exit__(self, *exc):
        _checks.pop()


def devices_read_at_run() -> static_check:
    """An offline static check (`vforward check --no-devices`)."""
    return static_check(offline=True)


def static_check_active() -> bool:
    return bool(_checks)


def looks_like_device(name: str) -> bool:
    return bool(_DEVICE_NAME.fullmatch(name)) and any(c.isdigit() for c in name)


def close_devices(name: str) -> str:
    """" (did you mean 'eth0'?)" naming this namespace's devices close to `name`, or ''."""
    try:
        here = os.listdir("/sys/class/net")
    except OSError:
        return ""
    close = difflib.get_close_matches(name, here, n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in close) + "?)"


def _where_read() -> str:
    from vforward.args import configure_location
    return configure_location()


def defer_missing_device(name: str) -> bool:
    """True when an offline static check takes `name` as a device to be read at run time."""
    if not _checks or not _checks[-1].offline or not looks_like_device(name) \
            or device_entry(name) is not None:
        return False
    _checks[-1].missing.setdefault(name, (_where_read(), (
        f"{name!r} is neither an AddressInfo name nor a network device here"
        f"{close_devices(name)}: taken as a host device whose addresses are read when the "
        "router runs (vforward run fails if it is still missing)")))
    return True


def device_read_at_run(name: str) -> bool:
    """True when an offline static check has taken `name` for a device read at run time."""
    return bool(_checks) and _checks[-1].offline and name in _checks[-1].missing


def missing_device_hint(text: str) -> str:
    """'; ...' explaining an address argument that names no device, or ''."""
    name = text.strip().partition(":")[0]
    if not looks_like_device(name) or device_entry(name) is not None:
        return ""
    advice = f"; {NO_DEVICES_ADVICE}" if _checks else ""
    return (f"; no AddressInfo defines {name!r} and this machine has no network device "
            f"{name!r}{close_devices(name)}, whose addresses would be read when the router "
            f"starts: create the device, or give the address itself{advice}")


def missing_opened_device(devname: str, netns: str | None, where: str, loc) -> str | None:
    """In a static check, the error for a device an element opens that is not in this
    network namespace (None if it is, or if no check runs).  Offline, the device is
    noted with a warning instead.  A device in another namespace (NETNS) is not looked up."""
    if not _checks or netns or os.path.exists(f"/sys/class/net/{devname}"):
        return None
    if _checks[-1].offline:
        _checks[-1].missing.setdefault(devname, (loc, (
            f"{where}: no network device {devname!r} here{close_devices(devname)}: the "
            "router opens it when it runs (vforward run fails if it is still missing)")))
        return None
    return (f"{where}: no network device {devname!r} in this network namespace"
            f"{close_devices(devname)}; fix the name, or create the device before the router "
            f"runs ('ip link' lists them); {NO_DEVICES_ADVICE}")
