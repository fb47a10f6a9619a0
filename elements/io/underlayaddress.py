"""Underlay addresses of UDP sockets and links, IPv4 or IPv6.

An address is (family, value): family 4 with the address as a host-order
int (the dst_ip annotation's form), or family 6 with the address as an int
(the 16 bytes of the dst_ip6 annotation, big-endian).  With a port, an
IPv6 address is written in brackets as in URLs (RFC 3986): [2001:db8::1]:7001.
"""
from __future__ import annotations

import ipaddress

import numpy as np

from vforward.args import ArgumentError, ip_address, unquote, unsigned


def udp_port(text: str) -> int:
    """A UDP port number, 0..65535."""
    v = unsigned(text)
    if v > 0xFFFF:
        raise ArgumentError(f"expected a port number between 0 and 65535, got {text!r}")
    return v


def underlay_address(text: str) -> tuple[int, int]:
    """An IPv4 or IPv6 address (or an AddressInfo name of an IPv4 one): (family, int)."""
    t = unquote(text).strip()
    if ":" in t:
        try:
            return 6, int(ipaddress.IPv6Address(t.strip("[]")))
        except ValueError:
            raise ArgumentError(f"expected an IPv4 or IPv6 address such as 192.0.2.1 or "
                                f"2001:db8::1, got {text!r}") from None
    try:
        return 4, ip_address(t)
    except ArgumentError:
        raise ArgumentError(f"expected an IPv4 or IPv6 address such as 192.0.2.1 or "
                            f"2001:db8::1, got {text!r}") from None


def address_and_port(text: str) -> tuple[tuple[int, int], int | None]:
    """ADDR, ADDR:PORT, IPV6ADDR or [IPV6ADDR]:PORT: ((family, int), port or None)."""
    t = unquote(text).strip()
    if t.startswith("["):
        addr, close, rest = t[1:].partition("]")
        if not close or (rest and not rest.startswith(":")):
            raise ArgumentError(f"expected [IPv6 address]:PORT such as [2001:db8::1]:7001, "
                                f"got {text!r}")
        family, value = underlay_address(addr)
        return (family, value), (udp_port(rest[1:]) if rest else None)
    if t.count(":") > 1:            # a bare IPv6 address has no port
        return underlay_address(t), None
    addr, colon, port = t.partition(":")
    return underlay_address(addr), (udp_port(port) if colon else None)


def address_text(family: int, value: int) -> str:
    """192.0.2.1 or 2001:db8::1 (RFC 5952)."""
    if family == 6:
        return str(ipaddress.IPv6Address(int(value)))
    return str(ipaddress.IPv4Address(int(value)))


def endpoint_text(family: int, value: int, port: int) -> str:
    """ADDR:PORT, with the brackets an IPv6 address needs."""
    text = address_text(family, value)
    return f"[{text}]:{port}" if family == 6 else f"{text}:{port}"


def address_row(value: int) -> np.ndarray:
    """An IPv6 address as a dst_ip6 row: 16 bytes, network order."""
    return np.frombuffer(int(value).to_bytes(16, "big"), dtype=np.uint8).copy()
