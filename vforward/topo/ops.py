"""Operations on a deployed lab: exec, link state, impairments, stats,
capture, inspect.  They work from the lab's state record and talk to the
routers through their control sockets."""
from __future__ import annotations

import os
import subprocess
import time

from vforward import netns
from vforward.control import ControlClient, ControlError
from vforward.interface_elements import RX, TX, element_name
from vforward.topo.access import access_for
from vforward.topo.deploy import resolve_name
from vforward.topo.model import TopologyError
from vforward.topo.state import LabState, load_state
from vforward.topo.supervise import current_workers, same_process


def lab_state(lab_ref: str) -> LabState:
    name = resolve_name(lab_ref)
    st = load_state(name)
    if st is None:
        from vforward.cluster.kubeaccess import kube_lab_state
        st = kube_lab_state(name)      # a lab deployed on Kubernetes, or None
    if st is None:
        raise TopologyError(f"lab {name} is not deployed; run 'vforward topo deploy' first")
    return st


def _iface(st: LabState, ref: str) -> dict:
    info = st.interfaces.get(ref)
    if info is None:
        from vforward.config.errors import did_you_mean
        hint = did_you_mean(ref, st.interfaces)
        raise TopologyError(f"lab {st.name} has no interface '{ref}'" +
                            (f"; did you mean '{hint}'?" if hint else
                             f" (interfaces: {', '.join(sorted(st.interfaces))})"))
    return info


class NodeControl:
    """Cached control-socket clients of a lab's routers (reached as
    vforward.topo.access says: here, or in a pod through the cluster's API)."""

    def __init__(self, st: LabState, access=None):
        self.st = st
        self.access = access or access_for(st)
        self._clients: dict = {}

    def client(self, node: str) -> ControlClient:
        if node not in self._clients:
            self._clients[node] = self.access.control(node)
        return self._clients[node]

    def read(self, node: str, handler: str) -> str:
        return self.client(node).read(handler)

    def write(self, node: str, handler: str, value: str = "") -> None:
        self.client(node).write(handler, value)

    def close(self) -> None:
        for c in self._clients.values():
            c.close()
        self._clients.clear()
        self.access.close()


def exec_in(lab_ref: str, node: str, cmd: list[str]) -> int:
    """Run a command in a node's namespace, attached to this terminal; in a lab
    with resources: it counts against the node's limits (a limited router's) or
    else the lab's (topo/isolation.py): a traffic generator is the lab's work."""
    st = lab_state(lab_ref)
    ns = st.namespaces.get(node)
    if ns is None:
        raise TopologyError(f"lab {st.name} has no node '{node}' (nodes: {', '.join(st.namespaces)})")
    if not cmd:
        cmd = [os.environ.get("SHELL", "/bin/sh")]
    if not st.cgroups:
        return subprocess.call(["ip", "netns", "exec", ns, *cmd])
    from vforward.topo.isolation import join
    return subprocess.call(["ip", "netns", "exec", ns, *cmd],
                           preexec_fn=lambda: join(st.cgroups, node, os.getpid()))


def set_link(lab_ref: str, ref: str, state: str) -> list[str]:
    """Take the link at interface `ref` down or up, in both directions."""
    if state not in ("up", "down"):
        raise TopologyError(f"link state must be up or down, not '{state}'")
    st = lab_state(lab_ref)
    info = _iface(st, ref)
    if st.mode == "kernel":
        from vforward.topo.kernelmode import set_device_state
        for end in (ref, info["peer"]):
            e = st.interfaces[end]
            set_device_state(st.namespaces[e["node"]], e["name"], state)
        st.links[str(info["link"])]["state"] = state
        st.save()
        return [ref, info["peer"]]
    ctl = NodeControl(st)
    done = []
    try:
        for end in (ref, info["peer"]):
            node, element = st.interfaces[end]["egress"]
            ctl.write(node, f"{element}.up", "true" if state == "up" else "false")
            done.append(end)
        # As a pulled cable does, take the carrier of both ends' kernel
        # interfaces down too, so routing daemons notice at once.
        for end in (ref, info["peer"]):
            node, device = st.interfaces[end]["carrier"]
            ctl.write(node, f"{device}.carrier", "true" if state == "up" else "false")
    finally:
        ctl.close()
    st.links[str(info["link"])]["state"] = state
    st.save()
    return done


IMPAIR_HANDLERS = ("delay", "jitter", "loss", "rate", "queue")


def impair(lab_ref: str, ref: str, reset: bool = False, **values) -> dict:
    """Change the egress conditions of one interface; returns what is now set."""
    st = lab_state(lab_ref)
    if st.mode == "kernel":
        return _impair_kernel(st, ref, reset, values)
    node, element = _iface(st, ref)["egress"]
    ctl = NodeControl(st)
    try:
        if reset:
            values = {"delay": "0ms", "jitter": "0ms", "loss": "0", "rate": "0"}
        for key, value in values.items():
            if value is None:
                continue
            if key not in IMPAIR_HANDLERS:
                raise TopologyError(f"unknown impairment '{key}'")
            try:
                ctl.write(node, f"{element}.{key}", str(value))
            except ControlError as e:
                raise TopologyError(f"{ref}: cannot set {key} to {value!r}: {e.message}") from None
        return {k: ctl.read(node, f"{element}.{k}") for k in IMPAIR_HANDLERS}
    finally:
        ctl.close()


def _impair_kernel(st: LabState, ref: str, reset: bool, values: dict) -> dict:
    """Kernel mode: rebuild the interface's qdiscs; refuse what the kernel cannot do."""
    from dataclasses import asdict

    from vforward.topo import kernelmode
    from vforward.topo.model import Impairment, parse_impairment
    info = _iface(st, ref)
    current = Impairment(**st.impairments.get(ref, {}))
    if reset:
        current = Impairment()
    else:
        given = {k: v for k, v in values.items() if v is not None}
        current = current.merged(parse_impairment(given, f"impair {ref}"))
    missing = kernelmode.unsupported(current)
    if missing:
        raise TopologyError(f"{ref}: this kernel has no netem, so kernel mode cannot emulate "
                            f"{', '.join(missing)}; deploy the lab in user mode for that")
    kernelmode.apply_impairment(st.namespaces[info["node"]], info["name"], current)
    st.impairments[ref] = asdict(current)
    st.save()
    return {"delay": f"{current.delay * 1000:g}ms", "jitter": f"{current.jitter * 1000:g}ms",
            "loss": f"{current.loss:g}", "rate": f"{current.rate * 8:g}bps", "queue": current.queue}


def _stats_kernel(st: LabState) -> list[dict]:
    from vforward.topo.kernelmode import interface_counters
    rows = []
    for ref, info in sorted(st.interfaces.items()):
        if info["kind"] != "router":
            continue
        c = interface_counters(st.namespaces[info["node"]], info["name"])
        rows.append({"interface": ref, "peer": info["peer"], "rx_packets": c["rx_packets"],
                     "rx_bytes": c["rx_bytes"], "tx_packets": c["tx_packets"],
                     "tx_bytes": c["tx_bytes"], "rx_rate_bps": 0.0, "tx_rate_bps": 0.0,
                     "drops": c["drops"],
                     "up": st.links[str(info["link"])]["state"] == "up"})
    return rows


def _wire_drops(ctl: NodeControl, node: str, prefix: str) -> int:
    """Frames the link's transport dropped on the way out (a full shared-memory
    ring, as a NIC's full queue; an in-process peer gone); 0 for a transport
    that keeps no such count."""
    try:
        return int(ctl.read(node, f"{element_name(prefix, 'wire')}.drops"))
    except ControlError:
        return 0


def _stats_row(ctl: NodeControl, st: LabState, ref: str, info: dict) -> dict:
    from vforward.topo.monitor import probe_row
    node, e = info["counters"]
    enode, eelem = info["egress"]
    try:
        rx, tx = element_name(e, RX), element_name(e, TX)
        row = {"interface": ref, "peer": info["peer"],
               "rx_packets": int(ctl.read(node, f"{rx}.count")),
               "rx_bytes": int(ctl.read(node, f"{rx}.byte_count")),
               "tx_packets": int(ctl.read(node, f"{tx}.count")),
               "tx_bytes": int(ctl.read(node, f"{tx}.byte_count")),
               "rx_rate_bps": float(ctl.read(node, f"{rx}.bit_rate")),
               "tx_rate_bps": float(ctl.read(node, f"{tx}.bit_rate")),
               "wire_drops": _wire_drops(ctl, node, e),
               "drops": sum(int(ctl.read(enode, f"{eelem}.{h}"))
                            for h in ("drops_loss", "drops_queue", "drops_down")),
               "up": ctl.read(enode, f"{eelem}.up") == "true"}
        row["drops"] += row["wire_drops"]
        row.update(probe_row(ctl, st, ref))   # rtt_ms, loss, avail_bw_mbps, bw_bound
    except (TopologyError, ControlError, OSError) as e:
        row = {"interface": ref, "peer": info["peer"], "error": str(e)}
    return row


# Routers read at once when each read is a round trip through a cluster's API.
REMOTE_PARALLEL = 16


def stats(lab_ref: str) -> list[dict]:
    """Per router interface: packets and bytes in/out, drops (the link
    conditions' and the transport's; wire_drops the transport's alone), rates, and the
    link probe's RTT, egress loss and bandwidth (None where not measured)."""
    st = lab_state(lab_ref)
    if st.mode == "kernel":
        return _stats_kernel(st)
    wanted = [(ref, info) for ref, info in sorted(st.interfaces.items())
              if info["counters"] is not None]
    ctl = NodeControl(st)
    try:
        if not ctl.access.remote:
            return [_stats_row(ctl, st, ref, info) for ref, info in wanted]
    finally:
        ctl.close()
    # A lab on Kubernetes: every read crosses the API server and a kubelet, so the
    # routers are read side by side, each through its own exec stream.
    from concurrent.futures import ThreadPoolExecutor
    by_node: dict = {}
    for ref, info in wanted:
        by_node.setdefault(info["counters"][0], []).append((ref, info))

    def of_node(items):
        one = NodeControl(st)
        try:
            return [_stats_row(one, st, ref, info) for ref, info in items]
        finally:
            one.close()
    with ThreadPoolExecutor(min(REMOTE_PARALLEL, len(by_node) or 1)) as pool:
        rows = [row for part in pool.map(of_node, by_node.values()) for row in part]
    return sorted(rows, key=lambda r: r["interface"])


def capture(lab_ref: str, ref: str, path: str, duration: float | None = None,
            count: int | None = None) -> None:
    """Write what passes a router interface (both directions) to a pcap file."""
    st = lab_state(lab_ref)
    info = _iface(st, ref)
    if st.mode == "kernel":
        cmd = ["ip", "netns", "exec", st.namespaces[info["node"]], "tcpdump", "-q", "-n", "-U",
               "-i", info["name"], "-w", os.path.abspath(path)]
        if count:
            cmd[-2:-2] = ["-c", str(count)]
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            p.wait(timeout=duration)
        except (subprocess.TimeoutExpired, KeyboardInterrupt):
            p.terminate()
            p.wait()
        return
    if info["counters"] is None:
        # A host interface: capture on its router's side of the wire.
        info = _iface(st, info["peer"])
    node, e = info["counters"]
    ctl = NodeControl(st)
    path = os.path.abspath(path)
    target = ctl.access.capture_file(node, path)   # in a pod: a file there, fetched after
    try:
        ctl.write(node, f"{e}_capture.start", target)
        t0 = time.monotonic()
        try:
            while True:
                time.sleep(0.1)
                if duration is not None and time.monotonic() - t0 >= duration:
                    break
                if count is not None and int(ctl.read(node, f"{e}_capture.count")) >= count:
                    break
        except KeyboardInterrupt:
            pass
        ctl.write(node, f"{e}_capture.stop")
        ctl.access.fetch(node, target, path)
    finally:
        ctl.close()


def inspect(lab_ref: str) -> dict:
    """Nodes, interfaces, addresses, process state."""
    from vforward.topo.supervise import down_nodes, read_status
    st = lab_state(lab_ref)
    access = access_for(st)
    if access.remote:
        return _inspect_remote(st, access)
    workers = current_workers(st)
    alive = {w["pid"]: same_process(w) and w.get("state", "running") == "running"
             for w in workers}
    node_worker = {n: w for w in workers for n in w["nodes"]}
    for d in st.daemons:        # an emulated host's `vforward node run` (vforward.node.emulate)
        if d.get("what") == "node":
            node_worker[d["node"]] = d
            alive[d["pid"]] = same_process(d)
    down = down_nodes(st)
    nodes = []
    for node, ns in st.namespaces.items():
        w = node_worker.get(node, {})
        pid = w.get("pid")
        nodes.append({
            "node": node, "netns": ns, "netns_exists": netns.exists(ns),
            "kind": "router" if node in st.sockets else "host",
            "pid": pid, "running": alive.get(pid, None) if pid else None,
            "down": down.get(node), "restarts": w.get("restarts", 0),
            "last_restart_s": w.get("last_restart_s"),
            "interfaces": [{"name": i["name"], "address": i["address"], "mac": i["mac"],
                            "address6": i.get("address6"),
                            "peer": i["peer"],
                            "link": st.links[str(i["link"])]["state"]}
                           for ref, i in st.interfaces.items() if i["node"] == node],
        })
    # resources: each limited node's use against its limits, and the lab's (topo/isolation.py)
    from vforward.topo.isolation import usage
    use = usage(st.cgroups)
    for n in nodes:
        n["resources"] = use.get(n["node"])
    status = read_status(st.directory)
    return {"name": st.name, "topology": st.topology, "mode": st.mode, "nodes": nodes,
            "resources": use.get("lab"),
            "restart": status["policy"] if status else None,
            "daemons": [{"node": d["node"], "what": d["what"], "pid": d["pid"],
                         "alive": same_process(d)} for d in st.daemons],
            "workers": [{"pid": w["pid"], "alive": alive[w["pid"]], "nodes": w["nodes"],
                         "log": w["log"], "restarts": w.get("restarts", 0)} for w in workers]}


def _interfaces(st: LabState, node: str) -> list[dict]:
    return [{"name": i["name"], "address": i["address"], "mac": i["mac"],
             "address6": i.get("address6"), "peer": i["peer"],
             "link": st.links[str(i["link"])]["state"]}
            for ref, i in st.interfaces.items() if i["node"] == node]


def _inspect_remote(st: LabState, access) -> dict:
    """inspect for a lab on Kubernetes: its nodes' pods as the API reports them."""
    try:
        pods = access.pods()
    finally:
        access.close()
    nodes = []
    for node, ns in st.namespaces.items():
        pod = access.pod_of[node]
        p = pods.get(pod)
        router = node in st.sockets
        nodes.append({
            "node": node, "netns": f"pod/{pod}" + ("" if router else f" {ns}"),
            "kind": "router" if router else "host", "pod": pod,
            "machine": p and p["machine"], "pod_address": p and p["address"],
            "pid": None, "running": None if p is None else p["ready"],
            "down": "no pod" if p is None else p["why"],
            "restarts": p["restarts"] if p else 0, "last_restart_s": None,
            "resources": None, "interfaces": _interfaces(st, node)})
    return {"name": st.name, "topology": st.topology, "mode": st.mode, "nodes": nodes,
            "cluster": {"context": st.cluster.get("context"),
                        "namespace": st.cluster["namespace"]},
            "resources": None, "restart": "kubernetes", "daemons": [], "workers": []}


RESTART_TIMEOUT = 30.0


def restart_node(lab_ref: str, node: str, timeout: float = RESTART_TIMEOUT) -> str:
    """Restart a router and wait until its control socket answers again; a
    short text of what happened.

    The routers of a lab run several to a process (deploy's
    --nodes-per-process), on one event loop, so a router cannot be restarted
    alone: its whole process is, and every other router it hosts restarts
    with it (the text names them).  The restart goes through the lab's
    supervisor, as after a crash, whatever the lab's `restart:` policy: the
    process is asked to stop, and the supervisor starts it again on the same
    TAP devices and re-applies the links taken down by hand and the routers'
    manual routes and flows (see vforward.experiment.restore).  While the
    process is down its TAPs have no carrier: the nodes' routing daemons drop
    their adjacencies and must converge again after it."""
    from vforward.topo.supervise import read_status, request_restart
    st = lab_state(lab_ref)
    if node not in st.namespaces:
        raise TopologyError(f"lab {st.name} has no node '{node}' "
                            f"(nodes: {', '.join(st.namespaces)})")
    if getattr(st, "cluster", None):
        raise TopologyError(f"lab {st.name} runs on Kubernetes, whose kubelet restarts a "
                            f"node's container when it exits; restart is for labs on this "
                            f"machine")
    if st.mode != "user" or node not in st.sockets:
        raise TopologyError(f"{node} of lab {st.name} has no vforward router to restart "
                            f"({'a host' if st.mode == 'user' else 'kernel mode'})")
    if not st.supervisor or not same_process(st.supervisor) or read_status(st.directory) is None:
        raise TopologyError(f"lab {st.name} has no running supervisor to restart {node}; "
                            "destroy and deploy the lab again")

    def worker_of() -> dict:
        return next(w for w in current_workers(st) if node in w["nodes"])

    old = worker_of()
    others = [n for n in old["nodes"] if n != node]
    if old.get("state") != "running":
        raise TopologyError(f"{node} is down ({old.get('last_exit', 'not running')}) and the "
                            f"lab's policy left it down; destroy and deploy the lab again")
    t0 = time.monotonic()
    if not request_restart(st.directory, old):
        raise TopologyError(f"the process of {node} ({old['pid']}) went away meanwhile; "
                            f"see 'vforward topo inspect {st.name}'")
    deadline = t0 + timeout
    while True:
        now = worker_of()
        if now["pid"] != old["pid"] and now.get("state") == "running":
            break
        if now.get("last_error") and now.get("last_error") != old.get("last_error"):
            raise TopologyError(f"{node} did not come back: {now['last_error']}")
        if time.monotonic() > deadline:
            raise TopologyError(f"{node} did not come back within {timeout:g}s "
                                f"(process state: {now.get('state')}); see {old['log']}")
        time.sleep(0.05)
    ctl = NodeControl(st)
    try:
        while True:
            try:
                ctl.read(node, "version")
                break
            except (ControlError, TopologyError, OSError) as e:
                ctl.close()
                if time.monotonic() > deadline:
                    raise TopologyError(f"{node} restarted as process {now['pid']} but its "
                                        f"control socket does not answer: {e}") from None
                time.sleep(0.05)
    finally:
        ctl.close()
    text = f"process {old['pid']} -> {now['pid']} in {time.monotonic() - t0:.2f}s"
    if others:
        text += f"; restarted with it (same process): {', '.join(others)}"
    if now.get("restored"):
        text += f"; {now['restored']}"
    if now.get("restore_error"):
        raise TopologyError(f"{node} restarted ({text}) but what was set on it by hand could "
                            f"not be re-applied: {now['restore_error']}")
    return text
