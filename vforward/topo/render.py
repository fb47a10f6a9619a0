"""Per-node vforward configurations for a lab (MyVINI's `make configs`).

Each router's config is an ordinary Click-language file that `vforward run`
runs.  Every interface of a router is two devices joined by the router:

  * the node kernel's interface: a TAP in the router's namespace, carrying
    the interface's address and MAC (what BIRD, ping and tcpdump in the node
    see), and
  * the wire: a virtual link to the neighbouring router, carried as the
    routers' placement allows (an InProcessLink between routers of one
    process, a ShmLink between processes of one machine, an Ethernet-over-UDP
    link otherwise; see link_transport), or,
    toward a host, a TAP inside the host's namespace with the host's
    address.

Every TAP offers checksum and TSO offloads (OFFLOAD true), so TCP crosses
the lab as super-frames and is segmented only where a transport (the UDP
link) or an MTU (IPFragmenter) needs it.

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

from vforward.interface_elements import EGRESS, INGRESS, PROBE, RX, TX, element_name
from vforward.topo.model import Interface, Lab, Node
from vforward.topo import render6, underlay
from vforward.topo.routes import Route, host_gateway, static_routes, static_routes6

MTU = 1500
# Bytes a frame grows by on an Ethernet-over-UDP link: outer IPv4 (20), UDP
# (8), the link header (12) and the inner Ethernet header (14).
ETHERLINK_OVERHEAD = 54


def interface_mtu(lab: Lab, iface: Interface) -> int:
    """The lab MTU of an interface: on a link between two hosts, the smaller
    underlay MTU less ETHERLINK_OVERHEAD (as vxlan takes its overhead off its
    lower device), so that no frame needs the underlay to fragment; else MTU.
    On Kubernetes (vforward.cluster.manifests sets lab.links_between_pods) every
    router link is carried between pods over the pod network, one host or two."""
    peer = iface.link.other(iface)
    a, b = lab.nodes[iface.node].host, lab.nodes[peer.node].host
    pods = getattr(lab, "links_between_pods", False) and lab.nodes[peer.node].is_router \
        and lab.nodes[iface.node].is_router
    if a == b and not pods:
        return iface.link.mtu
    host_mtu = getattr(lab, "host_mtu", {})
    return min(iface.link.mtu,   # ETHERLINK_OVERHEAD, or 74 on an IPv6 underlay (topo/underlay.py)
               min(host_mtu.get(a, MTU), host_mtu.get(b, MTU)) - underlay.etherlink_overhead(lab))


def peer_define(iface: Interface) -> str:
    """The define that holds a standalone router's peer address on this interface."""
    return f"PEER_{element_prefix(iface)}"


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


def link_transport(link, placement: dict | None = None) -> str:
    """What carries a router-router link: the topology's `transport:` when it
    forces one, else by placement (node -> process on this machine):
    "inprocess" between routers one process runs, "shm" between processes;
    without a placement (routers that may run anywhere) "udp"."""
    if link.transport:
        return link.transport
    if placement is not None:
        a, b = placement.get(link.a.node), placement.get(link.b.node)
        if a is not None and b is not None:
            return "inprocess" if a == b else "shm"
    return "udp"


def shm_region(lab_name: str, link_index: int) -> str:
    """The shared region (and, with .0 and .1, the doorbells) of a ShmLink."""
    return f"/dev/shm/vforward-{lab_name}-link{link_index}"


def link_channel(lab: Lab, link_index: int) -> str:
    """The InProcessLink channel of a link: unique per lab and link."""
    return f"{lab.name}/link{link_index}"


def _wire(lab: Lab, iface: Interface, e: str, placement: dict | None = None,
          standalone: bool = False) -> str:
    """The element that is this interface's wire."""
    peer = iface.link.other(iface)
    peer_node = lab.nodes[peer.node]
    if not peer_node.is_router:
        # A host's interface is a TAP, in the host's namespace, owned by this router.
        gw = host_gateway(lab, peer)
        return (f"{e}_wire :: KernelTap({peer.address.with_prefixlen}, {gw}, DEVNAME {peer.name}, "
                f"NETNS {netns_name(lab, peer.node)}, ETHER {peer.mac}, MTU {iface.link.mtu}, PERSIST true, "
                "OFFLOAD true)")
    transport = link_transport(iface.link, placement)
    if transport == "inprocess":
        return f"{e}_wire :: InProcessLink({link_channel(lab, iface.link.index)})"
    if transport == "shm":
        side = 0 if iface is iface.link.a else 1
        return f"{e}_wire :: ShmLink(\"{shm_region(lab.name, iface.link.index)}\", {side})"
    local = iface.link.underlay[iface.ref]
    remote = iface.link.underlay[peer.ref]
    family = underlay.lab_family(lab)
    cls = "UDPLink6" if family == 6 else "UDPLink"
    if standalone:   # any local address (a pod's is not known); the peer's is resolved at run time
        return (f"{e}_wire :: {cls}({underlay.ANY[family]}, {local[1]}, ${peer_define(iface)}, "
                f"{remote[1]}, {link_key(lab, iface.link.index)})")
    return (f"{e}_wire :: {cls}({local[0]}, {local[1]}, {remote[0]}, {remote[1]}, "
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
# The same over an IPv6 underlay: the peer's address goes in brackets.
UDP_LINK6_CLASS = UDP_LINK_CLASS.replace("UDPLink", "UDPLink6").replace(
    "PEER $remote_ip:$remote_port", "PEER [$remote_ip]:$remote_port")


def _ingress(lab: Lab, iface: Interface, e: str) -> str:
    """Toward a host the router owns both directions of the wire, so the
    host's egress conditions are applied here, on the router's ingress."""
    peer = iface.link.other(iface)
    if lab.nodes[peer.node].is_router:
        return ""
    return f"{element_name(e, INGRESS)} :: LinkEmulator({_impair_args(lab, peer)}) -> "


def uses_daemon(node: Node) -> bool:
    """Whether a routing daemon (BIRD) fills this router's table."""
    return node.routing == "ospf" or bool(node.bgp)


def router_config(lab: Lab, node: Node, routes: list[Route] | None = None,
                  placement: dict | None = None, standalone: bool = False) -> str:
    """The generated Click configuration of one router; placement (node ->
    process) picks each link's transport (see link_transport).  A standalone
    router (vforward.node: a pod's) creates its TAPs in its own namespace and
    reaches every router peer over UDP at the address define peer_define."""
    if routes is None:
        routes = static_routes(lab)[node.name]
    if uses_daemon(node):
        # Only connected routes are configured; BIRD's arrive through the mirror.
        routes = [r for r in routes if r.gateway is None]
    ifaces = list(node.interfaces.values())
    port_of = {iface.name: i for i, iface in enumerate(ifaces)}
    own = [str(i.address.ip) for i in ifaces] + [str(node.loopback.ip)]
    ns = netns_name(lab, node.name)
    in_ns = "" if standalone else f", NETNS {ns}"
    out = [f"// vforward router {node.name} of lab {lab.name} (generated; edit freely)",
           f"// namespace {ns}; loopback {node.loopback}; routing {node.routing}", ""]
    route_args = [f"{r.prefix} {r.gateway} {port_of[r.interface]}" if r.gateway
                  else f"{r.prefix} {port_of[r.interface]}" for r in routes]
    if node.egress:     # rt's port after the interfaces' leads out through NAT
        from vforward.topo.egress import default_route
        route_args.append(default_route(lab, node, len(ifaces)))
    if any(lab.nodes[i.link.other(i).node].is_router and link_transport(i.link, placement) == "udp"
           for i in ifaces) or standalone:
        out.append(UDP_LINK6_CLASS if underlay.lab_family(lab) == 6 else UDP_LINK_CLASS)
    if standalone:
        for i in ifaces:
            peer = i.link.other(i)
            if lab.nodes[peer.node].is_router:
                out.append(f"define(${peer_define(i)} {i.link.underlay[peer.ref][0]});")
    # Packets without a route leave rt (and rt6) by output no_route, to be
    # answered with destination unreachable as Linux does, at most as often as
    # Linux's ICMP rate limit lets errors out (errlimit).
    no_route = len(ifaces) + (1 if node.egress else 0)
    sources = " ".join([str(i.address.ip) for i in ifaces] + ["-"] * (no_route - len(ifaces)))
    route_args.append(f"NOROUTE {no_route}")
    out.append("// The forwarding table: prefix [gateway] output.  Dynamic routes arrive")
    out.append("// through rt's add/remove/ctrl handlers (control socket or netlink mirror).")
    out.append(f"rt :: RadixIPLookup({', '.join(route_args)});")
    out.append("// Per-flow next hops ahead of rt (vforward topo flow); empty at start.")
    out.append("flows :: FlowRoutes -> rt;")
    if not ifaces:      # a router with no links yet: nothing enters, still a valid graph
        out.append("Idle -> flows;")
    out.append("errlimit :: ICMPErrorLimit;")
    out.append(f"rt[{no_route}] -> ICMPError({own[0]}, unreachable, net, ROUTES rt, "
               f"SOURCES \"{sources}\", LIMIT errlimit) -> rt;")
    if node.ipv6:
        routes6 = static_routes6(lab).get(node.name, [])
        if uses_daemon(node):
            routes6 = [r for r in routes6 if r.gateway is None]
        out += render6.table6(routes6, port_of, len(ifaces))
        out += render6.no_route6(node, len(ifaces))    # also rt6's input when it has no link
    local = " or ".join(f"dst host {a}" for a in own)
    if node.ingress is not None:
        # The node's kernel forwards between its OpenVPN device and its TAPs (topo/ingress).
        local += f" or dst net {node.ingress.pool}"
    out.append("")
    for port, iface in enumerate(ifaces):
        e = element_prefix(iface)
        rx, tx, egress, probe_e = (element_name(e, role) for role in (RX, TX, EGRESS, PROBE))
        peer = iface.link.other(iface)
        addr = iface.address
        mtu = interface_mtu(lab, iface)
        # A LinkProbe measures router-to-router links through their conditions;
        # a host runs no vforward to answer it.
        probe = lab.nodes[peer.node].is_router
        out += [
            f"// ---- {iface.name}: {addr.with_prefixlen} ({iface.mac}) -- {peer.ref}",
            f"{e}_kernel :: KernelTap({addr.with_prefixlen}, DEVNAME {iface.name}{in_ns}, "
            f"ETHER {iface.mac}, MTU {mtu}, PERSIST true, OFFLOAD true);",
            f"{_wire(lab, iface, e, placement, standalone)};",
            f"{egress} :: LinkEmulator({_impair_args(lab, iface)});",
            *([f"{probe_e} :: LinkProbe(ETHER {iface.mac});"] if probe else []),
            f"{tx} :: Counter -> [0]{e}_capture :: Capture -> "
            f"{f'[1]{probe_e}[1] -> ' if probe else ''}{egress} -> {e}_wire;",
            f"{e}_kernel -> {tx};",
            f"{e}_wire -> {f'{probe_e} -> ' if probe else _ingress(lab, iface, e)}"
            f"{rx} :: Counter -> [1]{e}_capture;",
            f"{e}_capture[1] -> {e}_in :: Classifier(12/0806, 12/0800, -);",
            f"{e}_in[0] -> {e}_arp :: Tee(2);",
            f"{e}_arp[0] -> {e}_tokernel :: Null -> {e}_kernel;",
            f"{e}_arp[1] -> [1]{e}_arpq :: ARPQuerier({addr.ip}, {iface.mac});",
            f"{e}_in[2] -> {e}_in6;" if iface.address6 else f"{e}_in[2] -> {e}_tokernel;",
            f"{e}_in[1] -> Strip(14) -> {e}_check :: CheckIPHeader",
            f"  -> {e}_local :: IPClassifier({local} or dst net 224.0.0.0/4 or dst host 255.255.255.255"
            f" or dst host {addr.network.broadcast_address}, -);",
            f"{e}_local[0] -> Unstrip(14) -> {e}_tokernel;",
            f"{e}_local[1] -> {e}_ttl :: DecIPTTL -> flows;",
            f"{e}_ttl[1] -> ICMPError({addr.ip}, timeexceeded, LIMIT errlimit) -> rt;",
            f"rt[{port}] -> {e}_frag :: IPFragmenter({mtu}) -> [0]{e}_arpq -> {tx};",
            f"flows[{port + 1}] -> {e}_frag;",
            f"{e}_frag[1] -> ICMPError({addr.ip}, unreachable, needfrag, ROUTES rt, "
            f"SOURCES \"{sources}\", LIMIT errlimit) -> rt;",
            *(render6.interface6(node, iface, port, e, tx, mtu) if iface.address6 else
              render6.without_ipv6(port) if node.ipv6 else []),
            "",
        ]
    # A router with no links (of a family) has no routes to mirror for it.
    if uses_daemon(node) and ifaces:
        ports = ", ".join(f"{i.name} {port_of[i.name]}" for i in ifaces)
        out += ["// Routes the node's routing daemon installs in its kernel, mirrored into rt.",
                f"mirror :: KernelRouteMirror(rt, {ports}{in_ns});", ""]
        ports6 = ", ".join(f"{i.name} {port_of[i.name]}" for i in ifaces if i.address6)
        if node.ipv6 and ports6:
            out += render6.mirror6(in_ns, ports6) + [""]
    if node.egress:
        from vforward.topo.egress import click_block
        out += click_block(lab, node, len(ifaces))
    if node.extra:
        out += ["// ---- extra configuration from the topology file", node.extra.strip(), ""]
    return "\n".join(out) + "\n"


def configs(lab: Lab, placement: dict | None = None) -> dict:
    """node name -> generated config text, for every router without a hand-written one.
    Without a placement every router is taken to run alone (UDP links)."""
    table = static_routes(lab)
    out = {}
    for node in lab.routers():
        if node.config:
            with open(node.config) as f:
                out[node.name] = f.read()
        else:
            out[node.name] = router_config(lab, node, table[node.name], placement)
    return out
