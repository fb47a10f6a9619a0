"""Device offloads through the legacy ethtool ioctl (SIOCETHTOOL), in a namespace."""
from __future__ import annotations

import ctypes
import fcntl
import socket
import struct

from vforward import netns as ns

SIOCETHTOOL = 0x8946
ETHTOOL_STSO = 0x1F
ETHTOOL_SGRO = 0x2C


def _ethtool_set(space: str, dev: str, cmd: int, value: int) -> None:
    """A legacy ethtool 'set' (struct ethtool_value) on dev inside namespace space."""
    with ns.entered(space):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        arg = ctypes.create_string_buffer(struct.pack("II", cmd, value), 8)
        ifr = struct.pack("16sP", dev.encode(), ctypes.addressof(arg)).ljust(40, b"\0")
        fcntl.ioctl(sock.fileno(), SIOCETHTOOL, ifr)
    finally:
        sock.close()


def offloads_off(space: str, dev: str) -> None:
    """TSO and GRO off: the device passes MTU-sized frames only."""
    for cmd in (ETHTOOL_STSO, ETHTOOL_SGRO):
        _ethtool_set(space, dev, cmd, 0)
