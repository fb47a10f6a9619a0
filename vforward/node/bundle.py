"""The files one node needs to run on its own (see vforward.node for the contract)."""
from __future__ import annotations

import json

from vforward.topo import render, underlay
from vforward.topo.model import Lab, TopologyError
from vforward.topo.routes import host_gateway, static_routes, static_routes6

BUNDLE_VERSION = 1
NODE_FILE = "node.json"
ROUTER_FILE = "router.click"
BIRD_FILE = "bird.conf"


def node_bundle(lab: Lab, node_name: str, peer_addresses: dict | None = None) -> dict[str, str]:
    """{file name: text} for router `node_name` of `lab` (addressed, underlay
    assigned).  `peer_addresses` (node -> address of the lab's underlay family) gives the fallback address of
    peers (None: no fallback, the name must resolve, as with Kubernetes
    Services); a node missing from it falls back to its host's underlay address."""
    node = lab.nodes.get(node_name)
    if node is None:
        raise TopologyError(f"no node '{node_name}' in lab {lab.name}; it has "
                            f"{', '.join(lab.nodes)}")
    if not node.is_router:
        raise TopologyError(f"node {node_name} is a host: it runs inside the bundle of the "
                            "router it is linked to; render that router")
    if node.config:
        raise TopologyError(f"node {node_name} has a hand-written config ({node.config}); "
                            "a node bundle is generated, so remove 'config:' to run it on its own")
    for key in ("ingress", "egress"):
        if getattr(node, key):
            # Both are set up by a one-machine deploy (an OpenVPN server, a NAT
            # veth to the machine's root namespace); a bundle has neither.
            raise TopologyError(f"node {node_name} has '{key}:', which a lab across hosts "
                                "(a node bundle, --emulate-hosts, --k8s) does not run yet; "
                                f"deploy the lab on one machine, or remove '{key}:'")
    from vforward.topo.deploy import kernel_commands6
    peer_addresses = peer_addresses or {}
    routes = static_routes(lab)[node.name]
    table6 = static_routes6(lab) if lab.ipv6 else {}
    files = {ROUTER_FILE: render.router_config(lab, node, routes, standalone=True)}
    if render.uses_daemon(node):
        from vforward.topo import bird
        files[BIRD_FILE] = bird.bird_config(lab, node)
    interfaces, links, attached = [], [], []
    for iface in node.interfaces.values():
        peer = iface.link.other(iface)
        peer_node = lab.nodes[peer.node]
        mtu = render.interface_mtu(lab, iface)
        interfaces.append({"name": iface.name, "address": str(iface.address), "mac": iface.mac,
                           "mtu": mtu, "peer": peer.ref, "link": iface.link.index})
        if peer_node.is_router:
            links.append({
                "interface": iface.name, "link": iface.link.index,
                "key": render.link_key(lab, iface.link.index),
                "local_port": iface.link.underlay[iface.ref][1],
                "define": render.peer_define(iface),
                "cross_host": peer_node.host != node.host, "mtu": mtu,
                "peer": {"node": peer.node, "interface": peer.name, "name": peer.node,
                         "address": peer_addresses.get(peer.node,
                                                       iface.link.underlay[peer.ref][0]),
                         "port": iface.link.underlay[peer.ref][1],
                         "family": underlay.lab_family(lab)}})
        else:
            attached.append({"node": peer.node, "netns": render.netns_name(lab, peer.node),
                             "address": str(peer.address),
                             "gateway": str(host_gateway(lab, peer)),
                             "ipv6": bool(peer_node.ipv6),
                             "kernel6": kernel_commands6(lab, peer_node, table6)})
    static = [] if render.uses_daemon(node) else [
        {"prefix": str(r.prefix), "via": str(r.gateway), "dev": r.interface}
        for r in routes if r.gateway is not None]
    files[NODE_FILE] = json.dumps({
        "version": BUNDLE_VERSION, "lab": lab.name, "node": node.name, "host": node.host,
        "routing": node.routing, "loopback": str(node.loopback),
        "router": ROUTER_FILE, "bird": BIRD_FILE if BIRD_FILE in files else None,
        "interfaces": interfaces, "links": links, "routes": static,
        "attached_hosts": attached, "underlay_family": underlay.lab_family(lab),
        # A dual-stack node: its kernel's IPv6 (`ip -batch` lines run once its
        # TAPs exist), as a one-machine deploy gives it.
        "ipv6": bool(node.ipv6), "kernel6": kernel_commands6(lab, node, table6)},
        indent=2) + "\n"
    return files
