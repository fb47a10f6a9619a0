"""Bringing a lab up and tearing it down.

deploy: namespaces for every node, generated configs, worker processes that
run the routers (which create the TAP devices and the virtual links), the
node kernels' loopbacks and routes, and the state record.  destroy works
from the record alone, so it cleans up after a crashed router or a changed
YAML file and leaves no namespace, device, socket or process behind.
"""
from __future__ import annotations

import glob
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from vforward import netns
from vforward.args import ArgumentError
from vforward.busypoll import parse_budget
from vforward.interface_elements import EGRESS, INGRESS, element_name
from vforward.topo import egress, isolation, render
from vforward.topo.addressing import assign
from vforward.topo.cgroups import CgroupError
from vforward.topo.model import LAB_NAME, Lab, TopologyError, load_lab
from vforward.topo.routes import host_gateway6, static_routes, static_routes6
from vforward.topo.state import (LabState, deployed_labs, lab_dir, labs_lock, load_state,
                                 pid_alive, remove_state)
from vforward.topo.worker import POLL_BUDGET_FILE
from vforward.topo.supervise import (READY_TIMEOUT, current_workers, identify,
                                     lab_workers_by_command_line, same_process, signal_process,
                                     start_supervisor)

NODES_PER_WORKER = 25
READY_TIMEOUT = 120.0


class DeployError(RuntimeError):
    """The lab could not be brought up; the message says what failed and where to look."""


def prepare(path: str, name: str | None = None) -> Lab:
    """Read, check, place (nodes without host: on a lab of several hosts) and
    address a lab; `name` deploys the file under another name (a second slice
    of the same lab: its namespaces, links, shared regions, sockets and state
    all follow the name)."""
    from vforward.cluster.placement import place
    lab = load_lab(path)
    if name is not None and name != lab.name:
        if not LAB_NAME.match(name):
            raise TopologyError(f"lab name '{name}' must be lower-case letters, digits and '-', "
                                "at most 12 characters (it prefixes namespace names)")
        lab.name = name
    place(lab)
    return assign(lab)


def _free_udp_port(address: str, start: int, taken: frozenset = frozenset()) -> int:
    """The first UDP port from `start` that can be bound on `address` and is not `taken`."""
    port = start
    while port < 65535:
        if (address, port) in taken:
            port += 1
            continue
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            try:
                s.bind((address, port))
                return port
            except OSError:
                port += 1
    raise DeployError(f"no free UDP port on {address} from {start}")


def assign_underlay(lab: Lab, base: int = 0) -> None:
    """An (address, UDP port) for every router end of a router-router link."""
    if not base:
        digest = hashlib.sha256(lab.name.encode()).digest()
        base = 20000 + (int.from_bytes(digest[:4], "big") % 2000) * 16
    # Another lab's ports are its own even while unbound (a router restarting).
    taken = _underlay_of_other_labs(lab.name)
    port = base
    for link in lab.links:
        if not (lab.nodes[link.a.node].is_router and lab.nodes[link.b.node].is_router):
            continue
        for end in (link.a, link.b):
            addr = lab.hosts[lab.nodes[end.node].host]
            port = _free_udp_port(addr, port, taken) if addr.startswith("127.") or addr == "::1" \
                else port
            link.underlay[end.ref] = (addr, port)
            port += 1


def _other_labs(name: str):
    """The state records of the deployed labs other than `name` (unreadable ones skipped)."""
    for other in deployed_labs():
        if other == name:
            continue
        try:
            st = load_state(other)
        except (OSError, ValueError, TypeError):
            continue
        if st is not None:
            yield st


def _ingress_ports_of_other_labs(name: str) -> frozenset:
    """The UDP ports of the OpenVPN servers the other deployed labs recorded
    (held while a server is down, as link ports are)."""
    return frozenset(int(d["port"]) for st in _other_labs(name) for d in st.daemons
                     if d.get("what") == "openvpn" and d.get("port"))


def _underlay_of_other_labs(name: str) -> frozenset:
    """(address, port) of every link end the other deployed labs recorded."""
    return frozenset((str(a), int(p)) for st in _other_labs(name) for a, p in st.underlay.values())


def _record(lab: Lab, path: str, mode: str) -> LabState:
    st = LabState(name=lab.name, topology=os.path.abspath(path), mode=mode)
    for node in lab.nodes.values():
        st.namespaces[node.name] = render.netns_name(lab, node.name)
        if node.is_router and mode == "user":
            st.sockets[node.name] = os.path.join(lab_dir(lab.name), "sock", f"{node.name}.sock")
    for link in lab.links:
        for end in (link.a, link.b):
            peer = link.other(end)
            node = lab.nodes[end.node]
            if node.is_router:
                egress = [end.node, element_name(render.element_prefix(end), EGRESS)]
                counters = [end.node, render.element_prefix(end)]
                carrier = [end.node, f"{render.element_prefix(end)}_kernel"]
            else:   # a host's egress is the ingress emulator of the router that owns its TAP
                egress = [peer.node, element_name(render.element_prefix(peer), INGRESS)]
                counters = None
                carrier = [peer.node, f"{render.element_prefix(peer)}_wire"]
            st.interfaces[end.ref] = {"node": end.node, "name": end.name, "address": str(end.address),
                                      "mac": end.mac, "peer": peer.ref, "kind": node.kind,
                                      "egress": egress, "counters": counters, "carrier": carrier,
                                      "link": link.index}
            if end.address6 is not None:
                st.interfaces[end.ref]["address6"] = str(end.address6)
            if end.ref in link.underlay:
                st.underlay[end.ref] = list(link.underlay[end.ref])
        st.links[str(link.index)] = {"a": link.a.ref, "b": link.b.ref, "state": link.state,
                                     "subnet": str(link.subnet)}
    return st


# `ip` processes configuring node kernels at once: their time goes to process
# start-up and the kernel, so a few overlap well even on two CPUs.
KERNEL_SETUP_PARALLEL = 4


def _kernel_setup(lab: Lab) -> None:
    """Loopbacks and routes of the node kernels (after the TAPs exist)."""
    table = static_routes(lab)
    table6 = static_routes6(lab)

    def configure(node) -> None:
        cmds = []
        if node.is_router:
            cmds.append(f"address add {node.loopback} dev lo")
            if not render.uses_daemon(node):
                for r in table[node.name]:
                    if r.gateway is not None:
                        cmds.append(f"route replace {r.prefix} via {r.gateway} dev {r.interface}")
        cmds += kernel_commands6(lab, node, table6)
        if cmds:
            p = subprocess.run(["ip", "-n", render.netns_name(lab, node.name), "-batch", "-"],
                               input="\n".join(cmds) + "\n", capture_output=True, text=True)
            if p.returncode != 0:
                raise DeployError(f"configuring node {node.name}'s kernel failed: {p.stderr.strip()}")

    with ThreadPoolExecutor(KERNEL_SETUP_PARALLEL) as pool:
        for _ in pool.map(configure, lab.nodes.values()):
            pass


def kernel_commands6(lab: Lab, node, table6: dict) -> list[str]:
    """`ip -batch` lines giving a dual-stack node's kernel its IPv6: the
    interface addresses (the devices get their IPv4 address as they are
    made, their IPv6 one here), a router's loopback6 and static routes, a
    host's default route."""
    cmds = []
    if not node.ipv6:
        return cmds
    for iface in node.interfaces.values():
        if iface.address6 is not None:
            cmds.append(f"address add {iface.address6} dev {iface.name} nodad")
    if node.is_router:
        cmds.append(f"address add {node.loopback6} dev lo")
        if not render.uses_daemon(node):
            cmds += [f"route replace {r.prefix} via {r.gateway} dev {r.interface}"
                     for r in table6.get(node.name, []) if r.gateway is not None]
    else:
        iface = next((i for i in node.interfaces.values() if i.address6 is not None), None)
        if iface is not None:
            cmds.append(f"route replace ::/0 via {host_gateway6(lab, iface)} "
                        f"dev {iface.name}")
    return cmds


def _start_daemons(lab: Lab, st: LabState) -> None:
    """BIRD in every router namespace whose node routes dynamically."""
    from vforward.topo import bird
    for node in lab.routers():
        if not render.uses_daemon(node):
            continue
        run_dir = os.path.join(st.directory, "bird", node.name)
        os.makedirs(run_dir, exist_ok=True)
        conf = os.path.join(run_dir, "bird.conf")
        bird.write_config(lab, node, conf)
        try:
            pid = bird.start_bird(render.netns_name(lab, node.name), conf, run_dir)
        except bird.BirdError as e:
            raise DeployError(f"BIRD on {node.name}: {e}") from None
        isolation.join(st.cgroups, node.name, pid)
        st.daemons.append(identify({"node": node.name, "pid": pid, "what": "bird",
                                    "socket": bird.socket_path(run_dir)}))
        st.save()


def _start_ingress(lab: Lab, st: LabState) -> None:
    """An OpenVPN server per ingress node (before BIRD, which then sees its device)."""
    from vforward.topo.ingress.server import IngressError, start_server
    for node in lab.routers():
        if node.ingress is None:
            continue
        if not node.ingress.port_given:     # several labs (slices) each get their own port
            listen = str(node.ingress.listen)
            taken = frozenset((listen, p) for p in _ingress_ports_of_other_labs(lab.name))
            node.ingress.port = _free_udp_port(listen, node.ingress.port, taken)
        try:
            record = start_server(lab, node, st.directory, st.namespaces[node.name])
            record["port"] = node.ingress.port
        except IngressError as e:
            raise DeployError(str(e)) from None
        st.daemons.append(identify(record))
        st.save()


# The node's kernel never forwards (vforward does) and stays quiet on IPv6;
# an ingress node's kernel forwards its OpenVPN clients' packets alone (topo/ingress).
# Reverse-path filtering off: with equal-cost paths a reply may arrive on
# another interface than the request left by (new namespaces copy the host's).
NODE_SYSCTLS = {"net.ipv4.ip_forward": "0", "net.ipv6.conf.all.disable_ipv6": "1",
                "net.ipv6.conf.default.disable_ipv6": "1", "net.ipv4.conf.all.rp_filter": "0",
                "net.ipv4.conf.default.rp_filter": "0"}
# A dual-stack lab's nodes speak IPv6; addresses are usable at once (no
# duplicate address detection: the lab assigns them) and no node takes
# router advertisements (routes come from the lab or the routing daemon).
DUAL_STACK_SYSCTLS = {"net.ipv6.conf.all.disable_ipv6": "0",
                      "net.ipv6.conf.default.disable_ipv6": "0",
                      "net.ipv6.conf.all.accept_dad": "0", "net.ipv6.conf.default.accept_dad": "0",
                      "net.ipv6.conf.all.accept_ra": "0", "net.ipv6.conf.default.accept_ra": "0"}


def _new_namespaces(names: list[str], ipv6: bool = False) -> None:
    try:
        netns.create_many(names, NODE_SYSCTLS | DUAL_STACK_SYSCTLS if ipv6 else NODE_SYSCTLS)
    except (netns.NetnsError, OSError) as e:
        raise DeployError(f"creating the lab's namespaces failed: {e}") from None


def deploy(path: str, nodes_per_worker: int = NODES_PER_WORKER, mode: str = "user",
           log=print, name: str | None = None, cpus: int | None = None,
           poll_budget: str = "0") -> LabState:
    """Bring the lab in `path` up (under `name`, default the file's); returns its
    state record.  cpus: how many CPUs a small lab is spread over (default:
    those this process may use).  poll_budget: how long each worker spins
    after device work before it sleeps, and within what CPU share
    (vforward/busypoll.py: "50us", "5%", "200us,10%"; "0" never spins)."""
    if mode not in ("user", "kernel"):
        raise DeployError(f"mode must be user or kernel, not '{mode}'")
    try:
        spin = parse_budget(poll_budget)
    except ArgumentError as e:
        raise DeployError(f"--poll-budget: {e}") from None
    lab = prepare(path, name)
    existing = load_state(lab.name)
    if existing is not None:
        if any(same_process(r) for r in existing.workers + existing.daemons +
               ([existing.supervisor] if existing.supervisor else [])) or any(
                netns.exists(n) for n in existing.namespaces.values()):
            raise DeployError(f"lab {lab.name} is already deployed (from {existing.topology}); "
                              f"run 'vforward topo destroy {lab.name}' first")
        remove_state(lab.name)
    for node in lab.nodes.values():
        if node.host != "local":
            raise DeployError(f"node {node.name} is placed on host '{node.host}' (see 'vforward "
                              "topo place'); a plain deploy runs labs on this machine only: "
                              "add --emulate-hosts to try the placement here, --k8s to run it "
                              "on a Kubernetes cluster, or run each router where it belongs "
                              "from 'vforward node render'")
    # Made by another lab (lab a-b's node c and lab a's node b-c are both vf-a-b-c):
    # refused before the record names it, for destroy would remove what the record names.
    clash = next((ns for ns in (render.netns_name(lab, n) for n in lab.nodes)
                  if netns.exists(ns)), None)
    if clash is not None:
        raise DeployError(f"network namespace {clash} of lab {lab.name} already exists (another "
                          "lab's node?); deploy under another name with --name")
    if mode == "kernel" and any(n.egress for n in lab.routers()):
        raise DeployError("egress: is a user-mode feature (the router's NAT); deploy with "
                          "--mode user")
    egress.check_machine(lab)
    t0 = time.monotonic()
    with labs_lock():
        assign_underlay(lab)
        st = _record(lab, path, mode)
        d = st.directory
        for sub in ("configs", "sock", "ready", "logs"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        if spin[0] > 0.0:         # read by every worker, restarted ones too (topo/worker.py)
            with open(os.path.join(d, POLL_BUDGET_FILE), "w") as f:
                f.write(poll_budget + "\n")
        os.chmod(os.path.join(d, "sock"), 0o700)   # the nodes' control sockets: root's alone
        st.save()
    try:
        try:
            st.cgroups = isolation.setup(lab)
        except (CgroupError, OSError) as e:
            raise DeployError(f"lab {lab.name}: {e}") from None
        st.save()
        _new_namespaces(list(st.namespaces.values()), lab.ipv6)
        if mode == "kernel":
            _kernel_mode_links(lab, st)
        else:
            groups = worker_groups(lab, nodes_per_worker, cpus)
            for name, text in render.configs(lab, placement_of(lab, groups)).items():
                with open(os.path.join(d, "configs", f"{name}.click"), "w") as f:
                    f.write(text)
            st.extra_devices += [["", egress.egress_link(lab, n).device]
                                 for n in lab.routers() if n.egress]
            _start_workers(lab, st, groups)
            st.save()
            _wait_ready(st)
            egress.enable_forwarding(lab)
        _kernel_setup(lab)
        _start_ingress(lab, st)
        _start_daemons(lab, st)
        if mode == "user":
            st.supervisor = start_supervisor(st, lab.restart)
    except BaseException:
        destroy_state(st)
        raise
    st.save()
    for w in st.warnings:
        log(f"warning: {w}")
    log(f"lab {lab.name}: {len(lab.routers())} routers, "
        f"{len(lab.nodes) - len(lab.routers())} hosts, {len(lab.links)} links up "
        f"in {time.monotonic() - t0:.1f}s")
    return st


def _kernel_mode_links(lab: Lab, st: LabState) -> None:
    """veth links and qdiscs instead of vforward routers; say what cannot be emulated."""
    from dataclasses import asdict

    from vforward.topo import kernelmode
    kernelmode.build_links(lab)
    for link in lab.links:
        for end in (link.a, link.b):
            st.impairments[end.ref] = asdict(link.impair)
            missing = kernelmode.unsupported(link.impair)
            if missing:
                st.warnings.append(f"{end.ref}: this kernel has no netem, so {', '.join(missing)} "
                                   "is not applied in kernel mode (user mode applies it)")


def worker_groups(lab: Lab, per_worker: int, cpus: int | None = None) -> list[list[str]]:
    """The routers each worker process runs, in order, per_worker at most each.

    A small lab (per_worker routers or fewer) is spread over as many workers
    as there are CPUs, one router each at most, in balanced runs of routers
    in the file's order (neighbours are mostly written together, so a path
    is cut into few pieces): one worker's loop is one CPU, and TCP through a
    small lab is held by the CPU time of its routers and of the kernel's
    receive work done in their TAP writes, so a second process on a second
    CPU carries about twice as much.  A bigger lab keeps its
    ceil(routers / per_worker) workers.  A lab with a link that forces the
    in-process transport is not spread (its ends must share a worker; see
    placement_of).  A router with its own resources: limits runs alone (its
    cgroup is its own)."""
    alone = [[n.name] for n in lab.routers() if n.resources]
    routers = [n.name for n in lab.routers() if not n.resources]
    spread = 0 < len(routers) <= per_worker and not any(
        link.transport == "inprocess" for link in lab.links)
    if not spread:
        return [routers[i:i + per_worker] for i in range(0, len(routers), per_worker)] + alone
    if cpus is None:
        cpus = len(os.sched_getaffinity(0))
    count = max(1, min(cpus, len(routers)))
    size, extra = divmod(len(routers), count)
    groups, at = [], 0
    for i in range(count):
        n = size + (1 if i < extra else 0)
        groups.append(routers[at:at + n])
        at += n
    return groups + alone


def placement_of(lab: Lab, groups: list[list[str]]) -> dict:
    """node -> worker index; a link that forces an in-process transport across
    two workers is refused with the fix.  A router with a hand-written config
    is left out: its links stay the UDP links such a config is written for."""
    placement = {node: i for i, group in enumerate(groups) for node in group
                 if not lab.nodes[node].config}
    for link in lab.links:
        if link.transport == "inprocess" and placement.get(link.a.node) != placement.get(link.b.node):
            raise DeployError(f"{link.where}: link {link.a.ref} -- {link.b.ref} asks for transport "
                              f"inprocess, but {link.a.node} and {link.b.node} run in different "
                              "processes; raise --nodes-per-process or choose another transport")
    return placement


def _start_workers(lab: Lab, st: LabState, groups: list[list[str]]) -> None:
    """One process imports vforward and forks the workers (see worker.py)."""
    from vforward.topo.worker import log_path
    zygote = os.path.join(st.directory, "logs", "workers.log")
    with open(zygote, "w") as errf:
        p = subprocess.run([sys.executable, "-m", "vforward", "topo", "workers", st.directory,
                            *(",".join(g) for g in groups)], stdout=subprocess.PIPE,
                           stderr=errf, stdin=subprocess.DEVNULL, text=True, timeout=READY_TIMEOUT)
    pids = [int(line) for line in p.stdout.split()]
    for i, (pid, nodes) in enumerate(zip(pids, groups)):
        st.workers.append(identify({"pid": pid, "nodes": nodes, "log": log_path(st.directory, i)}))
    if p.returncode != 0 or len(pids) != len(groups):
        raise DeployError("starting the router processes failed: "
                          f"{_tail(zygote) or 'no reason given'}")


def _wait_ready(st: LabState) -> None:
    ready = os.path.join(st.directory, "ready")
    deadline = time.monotonic() + READY_TIMEOUT
    waiting = {w["pid"]: w for w in st.workers}
    while waiting:
        for pid, w in list(waiting.items()):
            if os.path.exists(os.path.join(ready, str(pid))):
                del waiting[pid]
                continue
            err = os.path.join(ready, f"{pid}.error")
            if os.path.exists(err) or not pid_alive(pid):
                why = open(err).read().strip() if os.path.exists(err) else "it exited"
                tail = _tail(w["log"])
                raise DeployError(f"the router process for {', '.join(w['nodes'])} failed: {why}"
                                  + (f"\n--- {w['log']}:\n{tail}" if tail else ""))
        if time.monotonic() > deadline:
            raise DeployError(f"routers not up after {READY_TIMEOUT:.0f}s; see {st.directory}/logs")
        time.sleep(0.05)


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path) as f:
            return "".join(f.readlines()[-lines:]).rstrip()
    except OSError:
        return ""


def destroy_state(st: LabState) -> list[str]:
    """Remove everything the record names; returns what was removed.  Only the
    lab's own processes are signalled (by identity: pid, start time and
    command line); the supervisor goes first, so that nothing is restarted."""
    removed = []
    if st.supervisor:
        # It may be starting a worker (up to READY_TIMEOUT); it records it before it exits.
        _stop_processes([st.supervisor], READY_TIMEOUT + 5, removed)
    # Read only now, with the supervisor gone: it may have restarted workers meanwhile.
    workers = current_workers(st)
    known = {int(w["pid"]) for w in workers}
    workers += [w for w in lab_workers_by_command_line(st.directory) if w["pid"] not in known]
    _stop_processes(workers + st.daemons, 5, removed)
    removed += isolation.teardown(st.cgroups)
    # ShmLink regions and doorbells: link<digits>, so that lab "a" never takes lab "a-link"'s.
    for path in glob.glob(render.shm_region(st.name, 0)[:-1] + "[0-9]*"):
        os.unlink(path)
        removed.append(f"shared region {path}")
    # Deleting the namespaces removes their (persistent) TAP devices in one batch.
    gone = [ns for ns in st.namespaces.values() if netns.exists(ns)]
    netns.delete_many(gone)
    removed += [f"namespace {ns}" for ns in gone]
    if st.emulated_hosts:
        from vforward.node.emulate import destroy_emulation
        removed += destroy_emulation(st)
    for ns, dev in st.extra_devices:
        subprocess.run(["ip"] + (["-n", ns] if ns else []) + ["link", "del", dev],
                       capture_output=True)
    remove_state(st.name)
    return removed


def _stop_processes(records: list[dict], patience: float, removed: list[str]) -> None:
    """SIGTERM each recorded process that is still itself; SIGKILL what is left after patience."""
    for r in records:
        signal_process(r, signal.SIGTERM)
    deadline = time.monotonic() + patience
    for r in records:
        while same_process(r) and time.monotonic() < deadline:
            time.sleep(0.05)
        signal_process(r, signal.SIGKILL)
        _reap(r["pid"])
        removed.append(f"process {r['pid']}")


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def destroy(lab_ref: str) -> list[str]:
    """Destroy a deployed lab, named by its name or its YAML file."""
    name = resolve_name(lab_ref)
    st = load_state(name)
    if st is None:
        raise TopologyError(f"lab {name} is not deployed (no record under {lab_dir(name)})")
    return destroy_state(st)


def resolve_name(lab_ref: str) -> str:
    """A lab is named by its name, or by a YAML file whose 'name' is read."""
    if lab_ref.endswith((".yaml", ".yml")) or os.path.sep in lab_ref:
        if os.path.exists(lab_ref):
            return load_lab(lab_ref).name
        raise TopologyError(f"topology file {lab_ref} does not exist")
    return lab_ref
