"""Ethernet and ARP frame layout, and header edits over whole batches.

The elements of this folder read and write the same few fixed-offset
fields: the 14-byte Ethernet header and the 28-byte ARP message for IPv4
over Ethernet that follows it.  Their numbers live here once, with the
batch operations they all use: gathering a fixed span of every packet's
bytes into one (n, k) array, scattering such an array back, and pushing a
header into the headroom of every packet at once, all with numpy fancy
indexing and no loop over packets.
"""
from __future__ import annotations

import ipaddress

import numpy as np

from vforward.args import ArgumentError
from vforward.element import HandlerError
from vforward.packet import PacketPool

ETHER_HEADER_LEN = 14
ETHERTYPE_IP = 0x0800
ETHERTYPE_ARP = 0x0806

ARPHRD_ETHER = 1
ARPOP_REQUEST = 1
ARPOP_REPLY = 2
ARP_FRAME_LEN = ETHER_HEADER_LEN + 28     # Ethernet header + ARP for IPv4

# Byte offsets inside an Ethernet frame carrying ARP.
ETH_DST, ETH_SRC, ETH_TYPE = 0, 6, 12
ARP_HRD, ARP_PRO, ARP_HLN, ARP_PLN, ARP_OP = 14, 16, 18, 19, 20
ARP_SHA, ARP_SPA, ARP_THA, ARP_TPA = 22, 28, 32, 38

BROADCAST_MAC = b"\xff" * 6


def ether_header(ethertype: int, src: bytes, dst: bytes) -> np.ndarray:
    """The 14 header bytes dst, src, type (network order) as a uint8 vector."""
    return np.frombuffer(dst + src + ethertype.to_bytes(2, "big"), dtype=np.uint8).copy()


def ethertype_value(text: str) -> int:
    """An Ethernet type such as 0x0800 or 2048 (Click's host-order ETHERTYPE)."""
    try:
        value = int(text.strip().replace("_", ""), 0)
    except ValueError:
        raise ArgumentError(f"expected an Ethernet type such as 0x0800, got {text!r}") from None
    if not 0 <= value <= 0xFFFF:
        raise ArgumentError(f"expected an Ethernet type between 0 and 0xFFFF, got {text!r}")
    return value


def unparse_mac(mac: bytes) -> str:
    """Click's form of an Ethernet address: 00-1A-2B-3C-4D-5E."""
    return "-".join(f"{b:02X}" for b in bytes(mac))


def unparse_ip(addr: int) -> str:
    return str(ipaddress.IPv4Address(int(addr)))


def handler_value(kind, value: str, name: str):
    """A handler's argument converted by an Args value type; errors name what was expected."""
    try:
        return kind(value.strip())
    except ArgumentError as e:
        raise HandlerError(f"{name}: {e}") from None


def is_group_mac(mac: bytes) -> bool:
    """Multicast and broadcast addresses have the low bit of the first byte set."""
    return bool(mac[0] & 1)


# -- batch operations ------------------------------------------------------

def _flat(pool: PacketPool) -> np.ndarray:
    """pool.data as one flat view (setting .shape refuses to copy, unlike reshape)."""
    flat = pool.data.view()
    flat.shape = (-1,)
    return flat


def _positions(pool: PacketPool, idx: np.ndarray, start: int, n: int) -> np.ndarray:
    """Flat positions in pool.data of bytes start..start+n of each packet: one
    1-D fancy index is about twice as fast as a (row, column) pair."""
    base = idx.astype(np.intp) * pool.slot_size + pool.off[idx] + start
    return base[:, None] + np.arange(n, dtype=np.intp)


def gather(pool: PacketPool, idx: np.ndarray, start: int, n: int) -> np.ndarray:
    """Bytes start..start+n of every packet of idx, as an (len(idx), n) array (a copy).
    The caller makes sure each packet is long enough."""
    return _flat(pool)[_positions(pool, idx, start, n)]


def scatter(pool: PacketPool, idx: np.ndarray, start: int, values: np.ndarray) -> None:
    """Write values ((len(idx), n) or one (n,) row for all) at bytes start.. of each packet."""
    _flat(pool)[_positions(pool, idx, start, values.shape[-1])] = values


def be16(frames: np.ndarray, at: int) -> np.ndarray:
    """The big-endian 2-byte field at column `at` of (n, k) frame bytes, as uint16 values."""
    return (frames[:, at].astype(np.uint16) << 8) | frames[:, at + 1]


def be32(columns: np.ndarray) -> np.ndarray:
    """Big-endian 4-byte fields, an (n, 4) uint8 array, as host-order uint32 values."""
    c = columns.astype(np.uint32)
    return (c[:, 0] << 24) | (c[:, 1] << 16) | (c[:, 2] << 8) | c[:, 3]


def be32_bytes(values: np.ndarray) -> np.ndarray:
    """Host-order uint32 values as (n, 4) big-endian bytes."""
    v = np.asarray(values, dtype=np.uint32)
    return np.stack([(v >> 24) & 0xFF, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF],
                    axis=1).astype(np.uint8)


def make_headroom(pool: PacketPool, idx: np.ndarray, n: int) -> np.ndarray:
    """Make sure every packet of idx has n bytes of headroom; returns a keep mask.

    Packets already have HEADROOM bytes in front of them, so this is
    nearly always a single comparison.  A packet that has lost its headroom
    to earlier encapsulations is moved towards its slot's end (the one slow
    path that copies bytes, as Click's push copies into a bigger buffer),
    with its IP header annotation; one that cannot fit even so is marked
    False, for the caller to drop as Click drops a failed push.
    """
    keep = np.ones(len(idx), dtype=bool)
    if pool._slots.min_offset(idx) >= n:
        return keep
    short = pool.off[idx] < n
    for i in np.flatnonzero(short).tolist():
        slot = int(idx[i])
        off, length = int(pool.off[slot]), int(pool.length[slot])
        new_off = min(pool.headroom, pool.slot_size - length)
        if new_off < n or length + n > 0xFFFF:
            keep[i] = False
            continue
        pool.data[slot, new_off:new_off + length] = pool.data[slot, off:off + length].copy()
        pool.off[slot] = new_off
        nh = int(pool.nh[slot])
        if off <= nh <= off + length:
            pool.nh[slot] = nh + new_off - off
    return keep


def push_headers(pool: PacketPool, idx: np.ndarray, header: np.ndarray) -> None:
    """Prepend header (one (k,) row for all, or (len(idx), k)) to every packet of idx.

    The packets' start moves back k bytes into the headroom and the header
    bytes are written there: no packet byte moves.  The caller has checked
    the headroom with make_headroom.
    """
    rows = np.ascontiguousarray(header, dtype=np.uint8).reshape(-1, header.shape[-1])
    pool._slots.push_header(idx, rows)
