"""The underlay between a lab's hosts: its address family and what a link costs on it.

A lab's `hosts:` addresses are all IPv4 or all IPv6 (one family per lab, so
that every link between two hosts has one); "local" follows them (127.0.0.1
or ::1).  A router-router link carries each frame as a UDP datagram over
that underlay: outer IP, UDP (8), the link header (12) and the inner
Ethernet header (14) come off the underlay MTU, 54 bytes over IPv4 (outer
header 20) and 74 over IPv6 (outer header 40).
"""
from __future__ import annotations

import ipaddress

ETHERLINK_OVERHEAD = {4: 54, 6: 74}
LOOPBACK = {4: "127.0.0.1", 6: "::1"}
ANY = {4: "0.0.0.0", 6: "::"}


def address_family(address: str) -> int:
    """4 or 6: the family of an underlay address."""
    return 6 if ":" in str(address) else 4


def host_address(text: str) -> str:
    """A host's underlay address, canonical; ValueError with the reason and the fix."""
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        raise ValueError("needs an 'address' (its IPv4 or IPv6 underlay address, e.g. "
                         "192.0.2.10 or 2001:db8::10)") from None
    if addr.is_unspecified or addr.is_multicast:
        raise ValueError(f"address {addr} is not one host's: give the address the host "
                         "is reached at")
    if addr.version == 6 and addr.is_link_local:
        raise ValueError(f"address {addr} is link-local, which needs an interface to go with "
                         "it: give the host a global or unique local address (such as "
                         "2001:db8::10)")
    return str(addr)


def lab_family(lab) -> int:
    """The family of the lab's underlay (its hosts', which "local" follows)."""
    return address_family(lab.hosts.get("local", LOOPBACK[4]))


def etherlink_overhead(lab) -> int:
    """Bytes a frame grows by on a link between two of the lab's hosts."""
    return ETHERLINK_OVERHEAD[lab_family(lab)]


def is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address).is_loopback
