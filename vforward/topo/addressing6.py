"""IPv6 addressing of dual-stack labs, as netlab does it beside IPv4: a /64
per link that carries IPv6 (router links from addressing.p2p6, host links
from addressing.lan6), the router end taking ::1 and the other end ::2, and
a /128 loopback per dual-stack router from addressing.loopback6.  A link's
`subnet6:` sets its prefix by hand (the pools skip it).  The defaults lie
inside the documentation prefix 2001:db8::/32.
"""
from __future__ import annotations

import ipaddress

from vforward.topo.model import Lab, TopologyError


def _subnets(pool: ipaddress.IPv6Network, taken: list):
    # A /48 holds 65536 /64s: walk it lazily, past the subnets set by hand.
    nets = pool.subnets(new_prefix=64) if pool.prefixlen < 64 else iter([pool])
    return (net for net in nets if not any(net.overlaps(t) for t in taken))


def assign6(lab: Lab) -> Lab:
    """Fill address6 of every interface on an IPv6 link and loopback6 of every
    dual-stack router (hand-set loopbacks are kept)."""
    adr = lab.addressing
    taken = [link.subnet6 for link in lab.links if link.subnet6 is not None]
    p2p, lans = _subnets(adr["p2p6"], taken), _subnets(adr["lan6"], taken)
    for link in lab.links:
        if not link.ipv6:
            continue
        a, b = link.a, link.b
        host_link = not (lab.nodes[a.node].is_router and lab.nodes[b.node].is_router)
        try:
            net = link.subnet6 or next(lans if host_link else p2p)
        except StopIteration:
            key = "lan6" if host_link else "p2p6"
            raise TopologyError(f"{link.where}: IPv6 address pool {adr[key]} is used up; give a "
                                f"larger one under addressing.{key}") from None
        link.subnet6 = net
        first, second = (a, b) if lab.nodes[a.node].is_router else (b, a)
        first.address6 = ipaddress.IPv6Interface(f"{net.network_address + 1}/{net.prefixlen}")
        second.address6 = ipaddress.IPv6Interface(f"{net.network_address + 2}/{net.prefixlen}")
    used = {n.loopback6.ip for n in lab.nodes.values() if n.loopback6 is not None}
    loopbacks = (ip for ip in adr["loopback6"].hosts() if ip not in used)
    for node in lab.routers():
        if node.ipv6 and node.loopback6 is None:
            ip = next(loopbacks, None)
            if ip is None:
                raise TopologyError(f"{node.where}: IPv6 loopback pool {adr['loopback6']} is used "
                                    "up; give a larger one under addressing.loopback6")
            node.loopback6 = ipaddress.IPv6Interface(f"{ip}/128")
    return lab
