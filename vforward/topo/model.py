"""The lab model: nodes, links, link conditions, validations, placement.

`load_lab(path)` reads a containerlab-shaped YAML file and checks it; every
mistake raises `TopologyError` naming file:line and the fix.  Addresses are
filled in afterwards by `vforward.topo.addressing.assign`.

Placement is part of the model from the start: every node has a `host`
(default "local") and every link end an underlay address, so nothing below
the testbed assumes the lab fits on one machine.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field

from vforward.args import ArgumentError, bandwidth, seconds
from vforward.config.errors import did_you_mean
from vforward.topo.schema import ImpairSpec, SchemaError, TopologyFile, check_document
from vforward.topo.yamlsource import LocatedDict, LocatedList, TopologyYAMLError, load_located

KINDS = ("router", "host")
ROUTING = ("static", "ospf")
LAB_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,11}$")
NODE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,14}$")
IFACE_NAME = re.compile(r"^[a-z][a-z0-9.-]{0,14}$")


class TopologyError(ValueError):
    """A topology that cannot be built; the message names file:line and the fix."""


@dataclass
class Impairment:
    """Link conditions on one direction (or both) of a link."""
    delay: float = 0.0          # seconds
    jitter: float = 0.0         # seconds
    loss: float = 0.0           # probability 0..1
    rate: float = 0.0           # bytes per second; 0 = unlimited
    queue: int = 1000           # packets held when rate-limited

    def is_default(self) -> bool:
        return self == Impairment()

    def merged(self, other: "Impairment | None") -> "Impairment":
        """This impairment with every field that `other` sets differently from default."""
        if other is None:
            return self
        base, out = Impairment(), Impairment(**self.__dict__)
        for k, v in other.__dict__.items():
            if v != getattr(base, k):
                setattr(out, k, v)
        return out


@dataclass
class Interface:
    node: str
    name: str
    link: "Link | None" = None
    address: ipaddress.IPv4Interface | None = None    # filled by addressing
    mac: str = ""
    address6: ipaddress.IPv6Interface | None = None   # on a dual-stack link (addressing6)

    @property
    def ref(self) -> str:
        return f"{self.node}:{self.name}"


@dataclass
class Link:
    index: int
    a: Interface
    b: Interface
    impair: Impairment = field(default_factory=Impairment)
    state: str = "up"
    subnet: ipaddress.IPv4Network | None = None
    cost: int = 10
    where: str = ""
    # Underlay: (address, UDP port) per end, filled in at deploy time.
    underlay: dict = field(default_factory=dict)
    # What carries a router-router link: "" (chosen by placement), or forced:
    # "inprocess", "shm" or "udp" (see render.link_transport).
    transport: str = ""
    ipv6: bool | None = None       # carries IPv6 too (None until parse_lab decides)
    subnet6: ipaddress.IPv6Network | None = None
    mtu: int = 1500

    def other(self, iface: Interface) -> Interface:
        return self.b if iface is self.a else self.a

    @property
    def name(self) -> str:
        return f"{self.a.ref}--{self.b.ref}"


@dataclass
class Ingress:
    """An OpenVPN server attached to a router node (see vforward/topo/ingress)."""
    listen: ipaddress.IPv4Address = ipaddress.IPv4Address("0.0.0.0")
    port: int = 1194
    port_given: bool = False           # else deploy takes the first port from 1194 no lab holds
    proto: str = "udp"
    pool: ipaddress.IPv4Network = ipaddress.IPv4Network("10.8.0.0/24")
    remote: str = ""                   # what client profiles connect to; "" = listen
    where: str = ""


@dataclass
class Node:
    name: str
    kind: str = "router"
    routing: str = "static"
    host: str = "local"
    config: str | None = None          # a hand-written .cfg replaces the generated one
    extra: str = ""                    # Click text appended to the generated config
    loopback: ipaddress.IPv4Interface | None = None
    bgp: dict | None = None            # {asn, neighbors: [{peer | address, asn}]}: see topo/bird.py
    resources: dict | None = None      # {"cpu": CPUs or None, "memory": bytes or None}: topo/cgroups.py
    egress: dict | None = None         # {"address", "peer", "device"} (None: chosen): topo/egress.py
    ingress: Ingress | None = None     # an OpenVPN server into the lab at this router
    interfaces: dict = field(default_factory=dict)    # name -> Interface
    where: str = ""
    ipv6: bool | None = None           # dual-stack (None until parse_lab decides)
    loopback6: ipaddress.IPv6Interface | None = None

    @property
    def is_router(self) -> bool:
        return self.kind == "router"


@dataclass
class Validation:
    kind: str              # reach | ping | traceroute
    src: str
    dst: str               # node name or address
    count: int = 3
    path: list = field(default_factory=list)
    where: str = ""
    family: str = "ipv4"   # ipv4 | ipv6


@dataclass
class Lab:
    name: str
    path: str
    nodes: dict            # name -> Node, in file order
    links: list
    validations: list
    hosts: dict            # placement host name -> underlay address
    addressing: dict
    host_mtu: dict = field(default_factory=dict)    # host name -> underlay MTU (default 1500)
    routing: str = "static"
    restart: str = "on-failure"    # what the lab's supervisor does when a router process dies
    ipv6: bool = False             # some node is dual-stack
    resources: dict | None = None  # limits of the whole lab's processes, as Node.resources

    def routers(self) -> list[Node]:
        return [n for n in self.nodes.values() if n.is_router]

    def interface(self, ref: str) -> Interface:
        """'r1:eth1' -> Interface, with a clear error when it does not exist."""
        node_name, _, iname = ref.partition(":")
        node = self.nodes.get(node_name)
        if node is None:
            hint = did_you_mean(node_name, self.nodes)
            raise TopologyError(f"no node '{node_name}' in lab {self.name}" +
                                (f"; did you mean '{hint}'?" if hint else ""))
        iface = node.interfaces.get(iname)
        if iface is None:
            names = ", ".join(node.interfaces) or "none"
            raise TopologyError(f"node {node_name} has no interface '{iname}' (it has {names})")
        return iface


# -- reading ------------------------------------------------------------------------

# The keys of each section and their types are declared once, in
# vforward/topo/schema.py: to add a key, add its field there, then read it
# below with spec.get(name).  The schema is checked before anything here runs,
# so the code below sees only known keys with values of the right type.
LINK_TRANSPORTS = ("inprocess", "shm", "udp")
RESTART_POLICIES = ("always", "on-failure", "never")
DEFAULT_ADDRESSING = {"p2p": "10.0.0.0/16", "p2p_prefix": 30, "loopback": "10.255.0.0/24",
                      "lan": "172.16.0.0/16", "p2p6": "2001:db8::/48",
                      "lan6": "2001:db8:1::/48", "loopback6": "2001:db8:ff::/64"}


def _err(where: str, message: str) -> TopologyError:
    return TopologyError(f"{where}: {message}")


def _conform(doc, section=TopologyFile, where: str | None = None) -> None:
    try:
        check_document(doc, section, where)
    except SchemaError as e:
        raise TopologyError(str(e)) from None


def _mapping(value, where: str, what: str) -> LocatedDict:
    if value is None:
        d = LocatedDict()
        d.line, d.key_lines = 0, {}
        return d
    if not isinstance(value, dict):
        raise _err(where, f"{what} must be a mapping (key: value lines)")
    if not isinstance(value, LocatedDict):   # built in code, not read from a file
        d = LocatedDict(value)
        d.file, d.line, d.key_lines = where, 0, {}
        d.where = lambda key=None: where
        return d
    return value


def parse_impairment(d, where: str) -> Impairment:
    d = _mapping(d, where, "impair")
    _conform(d, ImpairSpec, where)
    imp = Impairment()
    try:
        for key in ("delay", "jitter"):
            if key in d:
                setattr(imp, key, seconds(str(d[key])))
        if "loss" in d:
            imp.loss = parse_loss(str(d["loss"]))
        if "rate" in d:
            imp.rate = parse_rate(str(d["rate"]))
        if "queue" in d:
            imp.queue = d["queue"]
    except ArgumentError as e:
        raise _err(d.where(), f"impair: {e}") from None
    return imp


def parse_loss(text: str) -> float:
    """'1%' or '0.01' -> 0.01."""
    t = text.strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise ArgumentError(f"expected a loss such as 1% or 0.01, got {text!r}") from None
    if not 0 <= value <= 1:
        raise ArgumentError(f"loss must be between 0% and 100%, got {text!r}")
    return value


def parse_rate(text: str) -> float:
    """'10mbit', '10Mbps', '1gbit' -> bytes per second (tc's units are bits)."""
    t = text.strip()
    if t in ("0", "unlimited", "none"):
        return 0.0
    return bandwidth(t) if re.search(r"[a-zA-Z]", t) else bandwidth(t + "bps")


def load_lab(path: str) -> Lab:
    """Read, check and return the lab in a topology file (addresses not yet assigned)."""
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise TopologyError(f"cannot read topology file {path}: {e.strerror}") from None
    return parse_lab(text, path)


def parse_lab(text: str, path: str = "<topology>") -> Lab:
    try:
        doc = load_located(text, path)
    except TopologyYAMLError as e:
        raise TopologyError(str(e)) from None
    if not isinstance(doc, dict):
        raise TopologyError(f"{path}:1: a topology file is a mapping with 'name' and 'topology'")
    _conform(doc)
    name = str(doc["name"])
    if not LAB_NAME.match(name):
        raise _err(doc.where("name"), f"lab name '{name}' must be lower-case letters, digits "
                                      "and '-', at most 12 characters (it prefixes namespace names)")
    defaults = _mapping(doc.get("defaults"), doc.where("defaults"), "defaults")
    default_impair = parse_impairment(defaults.get("impair"), defaults.where("impair"))
    lab_routing = str(doc.get("routing", defaults.get("routing", "static")))
    if lab_routing not in ROUTING:
        raise _err(doc.where("routing"), f"routing must be one of {', '.join(ROUTING)}")
    hosts, host_mtu = _parse_hosts(doc)
    addressing = dict(DEFAULT_ADDRESSING)
    adr = _mapping(doc.get("addressing"), doc.where("addressing"), "addressing")
    for key, value in adr.items():
        addressing[key] = value
    _check_addressing(addressing, adr)

    topo = doc["topology"]
    nodes = _parse_nodes(topo, defaults, lab_routing, hosts)
    links = _parse_links(topo, nodes, default_impair)
    lab_ipv6 = _dual_stack(doc, nodes, links)
    validations = _parse_validations(doc, nodes)
    for key in ("ingress", "egress"):
        if key in defaults:
            raise _err(defaults.where(key), f"{key} belongs on one router node "
                       f"(topology.nodes.NAME.{key}), not under defaults")
    _check_pools(nodes, addressing)
    restart = str(doc.get("restart", "on-failure"))
    if restart not in RESTART_POLICIES:
        raise _err(doc.where("restart"), f"restart must be one of {', '.join(RESTART_POLICIES)}")
    return Lab(name=name, path=os.path.abspath(path) if os.path.exists(path) else path,
               nodes=nodes, links=links, validations=validations, hosts=hosts,
               addressing=addressing, routing=lab_routing, restart=restart, ipv6=lab_ipv6,
               host_mtu=host_mtu,
               resources=_parse_resources(doc.get("resources"), doc.where("resources")))


def _parse_resources(spec, where: str) -> dict | None:
    """{cpu: 0.5, memory: 256M} -> {"cpu": 0.5, "memory": 268435456} (None when absent)."""
    if not spec:
        return None
    from vforward.topo.cgroups import parse_memory
    out = {"cpu": spec.get("cpu"), "memory": None}
    if spec.get("memory") is not None:
        try:
            out["memory"] = parse_memory(spec["memory"])
        except ValueError as e:
            raise _err(spec.where("memory") if isinstance(spec, LocatedDict) else where,
                       f"resources: {e}") from None
    return out


def _parse_egress(spec, where: str, node: Node) -> dict:
    """egress: true | {address: A/LEN, peer: A, device: NAME} -> the node's egress (unset: chosen)."""
    if not node.is_router:
        raise _err(where, f"node {node.name} is a host; egress: belongs on a router")
    if node.routing != "ospf":
        raise _err(where, f"node {node.name}: egress needs 'routing: ospf' (its routing daemon "
                          "announces the default route into the lab)")
    spec = spec if isinstance(spec, dict) else {}
    out = {"address": None, "peer": None, "device": None}
    try:
        if spec.get("address") is not None:
            out["address"] = ipaddress.IPv4Interface(str(spec["address"]))
            if out["address"].network.prefixlen > 30:
                raise ValueError
        if spec.get("peer") is not None:
            out["peer"] = ipaddress.IPv4Address(str(spec["peer"]))
    except ValueError:
        raise _err(where, f"node {node.name}: egress address must be ADDR/LEN (at most /30) such "
                          "as 100.64.7.2/30, and peer an address in it such as 100.64.7.1") from None
    if out["peer"] is not None and (out["address"] is None or out["peer"] not in
                                    out["address"].network or out["peer"] == out["address"].ip):
        raise _err(where, f"node {node.name}: egress peer {out['peer']} must be another address "
                          "of the egress 'address' subnet (give both)")
    if spec.get("device") is not None:
        out["device"] = str(spec["device"])
        if not IFACE_NAME.match(out["device"]):
            raise _err(where, f"node {node.name}: egress device '{out['device']}' must start with "
                              "a letter, at most 15 characters")
    return out


def _dual_stack(doc, nodes: dict, links: list) -> bool:
    """Decide which links and nodes carry IPv6: a link when it says so, else
    when the file (at the top) or either of its nodes does; a node when it or
    the file says so, or when one of its links carries IPv6."""
    lab = bool(doc.get("ipv6", False))
    for link in links:
        if link.ipv6 is None:
            link.ipv6 = lab or bool(nodes[link.a.node].ipv6) or bool(nodes[link.b.node].ipv6)
    for node in nodes.values():
        node.ipv6 = bool(node.ipv6 if node.ipv6 is not None else lab) or any(
            i.link is not None and i.link.ipv6 for i in node.interfaces.values())
        if node.loopback6 is not None and not node.ipv6:
            raise _err(node.where, f"node {node.name} has a loopback6 but no IPv6; add "
                                   "'ipv6: true' to it or to the file")
    return any(n.ipv6 for n in nodes.values())


DEFAULT_HOST_MTU = 1500


def _parse_hosts(doc) -> tuple[dict, dict]:
    """host -> underlay address, and host -> underlay MTU."""
    from vforward.topo import underlay
    hosts = {"local": "127.0.0.1"}
    mtu = {"local": DEFAULT_HOST_MTU}
    raw = _mapping(doc.get("hosts"), doc.where("hosts"), "hosts")
    for hname, spec in raw.items():
        spec = _mapping(spec, raw.where(hname), f"host {hname}")
        try:
            hosts[str(hname)] = underlay.host_address(str(spec.get("address")))
        except ValueError as e:
            raise _err(spec.where("address") if "address" in spec else raw.where(hname),
                       f"host {hname} {e}") from None
        first = next((h for h in hosts if h != "local"), str(hname))
        if underlay.address_family(hosts[first]) != underlay.address_family(hosts[str(hname)]):
            raise _err(spec.where("address"), f"host {hname} has an "
                       f"IPv{underlay.address_family(hosts[str(hname)])} address and host {first} "
                       f"an IPv{underlay.address_family(hosts[first])} one; a link between them "
                       "would mix families: give every host of a lab addresses of one family")
        mtu[str(hname)] = spec.get("mtu") or DEFAULT_HOST_MTU
    if len(hosts) > 1:      # routers on this machine use its loopback of the hosts' family
        hosts["local"] = underlay.LOOPBACK[underlay.address_family(hosts[next(iter(raw))])]
    return hosts, mtu


def _check_addressing(addressing: dict, raw: LocatedDict) -> None:
    for key in ("p2p", "loopback", "lan"):
        try:
            addressing[key] = ipaddress.IPv4Network(str(addressing[key]), strict=False)
        except ValueError:
            raise _err(raw.where(key), f"addressing.{key} must be an IPv4 prefix such as "
                                       "10.0.0.0/16") from None
    for key in ("p2p6", "lan6", "loopback6"):
        try:
            addressing[key] = ipaddress.IPv6Network(str(addressing[key]), strict=False)
        except ValueError:
            raise _err(raw.where(key), f"addressing.{key} must be an IPv6 prefix such as "
                                       "2001:db8::/48") from None
        if addressing[key].prefixlen > (128 if key == "loopback6" else 64):
            raise _err(raw.where(key), f"addressing.{key} {addressing[key]} is smaller than one "
                                       "/64 subnet; give a /64 or shorter")
    if addressing["p2p_prefix"] not in (30, 31):
        raise _err(raw.where("p2p_prefix"), "addressing.p2p_prefix must be 30 or 31")
    for key, longest in (("p2p", addressing["p2p_prefix"]), ("lan", 24)):
        if addressing[key].prefixlen > longest:
            raise _err(raw.where(key), f"addressing.{key} {addressing[key]} is smaller than one "
                                       f"/{longest} subnet; give a prefix of /{longest} or shorter")


def _parse_nodes(topo, defaults, lab_routing, hosts) -> dict:
    raw = _mapping(topo.get("nodes"), topo.where("nodes"), "topology.nodes")
    if not raw:
        raise _err(topo.where("nodes") if "nodes" in topo else topo.where(),
                   "topology.nodes is empty: declare at least one node")
    nodes = {}
    for nname, spec in raw.items():
        nname = str(nname)
        where = raw.where(nname)
        if not NODE_NAME.match(nname):
            raise _err(where, f"node name '{nname}' must start with a letter and use lower-case "
                              "letters, digits and '-' (at most 15 characters)")
        spec = _mapping(spec, where, f"node {nname}")
        node = Node(name=nname, where=where)
        node.kind = str(spec.get("kind", defaults.get("kind", "router")))
        if node.kind not in KINDS:
            hint = did_you_mean(node.kind, KINDS)
            raise _err(spec.where("kind"), f"node {nname}: kind '{node.kind}' is not "
                                           f"{' or '.join(KINDS)}" + (f"; did you mean '{hint}'?" if hint else ""))
        node.routing = str(spec.get("routing", lab_routing))
        if node.routing not in ROUTING:
            raise _err(spec.where("routing"), f"node {nname}: routing must be one of {', '.join(ROUTING)}")
        node.host = str(spec.get("host", defaults.get("host", "local")))
        if node.host not in hosts:
            hint = did_you_mean(node.host, hosts)
            raise _err(spec.where("host"), f"node {nname}: host '{node.host}' is not declared "
                                           "under 'hosts'" + (f"; did you mean '{hint}'?" if hint else ""))
        node.config = spec.get("config")
        if "bgp" in spec:
            node.bgp = _parse_bgp(spec["bgp"], spec.where("bgp"), nname)
        node.extra = str(spec.get("extra", ""))
        node.ipv6 = spec.get("ipv6", defaults.get("ipv6"))
        if "loopback6" in spec:
            try:
                node.loopback6 = ipaddress.IPv6Interface(str(spec["loopback6"]))
            except ValueError:
                raise _err(spec.where("loopback6"), f"node {nname}: loopback6 must be an address "
                                                    "such as 2001:db8:ff::9/128") from None
        if spec.get("resources", defaults.get("resources")):
            key = "resources" if "resources" in spec else None
            node.resources = _parse_resources(spec.get("resources", defaults.get("resources")),
                                              spec.where(key) if key else defaults.where("resources"))
        if spec.get("egress"):
            node.egress = _parse_egress(spec["egress"], spec.where("egress"), node)
        if "ingress" in spec:
            node.ingress = _parse_ingress(spec["ingress"], spec.where("ingress"), node)
        if "loopback" in spec:
            try:
                node.loopback = ipaddress.IPv4Interface(str(spec["loopback"]))
            except ValueError:
                raise _err(spec.where("loopback"), f"node {nname}: loopback must be an address "
                                                   "such as 10.255.0.9/32") from None
        nodes[nname] = node
    return nodes


def _parse_ingress(spec, where: str, node: Node) -> Ingress:
    """A router's `ingress: {listen, port, proto, pool, remote}`; every key may be left out."""
    spec = _mapping(spec, where, f"node {node.name} ingress")
    if node.kind != "router":
        raise _err(where, f"node {node.name}: ingress needs a router node; clients enter the "
                          "lab at a router (move it to the host's router)")
    ing = Ingress(where=where)
    try:
        if "listen" in spec:
            ing.listen = ipaddress.IPv4Address(str(spec["listen"]))
        if "remote" in spec:
            ing.remote = str(spec["remote"])
    except ValueError:
        raise _err(spec.where("listen"), f"node {node.name}: ingress listen must be an IPv4 "
                                         "address of this machine such as 198.51.100.1") from None
    if "pool" in spec:
        try:
            ing.pool = ipaddress.IPv4Network(str(spec["pool"]))
        except ValueError:
            raise _err(spec.where("pool"), f"node {node.name}: ingress pool must be a prefix "
                                           "such as 10.8.0.0/24 (host bits zero)") from None
        if not 16 <= ing.pool.prefixlen <= 29:
            raise _err(spec.where("pool"), f"node {node.name}: ingress pool {ing.pool} must be "
                                           "a /16 to /29 (the server takes its first address)")
    ing.port = spec.get("port", ing.port)
    ing.port_given = "port" in spec
    ing.proto = str(spec.get("proto", ing.proto))
    return ing


def _check_pools(nodes: dict, addressing: dict) -> None:
    """Client pools may overlap neither the lab's address plan nor one another."""
    taken = [(addressing[k], f"addressing.{k}") for k in ("p2p", "loopback", "lan")]
    for node in nodes.values():
        if node.ingress is None:
            continue
        for prefix, what in taken:
            if node.ingress.pool.overlaps(prefix):
                raise _err(node.ingress.where, f"node {node.name}: ingress pool "
                           f"{node.ingress.pool} overlaps {what} {prefix}; choose another pool "
                           "such as 10.8.0.0/24")
        taken.append((node.ingress.pool, f"node {node.name}'s pool"))


def _parse_bgp(spec, where: str, nname: str) -> dict:
    """A node's BGP: {asn: N, neighbors: [{peer: NODE [, asn]} | {address: A, asn: N}]}."""
    spec = _mapping(spec, where, f"node {nname} bgp")
    asn = spec.get("asn")
    neighbors = spec.get("neighbors") or []
    for i, nb in enumerate(neighbors):
        nb_where = neighbors.where(i) if isinstance(neighbors, LocatedList) else where
        if isinstance(nb, str):
            nb = {"peer": nb}
            neighbors[i] = nb
        nb = _mapping(nb, nb_where, "a bgp neighbor")
        if ("peer" in nb) == ("address" in nb):
            raise _err(nb_where, f"node {nname}: a bgp neighbor has either 'peer: NODE' or "
                                 "'address: A.B.C.D' (with 'asn')")
        if "address" in nb and "asn" not in nb:
            raise _err(nb_where, f"node {nname}: a bgp neighbor given by address needs its 'asn'")
    return {"asn": asn, "neighbors": [dict(nb) for nb in neighbors]}


def _parse_links(topo, nodes, default_impair) -> list:
    raw = topo.get("links") or LocatedList()
    links = []
    for i, spec in enumerate(raw):
        where = raw.where(i)
        spec = _mapping(spec, where, "a link")
        eps = spec["endpoints"]
        ends = []
        for ep in eps:
            node_name, colon, iname = str(ep).partition(":")
            if not colon or not iname:
                raise _err(where, f"endpoint '{ep}' must be written node:interface, e.g. r1:eth1")
            node = nodes.get(node_name)
            if node is None:
                hint = did_you_mean(node_name, nodes)
                raise _err(where, f"endpoint '{ep}' names node '{node_name}', which is not under "
                                  "topology.nodes" + (f"; did you mean '{hint}'?" if hint else
                                                      "; declare it or fix the name"))
            if not IFACE_NAME.match(iname):
                raise _err(where, f"interface name '{iname}' must start with a letter, at most 15 characters")
            if iname in node.interfaces:
                other = node.interfaces[iname].link
                used = f"the link at {other.where}" if other else "this link's other end"
                raise _err(where, f"interface {ep} is already used by {used}; "
                                  "give this link another interface name")
            iface = Interface(node=node_name, name=iname)
            node.interfaces[iname] = iface
            ends.append(iface)
        a, b = ends
        if a.node == b.node:
            raise _err(where, f"link {a.ref} -- {b.ref} connects node {a.node} to itself")
        if not nodes[a.node].is_router and not nodes[b.node].is_router:
            raise _err(where, f"link {a.ref} -- {b.ref} joins two hosts; a host connects to a router")
        link = Link(index=len(links), a=a, b=b, where=where)
        a.link = b.link = link
        link.impair = default_impair.merged(parse_impairment(spec.get("impair"), spec.where("impair")))
        link.state = str(spec.get("state", "up"))
        if "transport" in spec:
            link.transport = str(spec["transport"])
            if link.transport not in LINK_TRANSPORTS:
                raise _err(spec.where("transport"), f"transport must be one of "
                           f"{', '.join(LINK_TRANSPORTS)}, not '{link.transport}'")
            if not (nodes[a.node].is_router and nodes[b.node].is_router):
                raise _err(spec.where("transport"), "a transport is chosen for router-router "
                           "links only; a host's link is a TAP its router owns")
        if "cost" in spec:
            link.cost = spec["cost"]
        link.ipv6 = spec.get("ipv6")
        link.mtu = spec.get("mtu", link.mtu)
        if "subnet6" in spec:
            try:
                link.subnet6 = ipaddress.IPv6Network(str(spec["subnet6"]))
            except ValueError:
                raise _err(spec.where("subnet6"), "subnet6 must be an IPv6 prefix such as "
                                                  "2001:db8:99::/64 (host bits zero)") from None
            if link.subnet6.prefixlen > 126:
                raise _err(spec.where("subnet6"), f"subnet6 {link.subnet6} has room for fewer "
                                                  "than two addresses; give a /64")
            link.ipv6 = True if link.ipv6 is None else link.ipv6
        if "subnet" in spec:
            try:
                link.subnet = ipaddress.IPv4Network(str(spec["subnet"]))
            except ValueError:
                raise _err(spec.where("subnet"), "subnet must be an IPv4 prefix such as 10.9.0.0/30 "
                                                 "(host bits zero)") from None
        if spec.get("addresses") is not None:     # 'addresses:' left empty: none given
            for iface, text in zip(ends, spec["addresses"]):
                try:
                    iface.address = ipaddress.IPv4Interface(str(text))
                except ValueError:
                    raise _err(spec.where("addresses"), f"'{text}' is not an address such as "
                                                        "10.0.0.1/30") from None
        links.append(link)
    for node in nodes.values():
        if not node.interfaces and node.kind == "host":
            raise _err(node.where, f"host {node.name} has no link; connect it to a router")
    return links


def _parse_validations(doc, nodes) -> list:
    raw = doc.get("validate") or []
    out = []
    for i, item in enumerate(raw):
        where = raw.where(i)
        kind, spec = next(iter(item.items()))
        src, dst = str(spec["from"]), str(spec["to"])
        if src not in nodes:
            raise _err(where, f"{kind}: 'from' names node '{src}', which is not under "
                              "topology.nodes" + _hint(src, nodes))
        family = str(spec.get("family", "ipv4"))
        if dst not in nodes:
            try:
                ipaddress.ip_address(dst)
            except ValueError:
                raise _err(where, f"{kind}: 'to' must name a node or an address, not "
                                  f"'{dst}'" + _hint(dst, nodes)) from None
            if ":" in dst:
                family = "ipv6"
        if family == "ipv6":
            for end in (src, dst):
                if end in nodes and not nodes[end].ipv6:
                    raise _err(where, f"{kind} over IPv6: node {end} has no IPv6; add "
                                      "'ipv6: true' to it or at the top of the file")
        path = [str(hop) for hop in spec.get("path") or []]
        for hop in path:
            if hop not in nodes:
                raise _err(where, f"traceroute path names unknown node '{hop}'" + _hint(hop, nodes))
        out.append(Validation(kind=kind, src=src, dst=dst, count=spec.get("count") or 3,
                              path=path, where=where, family=family))
    return out


def _hint(name: str, known) -> str:
    hint = did_you_mean(name, known)
    if hint:
        return f"; did you mean '{hint}'?"
    names = sorted(map(str, known))     # nothing close: say what there is
    if not names or len(names) > 12:
        return ""
    return "; the lab's nodes are " + ", ".join(names)
