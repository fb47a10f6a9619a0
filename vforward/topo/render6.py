"""The IPv6 half of a dual-stack lab router's generated configuration.

render.router_config writes the IPv4 router; for a dual-stack node it adds
what this module renders, beside it on the same devices:

  * `rt6`, a RadixIP6Lookup of the node's connected /64s (and, on a static
    lab, the routes to every other IPv6 prefix; on an OSPF lab OSPFv3's
    routes arrive through `mirror6`, a KernelRouteMirror of the node
    kernel's IPv6 table);
  * per interface, the IPv6 frames from the wire: neighbour solicitations
    and advertisements go to the node's kernel (which answers for its own
    addresses) and to the interface's IP6NDSolicitor (which learns next
    hops from them); IPv6 for the node's own addresses, link-local or
    multicast destinations goes to the kernel too (so the kernel answers
    ping -6 and speaks OSPFv3 and BGP); everything else is forwarded:
    CheckIP6Header, DecIP6HLim, rt6, an MTU check, neighbour discovery.
  * ICMPv6 errors, as Linux sends them: hop limit exceeded from the
    incoming interface's address (so traceroute -6 shows the router),
    packet too big with the link MTU (IPv6 routers never fragment: path-MTU
    discovery) and destination unreachable, no route, for a packet rt6 has
    no route for (rt6's NOROUTE output), both from the address of the
    interface the error leaves by (ICMP6Error's ROUTES and SOURCES: the
    route back to the sender).  All but packet too big share the router's
    token bucket `errlimit` with its ICMP errors.
"""
from __future__ import annotations

from vforward.topo.model import Interface, Lab, Node
from vforward.topo.routes import Route

# Frames from the wire, by Ethernet type, IPv6 next header and ICMPv6 type:
# neighbour solicitation (135), advertisement (136), other IPv6, the rest.
ND_CLASSIFIER = "Classifier(12/86dd 20/3a 54/87, 12/86dd 20/3a 54/88, 12/86dd, -)"


def own_addresses6(node: Node) -> list[str]:
    own = [str(i.address6.ip) for i in node.interfaces.values() if i.address6 is not None]
    return own + ([str(node.loopback6.ip)] if node.loopback6 is not None else [])


def sources6(node: Node) -> str:
    """ICMP6Error's SOURCES: each rt6 output's interface address ('-': none)."""
    return " ".join(str(i.address6.ip) if i.address6 is not None else "-"
                    for i in node.interfaces.values())


def table6(routes: list[Route], port_of: dict, no_route: int) -> list[str]:
    """The IPv6 forwarding table; the IPv4 table's comment covers it too.
    Packets without a route leave by output no_route (see no_route6)."""
    args = [f"{r.prefix} {r.gateway} {port_of[r.interface]}" if r.gateway
            else f"{r.prefix} {port_of[r.interface]}" for r in routes]
    return [f"rt6 :: RadixIP6Lookup({', '.join(args + [f'NOROUTE {no_route}'])});"]


def no_route6(node: Node, no_route: int) -> list[str]:
    """Destination unreachable, no route, for what rt6 cannot route (Linux's answer)."""
    src = next((str(i.address6.ip) for i in node.interfaces.values() if i.address6 is not None),
               str(node.loopback6.ip) if node.loopback6 is not None else "::1")
    return [f"rt6[{no_route}] -> ICMP6Error({src}, unreachable, noroute, ROUTES rt6, "
            f"SOURCES \"{sources6(node)}\", LIMIT errlimit) -> rt6;"]


def interface6(node: Node, iface: Interface, port: int, e: str, tx: str,
               mtu: int | None = None) -> list[str]:
    """The IPv6 path of one interface.  `{e}_in6` takes the frames the IPv4
    classifier passed over; frames for the kernel go to `{e}_tokernel`.
    mtu: the interface's lab MTU (render.interface_mtu), else the link's."""
    addr = iface.address6.ip
    mtu = mtu or iface.link.mtu
    local = " or ".join(f"dst host {a}" for a in own_addresses6(node))
    return [
        f"{e}_in6 :: {ND_CLASSIFIER};",
        f"{e}_in6[0] -> {e}_nd :: Tee(2);",
        f"{e}_in6[1] -> {e}_nd;",
        f"{e}_nd[0] -> {e}_tokernel;",
        f"{e}_nd[1] -> [1]{e}_nds :: IP6NDSolicitor({addr}, {iface.mac}) -> {tx};",
        f"{e}_in6[3] -> {e}_tokernel;",
        f"{e}_in6[2] -> Strip(14) -> {e}_check6 :: CheckIP6Header",
        f"  -> {e}_local6 :: IPClassifier({local} or dst net fe80::/10 or dst net ff00::/8, -);",
        f"{e}_local6[0] -> Unstrip(14) -> {e}_tokernel;",
        f"{e}_local6[1] -> {e}_hlim :: DecIP6HLim -> rt6;",
        f"{e}_hlim[1] -> ICMP6Error({addr}, timeexceeded, LIMIT errlimit) -> rt6;",
        f"rt6[{port}] -> {e}_mtu6 :: CheckLength({mtu}, SEGMENTS true) -> [0]{e}_nds;",
        f"{e}_mtu6[1] -> ICMP6Error({addr}, toobig, PMTU {mtu}, ROUTES rt6, "
        f"SOURCES \"{sources6(node)}\") -> rt6;",
    ]


def without_ipv6(port: int) -> list[str]:
    """An interface of a dual-stack router on a link without IPv6: rt6 keeps
    its port numbers (those of rt) and never routes to it."""
    return [f"rt6[{port}] -> Discard;"]


def mirror6(in_ns: str, ports: str) -> list[str]:
    """in_ns: ', NETNS name', or '' for a router that runs in its node's namespace."""
    return ["// IPv6 routes of the node's routing daemon (OSPFv3, BGP), mirrored into rt6.",
            f"mirror6 :: KernelRouteMirror(rt6, {ports}{in_ns});"]
