"""Emulated hosts: a lab's `hosts:` as namespaces on one machine, every router
run by `vforward node run` in a namespace of its own, as a pod would run it.

`vforward topo deploy LAB.yaml --emulate-hosts` builds, for a lab whose
nodes are all placed on hosts of its `hosts:` section:

  * the underlay: namespace vfu-LAB holds a bridge; every host is a
    namespace vfh-LAB-HOST whose `ul0` (a veth on that bridge, the host's
    `mtu`) carries the host's underlay address (/32, with a route to each
    other host's address and to its pod network).  The hosts' namespaces
    forward, like machines routing their pods' traffic (Calico's or
    flannel's host-gw style).
  * the pods: every node's namespace (vf-LAB-NODE, the name a lab on one
    machine uses, so exec, capture and validate find it) is a pod of its
    host: a veth `ul0` to the host's namespace, the pod address
    100.64.H.N/32 (H: the host's number from 1, N: the node's from 2 on
    that host) and routes to the host and the pod network 100.64.0.0/16
    through it.  When the hosts' addresses are IPv6 (see
    vforward.topo.underlay) the whole underlay is IPv6: hosts' addresses
    /128, pods 2001:db8:64:H::N/128 in the pod network 2001:db8:64::/48
    (a /64 per host), the hosts forwarding IPv6.  A pod's veth has MTU
    65535, as the pod's traffic to its host never leaves the machine; a
    packet to another host meets that host's underlay MTU on `ul0`.  So a
    link between routers of one host keeps MTU 1500 and one between hosts
    gets underlay MTU minus 54 (74 over IPv6; see vforward.node).
    /etc/netns/vf-LAB-NODE/hosts names every router's
    pod address, so `ip netns exec` gives a node run the DNS names a
    headless Service gives a pod.
  * every router runs `vforward node run` on its bundle (STATE/nodes/NODE)
    inside its pod namespace, with its control socket at the lab's usual
    STATE/sock/NODE.sock, so stats, link, impair, capture and top work as
    on one machine.  Host nodes are namespaces of their own with the TAP
    their router puts there.

destroy stops the node runs (each removes what it made) and deletes the
pods', hosts' and underlay namespaces and the /etc/netns folders.  A node
run that dies is not restarted here (a Kubernetes pod would be).
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import sys
import time

from vforward import netns
from vforward.topo import render, underlay
from vforward.topo.deploy import (DUAL_STACK_SYSCTLS, NODE_SYSCTLS, DeployError, _record,
                                  assign_underlay, destroy_state, prepare)
from vforward.topo.state import labs_lock, load_state, remove_state
from vforward.topo.supervise import identify, same_process

POD_NETWORK = ipaddress.IPv4Network("100.64.0.0/16")
POD_NETWORK6 = ipaddress.IPv6Network("2001:db8:64::/48")     # a /64 per host
POD_MTU = 65535
READY_TIMEOUT = 60.0
ETC_NETNS = "/etc/netns"
HOST_SYSCTLS = {"net.ipv4.ip_forward": "1", "net.ipv4.conf.all.rp_filter": "0",
                "net.ipv4.conf.default.rp_filter": "0",
                "net.ipv6.conf.all.disable_ipv6": "1", "net.ipv6.conf.default.disable_ipv6": "1"}
HOST_SYSCTLS6 = HOST_SYSCTLS | {"net.ipv6.conf.all.disable_ipv6": "0",
                                "net.ipv6.conf.default.disable_ipv6": "0",
                                "net.ipv6.conf.all.forwarding": "1",
                                "net.ipv6.conf.all.accept_dad": "0",
                                "net.ipv6.conf.default.accept_dad": "0"}


def underlay_netns(lab_name: str) -> str:
    return f"vfu-{lab_name}"


def host_netns(lab_name: str, host: str) -> str:
    return f"vfh-{lab_name}-{host}"


def _pod_network(lab):
    return POD_NETWORK6 if underlay.lab_family(lab) == 6 else POD_NETWORK


def _host_pods(lab, h: int):
    """The pod subnet of host number h (from 1): a /24 of POD_NETWORK or a /64 of POD_NETWORK6."""
    if underlay.lab_family(lab) == 6:
        return ipaddress.IPv6Network((int(POD_NETWORK6.network_address) + (h << 64), 64))
    return ipaddress.IPv4Network((int(POD_NETWORK.network_address) + (h << 8), 24))


def pod_addresses(lab) -> dict:
    """node -> its pod address, 100.64.H.N, or 2001:db8:64:H::N on an IPv6 underlay
    (hosts numbered from 1 in file order)."""
    hosts = [h for h in lab.hosts if h != "local"]
    out, count = {}, {}
    for node in lab.nodes.values():
        h = hosts.index(node.host) + 1
        count[h] = count.get(h, 1) + 1
        if h > 254 or count[h] > 254:
            raise DeployError("emulated hosts hold at most 253 nodes each and 254 hosts")
        out[node.name] = str(_host_pods(lab, h).network_address + count[h])
    return out


def _batch(ns: str | None, lines: list[str]) -> None:
    cmd = ["ip"] + (["-n", ns] if ns else []) + ["-batch", "-"]
    p = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True)
    if p.returncode != 0:
        raise DeployError(f"building the emulated underlay failed ({' '.join(cmd)}): "
                          f"{p.stderr.strip()}")


def _build_underlay(lab, pods: dict, st) -> None:
    hosts = [h for h in lab.hosts if h != "local"]
    ul = underlay_netns(lab.name)
    hns = {h: host_netns(lab.name, h) for h in hosts}
    st.emulated_hosts = {"underlay": ul, "hosts": hns, "pods": pods,
                         "etc": [os.path.join(ETC_NETNS, render.netns_name(lab, n))
                                 for n in lab.nodes if lab.nodes[n].is_router]}
    st.save()
    v6 = underlay.lab_family(lab) == 6
    host_len, pod_net = ("128", POD_NETWORK6) if v6 else ("32", POD_NETWORK)
    netns.create_many([ul], HOST_SYSCTLS)
    netns.create_many(list(hns.values()), HOST_SYSCTLS6 if v6 else HOST_SYSCTLS)
    netns.create_many([render.netns_name(lab, n) for n in lab.nodes],
                      NODE_SYSCTLS | DUAL_STACK_SYSCTLS if v6 or lab.ipv6 else NODE_SYSCTLS)
    root, bridge = [], ["link add br0 type bridge", "link set br0 up"]
    for i, h in enumerate(hosts):
        root.append(f"link add ul{i} netns {ul} type veth peer name ul0 netns {hns[h]}")
    for j, node in enumerate(lab.nodes.values()):
        if node.is_router:
            root.append(f"link add p{j} netns {hns[node.host]} type veth peer name ul0 "
                        f"netns {render.netns_name(lab, node.name)}")
    _batch(None, root)
    for i, h in enumerate(hosts):
        bridge += [f"link set ul{i} mtu {lab.host_mtu[h]} master br0", f"link set ul{i} up"]
    _batch(ul, bridge)
    for hi, h in enumerate(hosts):
        lines = [f"link set ul0 mtu {lab.host_mtu[h]} up",
                 f"address add {lab.hosts[h]}/{host_len} dev ul0"]
        for oi, other in enumerate(hosts):
            if other != h:
                lines += [f"route add {lab.hosts[other]}/{host_len} dev ul0",
                          f"route add {_host_pods(lab, oi + 1)} "
                          f"via {lab.hosts[other]} dev ul0 onlink"]
        for j, node in enumerate(lab.nodes.values()):
            if node.is_router and node.host == h:
                lines += [f"link set p{j} mtu {POD_MTU} up",
                          f"route add {pods[node.name]}/{host_len} dev p{j}"]
                if v6:  # neighbour discovery answers only for the asking link's addresses
                    lines.append(f"address add {lab.hosts[h]}/128 dev p{j}")
        _batch(hns[h], lines)
    for node in lab.routers():
        gw = lab.hosts[node.host]
        _batch(render.netns_name(lab, node.name),
               [f"link set ul0 mtu {POD_MTU} up",
                f"address add {pods[node.name]}/{host_len} dev ul0",
                f"route add {gw}/{host_len} dev ul0", f"route add {pod_net} via {gw} dev ul0 onlink"])


def _write_bundles(lab, pods: dict, st) -> None:
    from vforward.node.bundle import node_bundle
    names = "".join(f"{pods[n.name]}\t{n.name}\n" for n in lab.routers())
    for node in lab.routers():
        folder = os.path.join(st.directory, "nodes", node.name)
        os.makedirs(folder, exist_ok=True)
        for fname, text in node_bundle(lab, node.name, pods).items():
            with open(os.path.join(folder, fname), "w") as f:
                f.write(text)
        etc = os.path.join(ETC_NETNS, render.netns_name(lab, node.name))
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "hosts"), "w") as f:
            f.write("127.0.0.1\tlocalhost\n" + names)


def node_command(st, node: str) -> list[str]:
    return [sys.executable, "-m", "vforward", "node", "run",
            os.path.join(st.directory, "nodes", node),
            "--run-dir", os.path.join(st.directory, "run", node),
            "--control", os.path.join(st.directory, "sock", f"{node}.sock"),
            "--metrics", "off", "--peer-suffix", ""]


def _start_nodes(lab, st) -> None:
    for node in lab.routers():
        log = os.path.join(st.directory, "logs", f"{node.name}.log")
        with open(log, "w") as logf:
            p = netns.popen(render.netns_name(lab, node.name), *node_command(st, node.name),
                            stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                            start_new_session=True)
        record = identify({"node": node.name, "pid": p.pid, "what": "node", "log": log})
        record.pop("cmd", None)     # `ip netns exec` is about to exec the node run: same start
        st.daemons.append(record)
    st.save()


def _wait_ready(lab, st) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    waiting = {d["node"]: d for d in st.daemons if d["what"] == "node"}
    while waiting:
        for node, d in list(waiting.items()):
            run_dir = os.path.join(st.directory, "run", node)
            if os.path.exists(os.path.join(run_dir, "ready")):
                del waiting[node]
                pidfile = os.path.join(run_dir, "bird", "bird.pid")
                if os.path.exists(pidfile):
                    st.daemons.append(identify({
                        "node": node, "pid": int(open(pidfile).read().split()[0]),
                        "what": "bird", "socket": os.path.join(run_dir, "bird", "bird.ctl")}))
            elif not same_process(d):
                raise DeployError(f"node {node} exited while starting:\n{_tail(d['log'])}")
        if time.monotonic() > deadline:
            raise DeployError(f"nodes not up after {READY_TIMEOUT:.0f}s: {', '.join(waiting)}; "
                              f"see {st.directory}/logs")
        time.sleep(0.05)
    st.save()


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path) as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return ""


def deploy_emulated(path: str, log=print):
    """Bring the lab up on emulated hosts; returns its state record."""
    lab = prepare(path)
    unplaced = [n.name for n in lab.nodes.values() if n.host == "local"]
    if unplaced:
        raise DeployError(f"--emulate-hosts places every node on a host of 'hosts:'; "
                          f"{', '.join(unplaced)} {'has' if len(unplaced) == 1 else 'have'} "
                          "no 'host:' (give one per node, or 'defaults: {host: NAME}'; "
                          "with two hosts or more, nodes without one are placed for you)")
    for node in lab.nodes.values():
        if not node.is_router:
            router = lab.nodes[next(iter(node.interfaces.values())).link.other(
                next(iter(node.interfaces.values()))).node]
            if router.host != node.host:
                raise DeployError(f"host node {node.name} is on host {node.host}, its router "
                                  f"{router.name} on {router.host}: a host node lives with "
                                  "its router; place them together")
        elif node.config:
            raise DeployError(f"node {node.name} has a hand-written config; emulated hosts "
                              "run generated node bundles")
    pod_net = _pod_network(lab)
    taken = [f"{n.name} {lo}" for n in lab.routers() for lo in (n.loopback, n.loopback6)
             if lo is not None and lo.version == pod_net.version and lo in pod_net] + [
        f"{l.a.ref}--{l.b.ref} {sub}" for l in lab.links for sub in (l.subnet, l.subnet6)
        if sub is not None and sub.version == pod_net.version and sub.overlaps(pod_net)] + [
        f"host {h} {a}" for h, a in lab.hosts.items() if ipaddress.ip_address(a) in pod_net]
    if taken:
        raise DeployError(f"emulated hosts give pods addresses in {pod_net}, which the lab "
                          f"uses ({'; '.join(taken[:3])}); choose other addressing: prefixes"
                          + (" or other hosts' addresses" if pod_net.version == 6 else ""))
    existing = load_state(lab.name)
    if existing is not None:
        if any(same_process(r) for r in existing.daemons + existing.workers) or any(
                netns.exists(n) for n in existing.namespaces.values()):
            raise DeployError(f"lab {lab.name} is already deployed (from {existing.topology}); "
                              f"run 'vforward topo destroy {lab.name}' first")
        remove_state(lab.name)
    t0 = time.monotonic()
    with labs_lock():
        assign_underlay(lab)
        st = _record(lab, path, "user")
        for sub in ("nodes", "run", "sock", "logs"):
            os.makedirs(os.path.join(st.directory, sub), exist_ok=True)
        os.chmod(os.path.join(st.directory, "sock"), 0o700)
        st.save()
    try:
        pods = pod_addresses(lab)
        _build_underlay(lab, pods, st)
        _write_bundles(lab, pods, st)
        _start_nodes(lab, st)
        _wait_ready(lab, st)
    except BaseException:
        destroy_state(st)
        raise
    hosts = sorted({n.host for n in lab.nodes.values()})
    log(f"lab {lab.name}: {len(lab.routers())} routers on {len(hosts)} emulated hosts "
        f"({', '.join(hosts)}), {len(lab.links)} links up in {time.monotonic() - t0:.1f}s")
    return st


def destroy_emulation(st) -> list[str]:
    """The underlay and hosts' namespaces and /etc/netns folders of an emulated lab."""
    emu = getattr(st, "emulated_hosts", None) or {}
    gone = [ns for ns in [*emu.get("hosts", {}).values(), emu.get("underlay")]
            if ns and netns.exists(ns)]
    netns.delete_many(gone)
    removed = [f"namespace {ns}" for ns in gone]
    for etc in emu.get("etc", []):
        if os.path.isdir(etc):
            shutil.rmtree(etc, ignore_errors=True)
            removed.append(f"folder {etc}")
    return removed
