"""Kernel mode: the same lab forwarded by the Linux kernel, for comparison.

The nodes, addresses, MACs, routes and daemons are those of user mode; the
links are veth pairs between the nodes' namespaces, routers have
ip_forward=1, and link conditions are queueing disciplines: tbf for a rate;
netem for delay, jitter and loss where the kernel has it.  This kernel may
have no netem: a condition that cannot be emulated is reported as such,
never silently dropped.
"""
from __future__ import annotations

import functools
import hashlib
import subprocess

from vforward import netns
from vforward.topo.model import Impairment, Lab
from vforward.topo.render import netns_name


class KernelConditionError(RuntimeError):
    """A link condition the kernel cannot emulate here."""


def _ip_batch(ns: str, cmds: list[str]) -> None:
    if not cmds:
        return
    p = subprocess.run(["ip", "-n", ns, "-batch", "-"], input="\n".join(cmds) + "\n",
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"configuring namespace {ns} failed: {p.stderr.strip()}")


def build_links(lab: Lab) -> None:
    """veth pairs for every link, addressed, up; routers forward."""
    for link in lab.links:
        a, b = link.a, link.b
        # Made in the root namespace: the tag keeps two labs deploying at once apart.
        tag = hashlib.sha256(lab.name.encode()).hexdigest()[:6]
        tmp_a, tmp_b = f"vfk{link.index}a{tag}", f"vfk{link.index}b{tag}"
        netns.ip("link", "add", tmp_a, "type", "veth", "peer", "name", tmp_b)
        for iface, tmp in ((a, tmp_a), (b, tmp_b)):
            ns = netns_name(lab, iface.node)
            netns.ip("link", "set", tmp, "netns", ns)
            _ip_batch(ns, [f"link set {tmp} name {iface.name}",
                           f"link set {iface.name} address {iface.mac}",
                           f"link set {iface.name} mtu {link.mtu}",
                           f"address add {iface.address} dev {iface.name}",
                           f"link set {iface.name} up"])
    for node in lab.nodes.values():
        ns = netns_name(lab, node.name)
        if node.is_router:
            netns.run(ns, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
            if node.ipv6:   # its IPv6 addresses and routes come with the node kernels' setup
                netns.run(ns, "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1")
        else:
            iface = next(iter(node.interfaces.values()))
            gw = iface.link.other(iface).address.ip
            _ip_batch(ns, [f"route add default via {gw} dev {iface.name}"])
    for link in lab.links:
        for end in (link.a, link.b):
            ns = netns_name(lab, end.node)
            if link.state == "down":
                set_device_state(ns, end.name, "down")
            if not link.impair.is_default():
                apply_impairment(ns, end.name, link.impair)


@functools.lru_cache(maxsize=1)
def netem_available() -> bool:
    """Whether this kernel has the netem qdisc (tried once on a scratch device)."""
    name = "vfnetemprobe"
    ns = "vf-netem-probe"
    try:
        netns.create(ns)
        netns.ip("link", "add", name, "type", "dummy", netns=ns)
        p = subprocess.run(["tc", "-n", ns, "qdisc", "add", "dev", name, "root", "netem",
                            "delay", "1ms"], capture_output=True)
        return p.returncode == 0
    except Exception:
        return False
    finally:
        netns.delete(ns)


def unsupported(imp: Impairment) -> list[str]:
    """The conditions of `imp` this kernel cannot apply."""
    if netem_available():
        return []
    missing = []
    if imp.delay:
        missing.append(f"delay {imp.delay * 1000:g}ms")
    if imp.jitter:
        missing.append(f"jitter {imp.jitter * 1000:g}ms")
    if imp.loss:
        missing.append(f"loss {imp.loss * 100:g}%")
    return missing


def apply_impairment(ns: str, dev: str, imp: Impairment) -> list[str]:
    """Set the egress qdisc of device `dev` in `ns`; returns the conditions it could not apply."""
    subprocess.run(["tc", "-n", ns, "qdisc", "del", "dev", dev, "root"], capture_output=True)
    missing = unsupported(imp)
    parent = ["root"]
    if imp.rate:
        rate_bit = int(imp.rate * 8)
        burst = max(1600, int(imp.rate / 100))        # about 10 ms of traffic
        limit = max(imp.queue, 1) * 1514
        _tc(ns, "qdisc", "add", "dev", dev, "root", "handle", "1:", "tbf", "rate", f"{rate_bit}bit",
            "burst", str(burst), "limit", str(limit))
        parent = ["parent", "1:1"]
    if netem_available() and (imp.delay or imp.jitter or imp.loss):
        args = ["delay", f"{imp.delay * 1000:g}ms"]
        if imp.jitter:
            args += [f"{imp.jitter * 1000:g}ms"]
        if imp.loss:
            args += ["loss", f"{imp.loss * 100:g}%"]
        _tc(ns, "qdisc", "add", "dev", dev, *parent, "handle", "10:", "netem", *args)
    return missing


def _tc(ns: str, *args: str) -> None:
    p = subprocess.run(["tc", "-n", ns, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise KernelConditionError(f"tc {' '.join(args)} in {ns} failed: {p.stderr.strip()}")


def set_device_state(ns: str, dev: str, state: str) -> None:
    netns.ip("link", "set", dev, state, netns=ns)


def interface_counters(ns: str, dev: str) -> dict:
    """rx/tx packets, bytes and drops of a device inside a namespace."""
    import json
    p = subprocess.run(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev],
                       capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"cannot read counters of {dev} in {ns}: {p.stderr.strip()}")
    st = json.loads(p.stdout)[0]["stats64"]
    return {"rx_packets": st["rx"]["packets"], "rx_bytes": st["rx"]["bytes"],
            "tx_packets": st["tx"]["packets"], "tx_bytes": st["tx"]["bytes"],
            "drops": st["rx"]["dropped"] + st["tx"]["dropped"]}
