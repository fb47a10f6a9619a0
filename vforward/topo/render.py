"""Per-node vforward configurations for a lab (MyVINI's `make configs`).

Each router's config is an ordinary Click-language file that `vforward run`
runs.  Every interface of a router is two devices joined by the router:

  * the node kernel's interface: a TAP in the router's namespace, carrying
    the interface's address and MAC (what BIRD, ping and tcpdump in the node
    see), and
  * the wire: an Ethernet-over-UDP virtual link to the neighbouring router,
    or, toward a host, a TAP inside the host's namespace with the host's
    address.

Frames from the node's kernel go to the wire as they are (the kernel speaks
ARP, OSPF and ping for itself).  Frames from the wire are classified: ARP
goes to the kernel and to the interface's ARPQuerier; IP for one of the
node's own addresses (or multicast/broadcast) goes to the kernel; everything
else is forwarded by vforward: TTL, route lookup, fragmentation, ARP.
Every wire egress passes a LinkEmulator, so delay, loss, rate and up/down
can change at run time through the control socket.
"""
from __future__ import annotations

import hashlib

from vforward.topo.model import Interface, Lab, Node
from vforward.topo.routes import Route, host_gateway, static_routes

MTU = 1500


def netns_name(lab: Lab | str, node: str) -> str:
    name = lab if isinstance(lab, str) else lab.name
    return f"vf-{name}-{node}"


def link_key(lab: Lab, link_index: int) -> int:
    """A 63-bit key per link: two labs on one host never accept each other's frames."""
    h = hashlib.sha256(f"vforward-link/{lab.name}/{link_index}".encode()).digest()
    return int.from_bytes(h[:8], "big") >> 1


def element_prefix(iface: Interface) -> str:
    """The prefix of an interface's element names in its router's config."""
    return iface.name.replace("-", "_").replace(".", "_")


def _impair_args(lab: Lab, iface: Interface) -> str:
    imp = iface.link.impair
    parts = [f"DELAY {imp.delay * 1000:g}ms", f"JITTER {imp.jitter * 1000:g}ms",
             f"LOSS {imp.loss:g}", f"RATE {imp.rate * 8:g}bps", f"QUEUE {imp.queue}",
             f"UP {'true' if iface.link.state == 'up' else 'false'}"]
    return ", ".join(parts)


def _wire(lab: Lab, iface: Interface, e: str) -> str:
    """The element that is this interface's wire."""
    peer = iface.link.other(iface)
    peer_node = lab.nodes[peer.node]
    if not peer_node.is_router:
        # A host's interface is a TAP, in the host's namespace, owned by this router.
        gw = host_gateway(lab, peer)
        return (f"{e}_wire :: KernelTap({peer.address.with_prefixlen}, {gw}, DEVNAME {peer.name}, "
                f"NETNS {netns_name(lab, peer.node)}, ETHER {peer.mac}, MTU {MTU}, PERSIST true)")
    local = iface.link.underlay[iface.ref]
    remote = iface.link.underlay[peer.ref]
    return (f"{e}_wire :: UDPLink({local[0]}, {local[1]}, {remote[0]}, {remote[1]}, "
            f"{link_key(lab, iface.link.index)})")


# An Ethernet-over-UDP virtual link end: frames in, datagrams to the peer;
# datagrams from the peer (with the link's key), frames out.
UDP_LINK_CLASS = """\
elementclass UDPLink { $local_ip, $local_port, $remote_ip, $remote_port, $key |
  sock :: Socket(UDP, $remote_ip, $remote_port, $local_ip, $local_port, SNDBUF 4194304, RCVBUF 4194304);
  input -> EtherLinkEncap($key) -> sock;
  sock -> decap :: EtherLinkDecap($key, PEER $remote_ip:$remote_port) -> output;
}
"""


def _ingress(lab: Lab, iface: Interface, e: str) -> str:
    """Toward a host the router owns both directions of the wire, so the
    host's egress conditions are applied here, on the router's ingress."""
    peer = iface.link.other(iface)
    if lab.nodes[peer.node].is_router:
        return ""
    return f"{e}_ingress :: LinkEmulator({_impair_args(lab, peer)}) -> "


def uses_daemon(node: Node) -> bool:
    """Whether a routing daemon (BIRD) fills this router's table."""
    return node.routing == "ospf" or bool(node.bgp)


def router_config(lab: Lab, node: Node, routes: list[Route] | None = None) -> str:
    """The generated Click configuration of one router."""
    if routes is None:
        routes = static_routes(lab)[node.name]
    if uses_daemon(node):
        # Only connected routes are configured; BIRD's arrive through the mirror.
        routes = [r for r in routes if r.gateway is None]
    ifaces = list(node.interfaces.values())
    port_of = {iface.name: i for i, iface in enumerate(ifaces)}
    own = [str(i.address.ip) for i in ifaces] + [str(node.loopback.ip)]
    ns = netns_name(lab, node.name)
    out = [f"// vforward router {node.name} of lab {lab.name} (generated; edit freely)",
           f"// namespace {ns}; loopback {node.loopback}; routing {node.routing}", ""]
    route_args = [f"{r.prefix} {r.gateway} {port_of[r.interface]}" if r.gateway
                  else f"{r.prefix} {port_of[r.interface]}" for r in routes]
    if any(lab.nodes[i.link.other(i).node].is_router for i in ifaces):
        out.append(UDP_LINK_CLASS)
    out.append("// The forwarding table: prefix [gateway] output.  Dynamic routes arrive")
    out.append("// through rt's add/remove/ctrl handlers (control socket or netlink mirror).")
    out.append(f"rt :: RadixIPLookup({', '.join(route_args)});")
    out.append("// Per-flow next hops ahead of rt (vforward topo flow); empty at start.")
    out.append("flows :: FlowRoutes -> rt;")
    local = " or ".join(f"dst host {a}" for a in own)
    out.append("")
    for port, iface in enumerate(ifaces):
        e = element_prefix(iface)
        peer = iface.link.other(iface)
        addr = iface.address
        # A LinkProbe measures router-to-router links through their conditions;
        # a host runs no vforward to answer it.
        probe = lab.nodes[peer.node].is_router
        out += [
            f"// ---- {iface.name}: {addr.with_prefixlen} ({iface.mac}) -- {peer.ref}",
            f"{e}_kernel :: KernelTap({addr.with_prefixlen}, DEVNAME {iface.name}, NETNS {ns}, "
            f"ETHER {iface.mac}, MTU {MTU}, PERSIST true);",
            f"{_wire(lab, iface, e)};",
            f"{e}_egress :: LinkEmulator({_impair_args(lab, iface)});",
            *([f"{e}_probe :: LinkProbe(ETHER {iface.mac});"] if probe else []),
            f"{e}_tx :: Counter -> [0]{e}_capture :: Capture -> "
            f"{f'[1]{e}_probe[1] -> ' if probe else ''}{e}_egress -> {e}_wire;",
            f"{e}_kernel -> {e}_tx;",
            f"{e}_wire -> {f'{e}_probe -> ' if probe else _ingress(lab, iface, e)}"
            f"{e}_rx :: Counter -> [1]{e}_capture;",
            f"{e}_capture[1] -> {e}_in :: Classifier(12/0806, 12/0800, -);",
            f"{e}_in[0] -> {e}_arp :: Tee(2);",
            f"{e}_arp[0] -> {e}_tokernel :: Null -> {e}_kernel;",
            f"{e}_arp[1] -> [1]{e}_arpq :: ARPQuerier({addr.ip}, {iface.mac});",
            f"{e}_in[2] -> {e}_tokernel;",
            f"{e}_in[1] -> Strip(14) -> {e}_check :: CheckIPHeader",
            f"  -> {e}_local :: IPClassifier({local} or dst net 224.0.0.0/4 or dst host 255.255.255.255"
            f" or dst host {addr.network.broadcast_address}, -);",
            f"{e}_local[0] -> Unstrip(14) -> {e}_tokernel;",
            f"{e}_local[1] -> {e}_ttl :: DecIPTTL -> flows;",
            f"{e}_ttl[1] -> ICMPError({addr.ip}, timeexceeded) -> rt;",
            f"rt[{port}] -> {e}_frag :: IPFragmenter({MTU}) -> [0]{e}_arpq -> {e}_tx;",
            f"flows[{port + 1}] -> {e}_frag;",
            f"{e}_frag[1] -> ICMPError({addr.ip}, unreachable, needfrag) -> rt;",
            "",
        ]
    if uses_daemon(node):
        ports = ", ".join(f"{i.name} {port_of[i.name]}" for i in ifaces)
        out += ["// Routes the node's routing daemon installs in its kernel, mirrored into rt.",
                f"mirror :: KernelRouteMirror(rt, {ports}, NETNS {ns});", ""]
    if node.extra:
        out += ["// ---- extra configuration from the topology file", node.extra.strip(), ""]
    return "\n".join(out) + "\n"


def configs(lab: Lab) -> dict:
    """node name -> generated config text, for every router without a hand-written one."""
    table = static_routes(lab)
    out = {}
    for node in lab.routers():
        if node.config:
            with open(node.config) as f:
                out[node.name] = f.read()
        else:
            out[node.name] = router_config(lab, node, table[node.name])
    return out
