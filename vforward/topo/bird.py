"""BIRD 2 for lab routers: the configuration of one node, and running BIRD in its namespace.

Every router node of an OSPF (or BGP) lab runs a BIRD in its namespace, as
PL-VINI ran XORP on every virtual node.  BIRD speaks OSPF and BGP through
the node kernel's interfaces (the TAPs of the node's vforward router) and
installs the routes it learns into the namespace's main kernel table; a
KernelRouteMirror in the node's router copies them into vforward's FIB.

`bird_config(lab, node)` renders:

  * `router id` = the node's loopback address;
  * `protocol device`, and `protocol direct` on `lo` and every interface;
  * `protocol kernel` exporting every learned route (not the connected ones
    the kernel has already) into the main table, `merge paths on` so that
    OSPF's equal-cost paths become one multipath route, scanned every
    SCAN_TIME seconds;
  * with `node.routing == "ospf"`: `protocol ospf v2`, area 0, every interface:
    point-to-point on a /30 or /31 between routers, broadcast otherwise, and
    a stub (passive) interface toward hosts; per-link `cost` from the
    topology's Link.cost; hello HELLO / dead DEAD seconds (1 / 4 by default,
    so a lab converges in seconds); the loopback as a stub network;
  * with a `bgp` spec on the node: one `protocol bgp` per neighbour;
  * on an ingress node, its OpenVPN device INGRESS_DEVICE: in `protocol
    direct` (BGP announces the clients' pool) and a stub OSPF interface
    (OSPF announces it).

The BGP spec is a per-node mapping in the topology file::

    topology:
      nodes:
        r1:
          bgp:
            asn: 65001                    # this node's AS number (1..4294967295)
            neighbors:
              - peer: r2                  # a router of the lab; its AS is its own bgp.asn
              - peer: r3
                asn: 65003                # ... or given here
              - address: 192.0.2.9        # a speaker outside the lab model: address and asn
                asn: 65100

A `peer` that shares a link with the node is reached over that link (the
two link addresses, a directly connected session); any other peer
loopback to loopback (`multihop` for eBGP; the IGP must reach it).
Every session announces the node's connected networks and loopback and
passes on the BGP routes it learned; an iBGP session sets next hop self.
The model keeps the spec as `Node.bgp`, the mapping above (None without
one); `bird_config` accepts the same shape from any object with a `bgp`
attribute.

`start_bird(netns, config_path, run_dir)` checks the configuration with
`bird -p` (a mistake raises BirdError with BIRD's own message) and starts
`bird -f -c CONF -s RUN_DIR/bird.ctl -P RUN_DIR/bird.pid` in the namespace,
logging to RUN_DIR/bird.log; `stop_bird(pid)` ends it and `birdc(socket,
command)` asks it something.
"""
from __future__ import annotations

import ipaddress
import os
import signal
import subprocess
import time
from dataclasses import dataclass

from vforward import netns as _netns
from vforward.topo.model import Interface, Lab, Node, TopologyError

HELLO = 1           # seconds between OSPF hellos
DEAD = 4            # seconds without hellos before a neighbour is dead
SCAN_TIME = 2       # seconds between BIRD's scans of the kernel table
BGP_HOLD = 6        # seconds (keepalive every hold/3)
START_TIMEOUT = 10.0
INGRESS_DEVICE = "ovpn0"   # the OpenVPN server's device in an ingress node's namespace
SOCKET_NAME = "bird.ctl"
PID_NAME = "bird.pid"
LOG_NAME = "bird.log"


class BirdError(RuntimeError):
    """BIRD refused a configuration or would not start; the message carries BIRD's words."""


# -- BGP sessions --------------------------------------------------------------------------
@dataclass(frozen=True)
class BGPSession:
    name: str                   # the BIRD protocol name
    local: ipaddress.IPv4Address
    local_asn: int
    neighbor: ipaddress.IPv4Address
    neighbor_asn: int
    direct: bool                # over a shared link (else loopback to loopback / multihop)

    @property
    def internal(self) -> bool:
        return self.local_asn == self.neighbor_asn


def _field(spec, key, default=None):
    if spec is None:
        return default
    if isinstance(spec, dict):
        return spec.get(key, default)
    return getattr(spec, key, default)


def _asn(value, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 0xFFFFFFFF:
        raise TopologyError(f"{where}: asn must be an AS number 1..4294967295, got {value!r}")
    return value


def _shared_link(lab: Lab, node: Node, peer: Node) -> tuple[Interface, Interface] | None:
    for iface in node.interfaces.values():
        if iface.link is not None:
            other = iface.link.other(iface)
            if other.node == peer.name and iface.address is not None:
                return iface, other
    return None


def bgp_sessions(lab: Lab, node: Node) -> list[BGPSession]:
    """The node's BGP sessions from its `bgp` spec (none without one)."""
    spec = getattr(node, "bgp", None)
    if not spec:
        return []
    where = f"node {node.name}: bgp"
    asn = _asn(_field(spec, "asn"), where)
    sessions, names = [], set()
    for i, nb in enumerate(_field(spec, "neighbors", None) or []):
        here = f"{where}: neighbor {i + 1}"
        peer_name, address = _field(nb, "peer"), _field(nb, "address")
        if (peer_name is None) == (address is None):
            raise TopologyError(f"{here}: give either 'peer: NODE' or 'address: ADDR' (with 'asn')")
        if peer_name is not None:
            peer = lab.nodes.get(str(peer_name))
            if peer is None or not peer.is_router:
                raise TopologyError(f"{here}: peer '{peer_name}' is not a router of lab {lab.name}")
            peer_asn = _field(nb, "asn", _field(getattr(peer, "bgp", None), "asn"))
            if peer_asn is None:
                raise TopologyError(f"{here}: peer {peer.name} has no bgp.asn; give 'asn' here")
            peer_asn = _asn(peer_asn, here)
            shared = _shared_link(lab, node, peer)
            if shared is not None:
                mine, theirs = shared
                local, remote, direct = mine.address.ip, theirs.address.ip, True
            else:
                local, remote, direct = node.loopback.ip, peer.loopback.ip, False
            name = f"bgp_{peer.name}"
        else:
            try:
                remote = ipaddress.IPv4Address(str(address))
            except ValueError:
                raise TopologyError(f"{here}: address '{address}' is not an IPv4 address") from None
            if _field(nb, "asn") is None:
                raise TopologyError(f"{here}: a neighbor given by address needs its 'asn'")
            peer_asn = _asn(_field(nb, "asn"), here)
            local, direct = None, False
            for iface in node.interfaces.values():
                if iface.address is not None and remote in iface.address.network:
                    local, direct = iface.address.ip, True
            local = local or node.loopback.ip
            name = f"bgp_{str(remote).replace('.', '_')}"
        name = name.replace("-", "_")
        if name in names:
            raise TopologyError(f"{here}: a second session with the same neighbour")
        names.add(name)
        sessions.append(BGPSession(name, local, asn, remote, peer_asn, direct))
    return sessions


def bgp_sessions6(lab: Lab, node: Node) -> list[BGPSession]:
    """Multiprotocol BGP of a dual-stack router: beside each session with a
    dual-stack `peer` of the lab, one over IPv6 (the link's IPv6 addresses,
    or loopback6 to loopback6) carrying the IPv6 routes, named NAME6."""
    if not getattr(node, "ipv6", False):
        return []
    out = []
    for s in bgp_sessions(lab, node):
        peer = next((n for n in lab.nodes.values() if n.is_router and s.neighbor in
                     {n.loopback.ip} | {i.address.ip for i in n.interfaces.values()}), None)
        if peer is None or not getattr(peer, "ipv6", False):
            continue            # a speaker outside the lab, or an IPv4-only router
        if s.direct:
            mine, theirs = _shared_link(lab, node, peer)
            if mine.address6 is None:
                continue
            local, remote = mine.address6.ip, theirs.address6.ip
        else:
            local, remote = node.loopback6.ip, peer.loopback6.ip
        out.append(BGPSession(f"{s.name}6", local, s.local_asn, remote, s.neighbor_asn, s.direct))
    return out


# -- rendering -----------------------------------------------------------------------------
def _ospf_interface(lab: Lab, iface: Interface, hello: int, dead: int) -> str:
    link = iface.link
    peer = lab.nodes[link.other(iface).node]
    net = iface.address.network
    if not peer.is_router:
        return f'interface "{iface.name}" {{ type broadcast; stub yes; cost {link.cost}; }};'
    kind = "ptp" if net.prefixlen >= 30 else "broadcast"
    return (f'interface "{iface.name}" {{ type {kind}; cost {link.cost}; '
            f"hello {hello}; dead {dead}; retransmit 2; }};")


def bird_config(lab: Lab, node: Node, hello: int = HELLO, dead: int = DEAD,
                scan_time: int = SCAN_TIME) -> str:
    """The BIRD 2 configuration of router `node` (its addresses assigned)."""
    if not node.is_router:
        raise TopologyError(f"node {node.name} is a host; BIRD runs on routers")
    if node.loopback is None:
        raise TopologyError(f"node {node.name} has no loopback yet; assign addresses first")
    ifaces = [i for i in node.interfaces.values() if i.address is not None]
    # An ingress node's OpenVPN device carries the clients' pool (see topo/ingress).
    tun = [INGRESS_DEVICE] if getattr(node, "ingress", None) is not None else []
    names = ", ".join(f'"{i}"' for i in ["lo"] + [i.name for i in ifaces] + tun)
    rid = node.loopback.ip
    out = [f"# BIRD 2 configuration of router {node.name} in lab {lab.name} (generated)",
           f"router id {rid};",
           "log stderr { info, remote, warning, error, auth, fatal, bug };",
           "",
           "protocol device { scan time 10; }",
           "",
           "# The loopback and the interfaces' networks, for BGP to announce.",
           "protocol direct {",
           "  ipv4;",
           *(["  ipv6;"] if getattr(node, "ipv6", False) else []),
           f"  interface {names};",
           "}",
           "",
           "# Learned routes into the namespace's main table, where vforward's",
           "# KernelRouteMirror reads them; the kernel has the connected ones.",
           "protocol kernel {",
           "  ipv4 { import none; export where source != RTS_DEVICE" +
           (" && source != RTS_STATIC" if getattr(node, "egress", None) else "") + "; };",
           "  merge paths on;",
           f"  scan time {scan_time};",
           "}",
           ""]
    if getattr(node, "ipv6", False):
        out += _ipv6_protocols(lab, node, hello, dead, scan_time)
    if getattr(node, "egress", None):
        out += ["# An egress node (topo/egress.py): the default route it announces into the",
                "# lab; its router, not its kernel, sends that traffic out through NAT.",
                "protocol static egress_default {",
                "  ipv4;",
                "  route 0.0.0.0/0 blackhole;",
                "}",
                ""]
    if node.routing == "ospf":
        out += ["protocol ospf v2 ospf1 {",
                "  ipv4 { import all; export " +
                ('where proto = "egress_default"' if getattr(node, "egress", None) else "none") +
                "; };",
                "  ecmp yes;",
                "  area 0 {",
                f'    interface "lo" {node.loopback.network} {{ stub yes; }};']
        out += [f"    {_ospf_interface(lab, i, hello, dead)}" for i in ifaces]
        if tun:
            out.append(f'    interface "{INGRESS_DEVICE}" {{ stub yes; }};   # the clients\' pool')
        out += ["  };", "}", ""]
    sessions = [(s, "ipv4") for s in bgp_sessions(lab, node)]
    sessions += [(s, "ipv6") for s in bgp_sessions6(lab, node)]
    for s, channel in sessions:
        kind = "iBGP" if s.internal else "eBGP"
        out += [f"# {kind} with AS {s.neighbor_asn}",
                f"protocol bgp {s.name} {{",
                f"  local {s.local} as {s.local_asn};",
                f"  neighbor {s.neighbor} as {s.neighbor_asn};"]
        if s.direct:
            out.append("  direct;")
        else:
            out.append("  multihop;" if not s.internal else "  # over the IGP, loopback to loopback")
        out += [f"  hold time {BGP_HOLD};",
                "  connect delay time 1;",
                "  connect retry time 2;",
                f"  {channel} {{",
                "    import all;",
                "    export where source ~ [RTS_DEVICE, RTS_BGP];"]
        if s.internal:
            out.append("    next hop self;")
        out += ["  };", "}", ""]
    return "\n".join(out)


def _ipv6_protocols(lab: Lab, node: Node, hello: int, dead: int, scan_time: int) -> list[str]:
    """A dual-stack router's IPv6: the kernel table export and, with OSPF, OSPFv3
    on the interfaces that carry IPv6.  OSPFv3 runs over link-local addresses
    and carries no addresses in its hellos; the loopback6 (on lo, which has no
    link-local address for OSPFv3 to run on) is exported into it."""
    out = ["protocol kernel kernel6 {",
           "  ipv6 { import none; export where source != RTS_DEVICE; };",
           "  merge paths on;",
           f"  scan time {scan_time};",
           "}",
           ""]
    if node.routing != "ospf":
        return out
    out += ["protocol ospf v3 ospf6 {",
            f"  ipv6 {{ import all; export where net = {node.loopback6.network}; }};",
            "  ecmp yes;",
            "  area 0 {"]
    for iface in node.interfaces.values():
        if iface.address6 is None:
            continue
        link = iface.link
        if not lab.nodes[link.other(iface).node].is_router:
            out.append(f'    interface "{iface.name}" {{ type broadcast; stub yes; '
                       f"cost {link.cost}; }};")
        else:
            out.append(f'    interface "{iface.name}" {{ type ptp; cost {link.cost}; '
                       f"hello {hello}; dead {dead}; retransmit 2; }};")
    return out + ["  };", "}", ""]


def write_config(lab: Lab, node: Node, path: str, **kw) -> str:
    """Render the node's configuration into `path`; returns the path."""
    with open(path, "w") as f:
        f.write(bird_config(lab, node, **kw))
    return path


# -- running BIRD --------------------------------------------------------------------------
def check_config(config_path: str) -> None:
    """Parse the configuration with `bird -p`; BirdError with BIRD's message if it is wrong."""
    p = subprocess.run(["bird", "-p", "-c", config_path], capture_output=True, text=True)
    if p.returncode != 0:
        raise BirdError(f"BIRD rejects {config_path}: {(p.stderr or p.stdout).strip()}")


def socket_path(run_dir: str) -> str:
    return os.path.join(run_dir, SOCKET_NAME)


def start_bird(netns: str | None, config_path: str, run_dir: str) -> int:
    """Check the configuration, start BIRD in namespace `netns` (None: this
    process's own) and return its pid once its control socket (RUN_DIR/bird.ctl) answers."""
    check_config(config_path)
    if netns is not None and not _netns.exists(netns):
        raise BirdError(f"cannot start BIRD: network namespace {netns!r} does not exist")
    os.makedirs(run_dir, exist_ok=True)
    sock, pidfile, log = (os.path.join(run_dir, n) for n in (SOCKET_NAME, PID_NAME, LOG_NAME))
    if len(sock) > 100:
        raise BirdError(f"BIRD's control socket path {sock} is too long for a Unix socket; "
                        "use a shorter run directory")
    for stale in (sock, pidfile):
        if os.path.exists(stale):
            os.unlink(stale)
    with open(log, "ab") as logf:
        cmd = ["bird", "-f", "-c", config_path, "-s", sock, "-P", pidfile]
        proc = (_netns.popen(netns, *cmd, **_detached(logf)) if netns is not None
                else subprocess.Popen(cmd, **_detached(logf)))
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        code = proc.poll()
        if code is not None:
            raise BirdError(f"BIRD exited with status {code} in namespace {netns or 'of its node'}: "
                            f"{_tail(log) or 'no message'}")
        if os.path.exists(sock) and _answers(sock):
            return proc.pid     # `ip netns exec` execs bird: the same process
        if time.monotonic() > deadline:
            _kill(proc.pid)
            raise BirdError(f"BIRD did not open its control socket {sock} within "
                            f"{START_TIMEOUT:.0f}s; see {log}")
        time.sleep(0.02)


def _detached(logf) -> dict:
    return {"stdin": subprocess.DEVNULL, "stdout": logf, "stderr": subprocess.STDOUT,
            "start_new_session": True}


def stop_bird(pid: int, timeout: float = 5.0) -> None:
    """End the BIRD with this pid (SIGTERM, then SIGKILL); nothing if it is gone."""
    _kill(pid, timeout)


def birdc(socket: str, command: str, timeout: float = 10.0) -> str:
    """Run one birdc command against the BIRD behind control socket `socket`."""
    try:
        p = subprocess.run(["birdc", "-s", socket, *command.split()], capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BirdError(f"birdc '{command}' on {socket}: no answer within {timeout:.0f}s") from None
    if p.returncode != 0:
        raise BirdError(f"birdc '{command}' on {socket} failed: {(p.stderr or p.stdout).strip()}")
    return p.stdout


def _answers(sock: str) -> bool:
    import socket as _socket
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.settimeout(1.0)
    try:
        s.connect(sock)
        return s.recv(64).startswith(b"0001 ")
    except OSError:
        return False
    finally:
        s.close()


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False        # our child, now reaped
    except ChildProcessError:
        pass                    # not our child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill(pid: int, timeout: float = 5.0) -> None:
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 2.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            _alive(pid)
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not _alive(pid):
                return
            time.sleep(0.02)


def _tail(path: str, lines: int = 10) -> str:
    try:
        with open(path) as f:
            return "".join(f.readlines()[-lines:]).strip()
    except OSError:
        return ""
