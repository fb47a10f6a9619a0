"""Automatic addressing, as netlab does it: a point-to-point subnet per
router link, a /24 LAN per host link, a /32 loopback per router, and a MAC
per interface.  Anything the topology file sets by hand is kept, and
automatic subnets skip every subnet a hand-set address already uses.
"""
from __future__ import annotations

import hashlib
import ipaddress
import itertools

from vforward.topo.addressing6 import assign6
from vforward.topo.model import Lab, TopologyError


def _mac(lab: str, node: str, iface: str) -> str:
    """A stable, locally administered unicast MAC for one interface."""
    h = hashlib.sha256(f"{lab}/{node}/{iface}".encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02,) + tuple(h[:5]))


def _subnets(pool: ipaddress.IPv4Network, prefix: int, taken: list):
    if any(pool.subnet_of(t) for t in taken):   # used up without walking it
        return
    for net in pool.subnets(new_prefix=prefix):
        if not any(net.overlaps(t) for t in taken):
            yield net


def assign(lab: Lab) -> Lab:
    """Fill every interface's address and MAC and every router's loopback."""
    adr = lab.addressing
    taken = [i.address.network for n in lab.nodes.values() for i in n.interfaces.values()
             if i.address is not None]
    taken += [l.subnet for l in lab.links if l.subnet is not None]
    p2p = _subnets(adr["p2p"], adr["p2p_prefix"], taken)
    lans = _subnets(adr["lan"], 24, taken)
    for link in lab.links:
        a, b = link.a, link.b
        if a.address is not None and b.address is not None:
            if a.address.network != b.address.network:
                raise TopologyError(f"{link.where}: the addresses of {a.ref} and {b.ref} are in "
                                    "different subnets; put both in one subnet")
            link.subnet = a.address.network
            continue
        if (a.address is None) != (b.address is None):
            raise TopologyError(f"{link.where}: give both ends an address, or neither")
        host_link = not (lab.nodes[a.node].is_router and lab.nodes[b.node].is_router)
        try:
            net = link.subnet or next(lans if host_link else p2p)
        except StopIteration:
            pool = adr["lan"] if host_link else adr["p2p"]
            raise TopologyError(f"{link.where}: address pool {pool} is used up; give a larger "
                                "one under 'addressing'") from None
        link.subnet = net
        # Two addresses are all a link needs; a hand-set /8 must not be listed whole.
        hosts = list(itertools.islice(net.hosts() if net.prefixlen < 31 else net, 2))
        if len(hosts) < 2:
            raise TopologyError(f"{link.where}: subnet {net} has room for fewer than two addresses")
        # The router end takes the first address (the LAN gateway), the other end the second.
        first, second = (a, b) if lab.nodes[a.node].is_router else (b, a)
        first.address = ipaddress.IPv4Interface(f"{hosts[0]}/{net.prefixlen}")
        second.address = ipaddress.IPv4Interface(f"{hosts[1]}/{net.prefixlen}")
    loopbacks = iter(adr["loopback"].hosts())
    used = {n.loopback.ip for n in lab.nodes.values() if n.loopback is not None}
    for node in lab.nodes.values():
        for iface in node.interfaces.values():
            iface.mac = _mac(lab.name, node.name, iface.name)
        if node.is_router and node.loopback is None:
            for ip in loopbacks:
                if ip not in used:
                    node.loopback = ipaddress.IPv4Interface(f"{ip}/32")
                    break
            else:
                raise TopologyError(f"{node.where}: loopback pool {adr['loopback']} is used up; "
                                    "give a larger one under addressing.loopback")
    return assign6(lab)
