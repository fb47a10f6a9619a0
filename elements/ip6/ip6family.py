"""IPV6: the IPv6 address family of the route tables (see AddressFamily in
elements/ip/iproutetable.py): addresses as ints, the compiled poptrie Fib6,
the pool's dst_ip6 column, gateways as 16-byte rows, and the IPv6 flow hash.
"""
from __future__ import annotations

import ipaddress

import numpy as np

from vforward.elements.ip.iproutetable import AddressFamily, RouteError, _mix

from vforward import kernels

Fib6 = kernels.load("fib6").Fib6

_TCP, _UDP = 6, 17
_WORD = 0xFFFFFFFFFFFFFFFF


def ip6_address(word: str) -> int | None:
    """An IPv6 address in any of RFC 4291's text forms, as an int; None if it is not one."""
    if ":" not in word:
        return None
    try:
        return int(ipaddress.IPv6Address(word))
    except ValueError:
        return None


def ip6_address_arg(text: str) -> int:
    """An IPv6 address argument (for args.mandatory/keyword)."""
    from vforward.args import ArgumentError, unquote
    addr = ip6_address(unquote(text).strip())
    if addr is None:
        raise ArgumentError(f"{text!r} is not an IPv6 address; write one such as 2001:db8::1")
    return addr


def ip6_text(a: int) -> str:
    """RFC 5952's canonical text (2001:db8::1)."""
    return str(ipaddress.IPv6Address(a))


def ip6_prefix(word: str, text: str) -> tuple[int, int]:
    """'ADDR/LEN' (a bare address is a /128); host bits cleared."""
    addr_text, slash, len_text = word.partition("/")
    addr = ip6_address(addr_text)
    if addr is None:
        raise RouteError(f"route '{text}': '{addr_text}' is not an IPv6 address")
    if not slash:
        return addr, 128
    if not len_text.isdigit() or int(len_text) > 128:
        raise RouteError(f"route '{text}': '{len_text}' is not a prefix length 0..128")
    plen = int(len_text)
    return addr & ~((1 << (128 - plen)) - 1), plen


def rows16(values: list[int]) -> np.ndarray:
    """(n, 16) uint8 network-order rows of int addresses."""
    raw = b"".join(v.to_bytes(16, "big") for v in values)
    return np.frombuffer(raw, dtype=np.uint8).reshape(len(values), 16).copy()


def flow_hash6(pool, slots: np.ndarray) -> np.ndarray:
    """A uint32 hash per packet of its IPv6 5-tuple read at the nh annotation:
    source, destination, next header, and for TCP and UDP directly after the
    fixed header the ports.  Vectorised; flow_hash6_reference is one packet."""
    data = pool.data
    last = data.shape[1] - 1
    rows = slots.astype(np.intp)
    base = pool.nh[slots].astype(np.intp)
    b = data[rows[:, None], np.minimum(base[:, None] + np.arange(44), last)].astype(np.uint64)

    def word(k, n):
        w = np.zeros(len(rows), dtype=np.uint64)
        for j in range(n):
            w = w << np.uint64(8) | b[:, k + j]
        return w
    src = word(8, 8) ^ word(16, 8)
    dst = word(24, 8) ^ word(32, 8)
    proto = b[:, 6]
    ports = np.where((proto == _TCP) | (proto == _UDP), word(40, 4), np.uint64(0))
    return _mix(src, dst, proto, ports)


def flow_hash6_reference(ip_header: bytes) -> int:
    b = bytes(ip_header) + bytes(64)
    src = int.from_bytes(b[8:16], "big") ^ int.from_bytes(b[16:24], "big")
    dst = int.from_bytes(b[24:32], "big") ^ int.from_bytes(b[32:40], "big")
    ports = int.from_bytes(b[40:44], "big") if b[6] in (_TCP, _UDP) else 0
    return _mix(src, dst, b[6], ports)


class IP6Family(AddressFamily):
    name = "IPv6"
    example = "2001:db8::1"
    fib_class = Fib6
    dst_column = "dst_ip6"

    @staticmethod
    def address(word, partial):
        return ip6_address(word)

    @staticmethod
    def ntoa(a):
        return ip6_text(a)

    @staticmethod
    def prefix(word, text):
        return ip6_prefix(word, text)

    # Gateways are kept as the 16 network-order bytes seen as two uint64 words:
    # a gather and a zero test are then two words per packet, not sixteen bytes.
    @staticmethod
    def gw_array(n):
        return np.zeros((n, 2), dtype=np.uint64)

    @staticmethod
    def gw_store(gw):
        return np.frombuffer(int(gw).to_bytes(16, "big"), dtype=np.uint64)

    @staticmethod
    def gw_int(value):
        return int.from_bytes(np.asarray(value, dtype=np.uint64).tobytes(), "big")


    @staticmethod
    def set_dst(pool, slots, gws):
        pool.dst_ip6.view(np.uint64)[slots] = gws

    @staticmethod
    def prefix_array(prefixes):
        return rows16(prefixes)

    @staticmethod
    def flow_hash(pool, slots):
        return flow_hash6(pool, slots)


IPV6 = IP6Family()
