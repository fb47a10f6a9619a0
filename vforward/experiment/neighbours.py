"""A router's neighbours as its generated config numbers them: which output
port of the route table leads to which neighbour, and by which gateway."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from vforward.config.errors import did_you_mean
from vforward.topo.model import Lab, TopologyError


@dataclass(frozen=True)
class NextHop:
    gateway: str          # the neighbour's address on the shared link
    port: int             # the route table's output toward it
    interface: str        # this router's interface on that link
    neighbour: str        # the node at the other end


def router(lab: Lab, name: str):
    node = lab.nodes.get(name)
    if node is None or not node.is_router:
        routers = [n.name for n in lab.routers()]
        hint = did_you_mean(name, routers)
        raise TopologyError(f"lab {lab.name} has no router '{name}'" +
                            (f"; did you mean '{hint}'?" if hint else
                             f" (routers: {', '.join(routers)})"))
    return node


def ports(node) -> dict:
    """interface name -> route table output, in the order the config gives them."""
    return {name: i for i, name in enumerate(node.interfaces)}


def toward(lab: Lab, node_name: str, neighbour: str) -> NextHop | None:
    """The next hop from a router to an adjacent node, or None when no link joins them."""
    node = router(lab, node_name)
    for name, iface in node.interfaces.items():
        peer = iface.link.other(iface)
        if peer.node == neighbour:
            return NextHop(str(peer.address.ip), ports(node)[name], name, neighbour)
    return None


def resolve(lab: Lab, node_name: str, via: str) -> NextHop:
    """'via NEIGHBOUR' or 'via ADDRESS' (an address on one of the router's links)."""
    node = router(lab, node_name)
    try:
        addr = ipaddress.IPv4Address(via)
    except ValueError:
        addr = None
    if addr is None:
        hop = toward(lab, node_name, via)
        if hop is None:
            neighbours = [i.link.other(i).node for i in node.interfaces.values()]
            hint = did_you_mean(via, neighbours)
            raise TopologyError(f"{via} is not a neighbour of {node_name}" +
                                (f"; did you mean '{hint}'?" if hint else
                                 f" (its neighbours: {', '.join(neighbours)})"))
        return hop
    for name, iface in node.interfaces.items():
        if addr in iface.address.network and addr != iface.address.ip:
            peer = iface.link.other(iface)
            return NextHop(str(addr), ports(node)[name], name, peer.node)
    nets = ", ".join(f"{i.address.network} ({n})" for n, i in node.interfaces.items())
    raise TopologyError(f"{via} is on none of {node_name}'s links ({nets}); "
                        "a next hop must be a neighbour's address")


def check_chain(lab: Lab, path: list[str]) -> list[NextHop]:
    """The next hop at every router of a path but the last; refused unless each
    router is linked to the next one."""
    if len(path) < 2:
        raise TopologyError("a path names two or more routers, such as r1,r4,r3")
    for name in path:
        router(lab, name)
    if len(set(path)) != len(path):
        raise TopologyError(f"path {','.join(path)} visits a router twice; a loop never arrives")
    hops = []
    for a, b in zip(path, path[1:]):
        hop = toward(lab, a, b)
        if hop is None:
            neighbours = [i.link.other(i).node for i in lab.nodes[a].interfaces.values()]
            raise TopologyError(f"path {','.join(path)} is not a chain of links: no link joins "
                                f"{a} and {b} ({a}'s neighbours: {', '.join(neighbours)})")
        hops.append(hop)
    return hops
