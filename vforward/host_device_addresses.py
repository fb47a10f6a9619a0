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


# -- a static check reads no devices ------------------------------------------------
# `vforward check` parses and builds a configuration without touching devices
# (as click-flatten does): a name that could be a host device, where an
# address is expected and no AddressInfo defines it, is then taken as a
# device to be read when the router runs, and the check warns about it.
# `vforward run` reads the device, and fails clearly when there is none.

_DEVICE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,14}")
_deferred: list[dict] = []


class devices_read_at_run:
    """`with devices_read_at_run() as names:` address arguments naming a device this
    machine lacks get a placeholder; `names` collects them (name -> where)."""

    def __enter__(self) -> dict:
        _deferred.append({})
        return _deferred[-1]

    def __exit__(self, *exc):
        _deferred.pop()


def looks_like_device(name: str) -> bool:
    return bool(_DEVICE_NAME.fullmatch(name)) and any(c.isdigit() for c in name)


def defer_missing_device(name: str) -> bool:
    """True when a static check takes `name` as a device to be read at run time."""
    if not _deferred or not looks_like_device(name) or device_entry(name) is not None:
        return False
    _deferred[-1].setdefault(name, None)
    return True


def missing_device_hint(text: str) -> str:
    """'; ...' explaining an address argument that names no device, or ''."""
    name = text.strip().partition(":")[0]
    if not looks_like_device(name) or device_entry(name) is not None:
        return ""
    return (f"; no AddressInfo defines {name!r} and this machine has no network device "
            f"{name!r} (a device's name stands for its addresses, read when the router "
            "starts): create the device, or give the address itself")
