"""`vforward topo validate`: the checks of a lab's `validate:` section.

reach: the destination answers a ping within a few seconds.
ping: COUNT pings, all answered.
traceroute: the hops between source and destination are the routers PATH names
(looked at again for up to 10 s while a routing daemon converges).
Each check runs over IPv4, or over IPv6 with `family: ipv6` (or an IPv6
address as its destination): ping -6 and traceroute -6 aimed at the node's
IPv6 address (a router's loopback6).
"""
from __future__ import annotations

import ipaddress
import re
import subprocess
import time

from vforward.topo.model import Lab, Validation
from vforward.topo.render import netns_name


def target_address(lab: Lab, name: str, family: str = "ipv4") -> str:
    """A node's address to aim at: a host's only address, a router's loopback
    (of the family: ipv4 or ipv6)."""
    node = lab.nodes.get(name)
    if node is None:
        return str(ipaddress.ip_address(name))
    six = family == "ipv6"
    if node.is_router:
        return str((node.loopback6 if six else node.loopback).ip)
    iface = next(iter(node.interfaces.values()))
    return str((iface.address6 if six else iface.address).ip)


def address_owners(lab: Lab) -> dict:
    owners = {}
    for node in lab.nodes.values():
        for iface in node.interfaces.values():
            owners[str(iface.address.ip)] = node.name
            if iface.address6 is not None:
                owners[str(iface.address6.ip)] = node.name
        for loopback in (node.loopback, node.loopback6):
            if loopback is not None:
                owners[str(loopback.ip)] = node.name
    return owners


def _run(lab: Lab, access, node: str, argv: list[str], timeout: float):
    """argv in a node: through `access` (vforward.topo.access: here, or in a pod),
    or in the node's namespace on this machine when None."""
    if access is not None:
        return access.run(node, argv, timeout=timeout)
    return subprocess.run(["ip", "netns", "exec", netns_name(lab, node), *argv],
                          capture_output=True, text=True, timeout=timeout)


def ping(lab: Lab, src: str, dst_addr: str, count: int = 1, timeout: float = 1.0,
         interval: float = 0.2, access=None) -> tuple[int, int, str]:
    """(sent, received, output) of `ping` from a node's namespace."""
    family = ["-6"] if ":" in dst_addr else []
    p = _run(lab, access, src, ["ping", *family, "-n", "-q", "-c", str(count), "-i", str(interval),
                                "-W", str(timeout), dst_addr],
             timeout=count * (interval + timeout) + 10)
    m = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", p.stdout)
    if not m:
        return count, 0, p.stdout + p.stderr
    return int(m.group(1)), int(m.group(2)), p.stdout


CONVERGENCE_WAIT = 10.0    # seconds a traceroute check looks again for its path


def reach(lab: Lab, src: str, dst_addr: str, within: float = 10.0,
          access=None) -> tuple[bool, float]:
    """Ping once a second-ish until an answer; (reached, seconds taken)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        _, got, _ = ping(lab, src, dst_addr, count=1, timeout=0.5, access=access)
        if got:
            return True, time.monotonic() - t0
        time.sleep(0.1)
    return False, time.monotonic() - t0


def traceroute(lab: Lab, src: str, dst_addr: str, access=None) -> list[str]:
    """Hop addresses from src to dst ('*' for a silent hop)."""
    family = ["-6"] if ":" in dst_addr else []
    p = _run(lab, access, src, ["traceroute", *family, "-n", "-q", "1", "-w", "1", "-m", "16",
                                dst_addr], timeout=60)
    hops = []
    for line in p.stdout.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit():
            hops.append(parts[1])
    return hops


def run_validation(lab: Lab, v: Validation, access=None) -> tuple[bool, str]:
    dst = target_address(lab, v.dst, v.family)
    if v.kind == "reach":
        ok, took = reach(lab, v.src, dst, access=access)
        return ok, f"reach {v.src} -> {v.dst} ({dst}): " + (f"ok in {took:.1f}s" if ok else "unreachable")
    if v.kind == "ping":
        sent, got, _ = ping(lab, v.src, dst, count=v.count, access=access)
        return got == sent, f"ping {v.src} -> {v.dst} ({dst}): {got}/{sent} answered"
    owners = address_owners(lab)
    t0 = time.monotonic()
    while True:
        hops = traceroute(lab, v.src, dst, access=access)
        names = [owners.get(h, h) for h in hops]
        routers = [n for n in names if n in lab.nodes and lab.nodes[n].is_router]
        ok = routers == list(v.path) if v.path else bool(hops) and hops[-1] == dst
        # a routing daemon may still be converging (a path answers before the
        # best one is known): look again for a while, as reach waits
        if ok or time.monotonic() - t0 > CONVERGENCE_WAIT:
            break
        time.sleep(0.5)
    want = f", expected {' '.join(v.path)}" if v.path else ""
    return ok, f"traceroute {v.src} -> {v.dst}: {' '.join(names) or 'no hops'}{want}"


def validate(lab: Lab, log=print) -> int:
    """Run every validation: 0 when all pass, 1 when one fails, 2 when there are none."""
    from vforward.topo.access import lab_access
    from vforward.topo.state import load_state
    from vforward.topo.supervise import down_nodes
    st = load_state(lab.name)
    down = down_nodes(st) if st is not None and st.mode == "user" else {}
    access = lab_access(lab)      # the nodes here, or in their pods through the API
    if access.remote:
        down.update({node: f"its pod is not ready ({why})"
                     for node, why in access.not_ready().items()})
    for node, why in sorted(down.items()):
        log(f"FAIL  node {node} is down: {why}")
    if not lab.validations:
        log(f"lab {lab.name} has no 'validate:' section")
        return 1 if down else 2
    failed = len(down)
    try:
        for v in lab.validations:
            ok, text = run_validation(lab, v, access)
            log(f"{'PASS' if ok else 'FAIL'}  {text}")
            failed += not ok
    finally:
        access.close()
    log(f"{len(lab.validations) + len(down) - failed} passed, {failed} failed")
    return 1 if failed else 0
