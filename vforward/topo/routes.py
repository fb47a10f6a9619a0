"""Static routes for a lab: shortest paths (by link cost) from every router to
every subnet and loopback, as the generated configs install them."""
from __future__ import annotations

import heapq
import ipaddress
from dataclasses import dataclass

from vforward.topo.model import Interface, Lab


@dataclass(frozen=True)
class Route:
    prefix: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address | None    # None: directly connected
    interface: str                           # outgoing interface name on this router

    def __str__(self):
        via = f" via {self.gateway}" if self.gateway else ""
        return f"{self.prefix}{via} dev {self.interface}"


def _router_graph(lab: Lab, ipv6: bool = False) -> dict:
    """router -> list of (cost, neighbour router, my interface, neighbour's interface);
    with ipv6, over the links that carry IPv6 only."""
    adj = {r.name: [] for r in lab.routers()}
    for link in lab.links:
        if ipv6 and not link.ipv6:
            continue
        a, b = link.a, link.b
        if lab.nodes[a.node].is_router and lab.nodes[b.node].is_router:
            adj[a.node].append((link.cost, b.node, a, b))
            adj[b.node].append((link.cost, a.node, b, a))
    for edges in adj.values():
        edges.sort(key=lambda e: (e[0], e[1], e[2].name))   # deterministic tie-breaks
    return adj


def _first_hops(adj: dict, src: str) -> dict:
    """Dijkstra from src: router -> (distance, (my interface, neighbour interface) of the first hop)."""
    best = {src: (0, None)}
    heap = [(0, src, None)]
    done = set()
    while heap:
        dist, node, first = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        for cost, nbr, mine, theirs in adj[node]:
            hop = first if first is not None else (mine, theirs)
            nd = dist + cost
            if nbr not in best or nd < best[nbr][0]:
                best[nbr] = (nd, hop)
                heapq.heappush(heap, (nd, nbr, hop))
    return best


def _destinations(lab: Lab) -> dict:
    """Every prefix in the lab -> the routers that own it (connected subnets, loopbacks
    and ingress pools)."""
    owners: dict = {}
    for link in lab.links:
        for end in (link.a, link.b):
            if lab.nodes[end.node].is_router:
                owners.setdefault(link.subnet, set()).add(end.node)
    for r in lab.routers():
        owners.setdefault(r.loopback.network, set()).add(r.name)
        if r.ingress is not None:      # the OpenVPN clients' pool, behind the node's kernel
            owners.setdefault(r.ingress.pool, set()).add(r.name)
    return owners


def static_routes(lab: Lab) -> dict:
    """router name -> list of Route: connected subnets first, then remote ones."""
    adj = _router_graph(lab)
    owners = _destinations(lab)
    table = {}
    for router in lab.routers():
        hops = _first_hops(adj, router.name)
        routes = []
        for iface in router.interfaces.values():
            routes.append(Route(iface.address.network, None, iface.name))
        for prefix, owned_by in sorted(owners.items(), key=lambda kv: (kv[0].network_address, kv[0].prefixlen)):
            if router.name in owned_by:
                continue
            reachable = [(hops[o][0], o) for o in owned_by if o in hops]
            if not reachable:
                continue
            _, owner = min(reachable)
            mine, theirs = hops[owner][1]
            routes.append(Route(prefix, theirs.address.ip, mine.name))
        table[router.name] = routes
    return table


def host_gateway(lab: Lab, host_iface: Interface) -> ipaddress.IPv4Address:
    """A host's default gateway: the router end of its link."""
    return host_iface.link.other(host_iface).address.ip


def static_routes6(lab: Lab) -> dict:
    """The IPv6 counterpart of static_routes, for every dual-stack router: its
    connected /64s, then the others' /64s and /128 loopbacks by shortest path
    over the links that carry IPv6."""
    adj = _router_graph(lab, ipv6=True)
    owners: dict = {}
    for link in lab.links:
        if link.ipv6:
            for end in (link.a, link.b):
                if lab.nodes[end.node].is_router:
                    owners.setdefault(link.subnet6, set()).add(end.node)
    for r in lab.routers():
        if r.loopback6 is not None:
            owners.setdefault(r.loopback6.network, set()).add(r.name)
    table = {}
    for router in lab.routers():
        if not router.ipv6:
            continue
        hops = _first_hops(adj, router.name)
        routes = [Route(i.address6.network, None, i.name) for i in router.interfaces.values()
                  if i.address6 is not None]
        for prefix, owned_by in sorted(owners.items(), key=lambda kv: (kv[0].network_address,
                                                                       kv[0].prefixlen)):
            reachable = [(hops[o][0], o) for o in owned_by if o in hops]
            if router.name in owned_by or not reachable:
                continue
            mine, theirs = hops[min(reachable)[1]][1]
            routes.append(Route(prefix, theirs.address6.ip, mine.name))
        table[router.name] = routes
    return table


def host_gateway6(lab: Lab, host_iface: Interface) -> ipaddress.IPv6Address:
    """A host's IPv6 default gateway: the router end of its link."""
    return host_iface.link.other(host_iface).address6.ip
