"""Opening and configuring Linux TUN/TAP devices, in any network namespace.

`open_device` asks /dev/net/tun for a device (TUNSETIFF with IFF_TUN or
IFF_TAP, always IFF_NO_PI) from inside the named namespace, so the device is
born there; the returned fd is non-blocking and bound to that device, which
the kernel removes when the fd is closed.  `configure_device` then sets the
link (MAC, MTU, up), the address and an optional default route with
netlink requests sent from the same namespace (as `ip` would, without a
process per command).

This module knows nothing of elements or packets: KernelTun and KernelTap
use it, and so can a topology builder or a test.
"""
from __future__ import annotations

import errno
import fcntl
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass

from vforward import netns as _netns

TUN_PATH = "/dev/net/tun"
IFNAMSIZ = 16

# <linux/if_tun.h>
TUNSETIFF = 0x400454CA
TUNSETOFFLOAD = 0x400454D0
TUNSETPERSIST = 0x400454CB
TUNSETVNETHDRSZ = 0x400454D8
IFF_TUN = 0x0001
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
IFF_VNET_HDR = 0x4000
TUN_F_CSUM = 0x01       # TUNSETOFFLOAD: the reader takes partial checksums ...
TUN_F_TSO4 = 0x02       # ... and TCP/IPv4 super-frames (GSO),
TUN_F_TSO6 = 0x04       # ... TCP/IPv6 ones,
TUN_F_TSO_ECN = 0x08    # ... with the ECN CWR bit,
TUN_F_USO4 = 0x20       # ... UDP/IPv4 ones,
TUN_F_USO6 = 0x40       # ... UDP/IPv6 ones

# Default names: the kernel replaces %d by the lowest free number.
DEFAULT_TUN_NAME = "vf-tun%d"
DEFAULT_TAP_NAME = "vf-tap%d"


class TunDeviceError(OSError):
    """A TUN/TAP device could not be opened or configured; the message says why and what to do."""


@dataclass
class TunDevice:
    """An open TUN or TAP device: its fd, kernel name and namespace."""
    fd: int
    name: str
    tap: bool
    netns: str | None = None
    vnet_hdr: bool = False

    def close(self) -> None:
        """Close the fd; the kernel removes the (non-persistent) device."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def where(self) -> str:
        return f"{self.name!r} in namespace {self.netns!r}" if self.netns else repr(self.name)


def check_name(name: str) -> None:
    """Raise ValueError unless name is a valid interface name (or a %d pattern)."""
    if not name or len(name.encode()) >= IFNAMSIZ:
        raise ValueError(f"device name {name!r} must have 1 to {IFNAMSIZ - 1} characters")
    if "/" in name or any(c.isspace() for c in name) or name in (".", ".."):
        raise ValueError(f"device name {name!r} may not contain '/' or white space")


def open_device(name: str | None = None, tap: bool = True, netns: str | None = None,
                vnet_hdr: bool = False) -> TunDevice:
    """Create (or attach to) a TUN/TAP device and return it open, non-blocking.

    name None picks the first free vf-tapN / vf-tunN; a name containing %d
    lets the kernel number it.  With netns the device is created inside that
    namespace (which must exist).
    """
    if name is None:
        name = DEFAULT_TAP_NAME if tap else DEFAULT_TUN_NAME
    check_name(name)
    flags = (IFF_TAP if tap else IFF_TUN) | IFF_NO_PI | (IFF_VNET_HDR if vnet_hdr else 0)
    kind = "TAP" if tap else "TUN"
    place = f" in namespace {netns!r}" if netns else ""
    try:
        with _netns.entered(netns):
            fd = os.open(TUN_PATH, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                ifr = fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), flags))
            except OSError:
                os.close(fd)
                raise
    except _netns.NetnsError as e:
        raise TunDeviceError(str(e)) from None
    except FileNotFoundError:
        raise TunDeviceError(f"{TUN_PATH} does not exist: load the 'tun' kernel module "
                             "('modprobe tun') or, in a container, pass the device in") from None
    except PermissionError:
        raise TunDeviceError(f"cannot create {kind} device {name!r}{place}: permission denied; "
                             "run as root or with CAP_NET_ADMIN") from None
    except OSError as e:
        hint = {
            errno.EBUSY: "a device of that name is in use; choose another DEVNAME",
            errno.EINVAL: "a device of that name exists and is not a free "
                          f"{kind} device; choose another DEVNAME",
            errno.EPERM: "run as root or with CAP_NET_ADMIN",
            errno.ENODEV: "load the 'tun' kernel module ('modprobe tun')",
        }.get(e.errno, "")
        raise TunDeviceError(f"cannot create {kind} device {name!r}{place}: {e.strerror}"
                             + (f"; {hint}" if hint else "")) from None
    real_name = ifr[:IFNAMSIZ].split(b"\0", 1)[0].decode()
    return TunDevice(fd, real_name, tap, netns, vnet_hdr)


def set_persist(dev: TunDevice, persist: bool = True) -> None:
    """TUNSETPERSIST: with persist, closing the fd leaves the device in place.

    It then goes when its namespace does, all of a namespace's devices in
    one batch, where closing a non-persistent device's fd unregisters it on
    its own (about 20 ms each, one at a time under the kernel's RTNL lock).
    """
    fcntl.ioctl(dev.fd, TUNSETPERSIST, 1 if persist else 0)


def set_offload(dev: TunDevice, flags: int) -> None:
    """TUNSETOFFLOAD: which offloads (TUN_F_* flags) the reader accepts.

    Only meaningful on a device opened with vnet_hdr=True, whose every frame
    then starts with a struct virtio_net_hdr (10 bytes) in both directions.
    """
    fcntl.ioctl(dev.fd, TUNSETOFFLOAD, flags)


def enable_offloads(dev: TunDevice) -> int:
    """Ask for checksum, TSO and (Linux 6.2 and later) UDP segmentation
    offloads; returns the TUN_F_* flags the kernel took."""
    flags = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6 | TUN_F_TSO_ECN
    try:
        set_offload(dev, flags | TUN_F_USO4 | TUN_F_USO6)
        return flags | TUN_F_USO4 | TUN_F_USO6
    except OSError as e:
        if e.errno != errno.EINVAL:      # an older kernel without USO says EINVAL
            raise
    set_offload(dev, flags)
    return flags


# <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h>, <linux/if_addr.h>
NETLINK_ROUTE = 0
NLMSG_ERROR = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE, NLM_F_REPLACE = 0x1, 0x4, 0x200, 0x400, 0x100
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 20, 24
IFLA_ADDRESS, IFLA_MTU, IFLA_GSO_MAX_SIZE = 1, 4, 41
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_OIF, RTA_GATEWAY = 4, 5
IFF_UP = 0x1
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

_NLMSGHDR = struct.Struct("=IHHII")       # len, type, flags, seq, pid
_IFINFOMSG = struct.Struct("=BxHiII")     # family, type, index, flags, change
_IFADDRMSG = struct.Struct("=BBBBI")      # family, prefixlen, flags, scope, index
_RTMSG = struct.Struct("=BBBBBBBBI")      # family dst_len src_len tos table protocol scope type flags
_RTATTR = struct.Struct("=HH")            # len, type


def _rta(kind: int, payload: bytes) -> bytes:
    """One netlink attribute, padded to 4 bytes."""
    n = _RTATTR.size + len(payload)
    return _RTATTR.pack(n, kind) + payload + b"\0" * (-n % 4)


class _Rtnl:
    """A netlink route socket in a namespace: what `ip link/addr/route` would
    send, without starting a process per command (a lab has hundreds)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  NETLINK_ROUTE)
        self.seq = 0

    def request(self, kind: int, flags: int, body: bytes) -> None:
        """Send one request and wait for its acknowledgement; OSError on refusal."""
        self.seq += 1
        self.sock.send(_NLMSGHDR.pack(_NLMSGHDR.size + len(body), kind,
                                      NLM_F_REQUEST | NLM_F_ACK | flags, self.seq, 0) + body)
        while True:
            data = self.sock.recv(65536)
            off = 0
            while off + _NLMSGHDR.size <= len(data):
                length, mtype, _, seq, _ = _NLMSGHDR.unpack_from(data, off)
                if mtype == NLMSG_ERROR and seq == self.seq:
                    err = -struct.unpack_from("=i", data, off + _NLMSGHDR.size)[0]
                    if err:
                        raise OSError(err, os.strerror(err))
                    return
                off += (length + 3) & ~3

    def close(self) -> None:
        self.sock.close()


def _default_route_is(dev: TunDevice, gateway) -> bool:
    """True when the existing default route is this one (via gateway on dev): a
    restarted router opening its persistent device again finds its own route."""
    import json
    import subprocess
    cmd = ["ip"] + (["-n", dev.netns] if dev.netns else []) + ["-j", "route", "show", "default"]
    try:
        routes = json.loads(subprocess.run(cmd, capture_output=True, text=True,
                                           timeout=10).stdout or "[]")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return False
    return any(r.get("gateway") == str(gateway) and r.get("dev") == dev.name for r in routes)


def configure_device(dev: TunDevice, address: int = 0, prefixlen: int = 32,
                     mtu: int | None = None, ether: bytes | None = None,
                     gateway: int = 0, gso_max_size: int | None = None) -> None:
    """Bring the device up with its MAC/MTU (and largest GSO frame), give the kernel side an address
    (none when address is 0) and, with a gateway, add a default route via it
    (Click's GATEWAY; fails if the namespace has a default route already)."""
    nl = None
    try:
        with _netns.entered(dev.netns):
            nl = _Rtnl()
            index = socket.if_nametoindex(dev.name)
    except (_netns.NetnsError, OSError) as e:
        if nl is not None:
            nl.close()
        raise TunDeviceError(f"configuring device {dev.where()}: {e}") from None
    step = "setting its link (MAC, MTU, up)"
    try:
        attrs = b""
        if ether is not None:
            attrs += _rta(IFLA_ADDRESS, bytes(ether))
        if mtu is not None:
            attrs += _rta(IFLA_MTU, struct.pack("=I", mtu))
        if gso_max_size is not None:
            attrs += _rta(IFLA_GSO_MAX_SIZE, struct.pack("=I", gso_max_size))
        nl.request(RTM_NEWLINK, 0,
                   _IFINFOMSG.pack(socket.AF_UNSPEC, 0, index, IFF_UP, IFF_UP) + attrs)
        if address:
            step = f"adding address {ipaddress.IPv4Address(address)}/{prefixlen}"
            a = address.to_bytes(4, "big")
            nl.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE,
                       _IFADDRMSG.pack(socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE, index)
                       + _rta(IFA_LOCAL, a) + _rta(IFA_ADDRESS, a))
        if gateway:
            gw = ipaddress.IPv4Address(gateway)
            step = f"adding the default route via {gw}"
            try:
                nl.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL,
                           _RTMSG.pack(socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                                       RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
                           + _rta(RTA_GATEWAY, gw.packed) + _rta(RTA_OIF, struct.pack("=i", index)))
            except FileExistsError:
                if not _default_route_is(dev, gw):
                    where = f"namespace {dev.netns!r}" if dev.netns else "this host"
                    raise TunDeviceError(f"{where} already has a default route; remove GATEWAY "
                                         "or the existing route") from None
    except OSError as e:
        if isinstance(e, TunDeviceError):
            raise
        raise TunDeviceError(f"configuring device {dev.where()}: {step}: {e.strerror}") from None
    finally:
        nl.close()
