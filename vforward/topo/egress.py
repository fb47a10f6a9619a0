"""Egress: a lab router that translates the lab's traffic out to this machine.

A router node with `egress:` gets one more interface, a TAP whose kernel
side is in the machine's own network namespace (the veth's role: one end
the router holds, the other a device of the machine), named DEVICE and
holding PEER/LEN.  The router's end holds ADDRESS.  Everything the lab
routes to the node's default route leaves through an IPRewriter (NAPT): new
flows from inside get ADDRESS and a port from 1024-65535, as in
configs/examples/nat-gateway.click; only the replies of those flows (and
ICMP errors about them) come back in.  Anything else arriving on DEVICE,
however addressed, is dropped: unsolicited inbound traffic never enters.

The node's BIRD announces the default route into the lab (OSPF external,
from a static blackhole route the kernel never sees), so every router sends
what it has no route for toward the nearest egress node.

    topology:
      nodes:
        gw:
          routing: ospf
          egress: true                       # every value chosen
        gw2:
          routing: ospf
          egress: {address: 100.64.7.2/30, peer: 100.64.7.1, device: vfe-lab1}

Chosen values: a /30 of 100.64.0.0/10 (shared address space, RFC 6598)
picked by a hash of the lab and node names, PEER its first address, ADDRESS
the second, DEVICE vfe-HASH.  Deploy enables IPv4 forwarding on DEVICE only
(net.ipv4.conf.DEVICE.forwarding), not machine-wide: the machine forwards
what comes from the lab; where it goes on from there (and how ADDRESS is
routed back) is the machine's routing and firewall: a route to ADDRESS's
subnet exists (DEVICE's), and to reach the Internet the uplink forwards
(net.ipv4.ip_forward=1) and usually masquerades ADDRESS.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
import subprocess
from dataclasses import dataclass

from vforward.topo.model import Lab, Node, TopologyError

SHARED_SPACE = ipaddress.IPv4Network("100.64.0.0/10")
MTU = 1500


@dataclass(frozen=True)
class EgressLink:
    address: ipaddress.IPv4Interface    # the router's end: the NAT source address
    peer: ipaddress.IPv4Address         # the machine's end
    device: str                         # the machine's device
    mac: str                            # the router's end's MAC


def _digest(lab: Lab, node: Node) -> bytes:
    return hashlib.sha256(f"vforward-egress/{lab.name}/{node.name}".encode()).digest()


def egress_link(lab: Lab, node: Node) -> EgressLink:
    """The node's egress link, with every value the file leaves out chosen."""
    spec, h = node.egress, _digest(lab, node)
    address, peer, device = spec.get("address"), spec.get("peer"), spec.get("device")
    if address is None:
        slot = int.from_bytes(h[:4], "big") % (SHARED_SPACE.num_addresses // 4)
        net = ipaddress.IPv4Network((int(SHARED_SPACE.network_address) + slot * 4, 30))
        address = ipaddress.IPv4Interface(f"{net.network_address + 2}/30")
    if peer is None:
        peer = next(ip for ip in address.network.hosts() if ip != address.ip)
    mac = "02:e0:" + ":".join(f"{b:02x}" for b in h[4:8])
    return EgressLink(address, peer, device or f"vfe-{h.hex()[:8]}", mac)


def click_block(lab: Lab, node: Node, port: int) -> list[str]:
    """The egress part of the node's router config; rt's output `port` leads out."""
    e = egress_link(lab, node)
    addr, peer = e.address.ip, e.peer
    return [
        f"// ---- egress: NAT {addr} out to this machine's {e.device} ({peer}); "
        "only replies come back",
        f"egress_dev :: KernelTap({peer}/{e.address.network.prefixlen}, DEVNAME {e.device}, "
        f"MTU {MTU}, PERSIST true);",
        "egress_in :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);",
        f"egress_arpq :: ARPQuerier({addr}, {e.mac});",
        "egress_dev -> egress_in;",
        f"egress_in[0] -> ARPResponder({addr} {e.mac}) -> egress_dev;",
        "egress_in[1] -> [1]egress_arpq;",
        "egress_in[3] -> Discard;",
        "egress_arpq -> egress_dev;",
        "// input 0: flows from the lab get the egress address; input 1: only their replies.",
        f"egress_nat :: IPRewriter(pattern {addr} 1024-65535 - - 0 1, drop);",
        f"rt[{port}] -> [0]egress_nat;",
        f"egress_nat[0] -> LookupIPRoute(0.0.0.0/0 {peer} 0) -> [0]egress_arpq;",
        "egress_in[2] -> Strip(14) -> CheckIPHeader",
        f"  -> egress_local :: IPClassifier(dst host {addr}, -);",
        "egress_local[0] -> [1]egress_nat;",
        "egress_local[1] -> Discard;      // for anyone else: never routed inside",
        "egress_nat[1] -> egress_ttl :: DecIPTTL -> rt;",
        "egress_ttl[1] -> Discard;",
        "",
    ]


def default_route(lab: Lab, node: Node, port: int) -> str:
    """The RadixIPLookup route that sends what the lab has no route for out."""
    return f"0.0.0.0/0 {egress_link(lab, node).peer} {port}"


def check_machine(lab: Lab) -> None:
    """Refuse an egress whose device or subnet this machine already has (another
    lab's egress, or the machine's own network), naming the fix."""
    links = [(n, egress_link(lab, n)) for n in lab.routers() if n.egress]
    if not links:
        return
    p = subprocess.run(["ip", "-j", "-4", "addr", "show"], capture_output=True, text=True)
    present = json.loads(p.stdout or "[]")
    for node, e in links:
        for dev in present:
            if dev.get("ifname") == e.device:
                raise TopologyError(f"{node.where}: node {node.name}: egress device {e.device} "
                                    "already exists on this machine; give another with "
                                    "'egress: {device: NAME}' (or destroy the lab that made it)")
            for a in dev.get("addr_info", []):
                net = ipaddress.IPv4Interface(f"{a['local']}/{a['prefixlen']}").network
                if net.overlaps(e.address.network):
                    raise TopologyError(
                        f"{node.where}: node {node.name}: egress subnet {e.address.network} "
                        f"overlaps {net} on {dev.get('ifname')} of this machine; give another "
                        "with 'egress: {address: A/LEN, peer: B}'")


def enable_forwarding(lab: Lab) -> list[str]:
    """Forward IPv4 arriving on each egress device (that device only); their names."""
    devices = []
    for node in lab.routers():
        if node.egress:
            dev = egress_link(lab, node).device
            with open(f"/proc/sys/net/ipv4/conf/{dev}/forwarding", "w") as f:
                f.write("1")
            devices.append(dev)
    return devices
