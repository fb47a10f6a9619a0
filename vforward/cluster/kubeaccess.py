"""The nodes of a lab deployed on Kubernetes, reached through the API (see
vforward.topo.access for what the lab commands ask of a node).

Everything goes through the pod's exec stream (kubernetes.stream), the way
`kubectl exec` works:

  * a router's control socket: exec `python3 -m vforward.node.relay` (that is
    `vforward node relay`) in its pod, which
    joins the exec stream's stdin and stdout to the pod's unix control socket
    (RUN_DIR/control.sock); the ordinary control client (vforward.control)
    talks through it.  A port-forward was not chosen: it reaches only TCP
    ports of the pod, so the router would have to listen on TCP too (a
    second way in, open to anything that reaches the pod), and the lab
    commands need exec anyway for ping, traceroute and files;
  * a command in a node: exec it in the router's pod; in a lab host (a
    namespace inside its router's pod) under `ip netns exec`;
  * a capture: the router writes the pcap file in the pod's run folder (an
    emptyDir), and it is streamed back over exec (`cat`) into the local file,
    then removed in the pod.

One exec stream per router per command (stats opens one per router and
reads all its handlers through it); each handler read is one round trip
through the API server and the kubelet.

The lab's record here (STATE/NAME/k8s.json) carries, beside the context and
namespace, the lab's state as a LabState (interfaces, the elements behind
them, links and their up/down state), written at deploy, so that these
commands need neither the YAML nor the cluster to know what a lab holds.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass, field, fields

from vforward.control import ControlClient
from vforward.topo.model import TopologyError
from vforward.topo.state import LabState

# `vforward node relay` without the command line's imports (see vforward.node.relay)
RELAY = ["python3", "-m", "vforward.node.relay"]
STDOUT, STDERR, STATUS = 1, 2, 3      # the exec stream's channels


@dataclass
class KubeLabState(LabState):
    """A lab on Kubernetes: its state, saved inside its k8s.json record."""
    cluster: dict = field(default_factory=dict)     # the record: context, namespace, pods ...

    def save(self) -> None:
        from vforward.cluster.kubeapi import write_record
        state = asdict(self)
        del state["cluster"]
        write_record(self.name, dict(self.cluster, state=state))

    def node_access(self) -> "KubeAccess":
        return KubeAccess(self)


def kube_lab_state(name: str) -> KubeLabState | None:
    """The state of lab `name` deployed on Kubernetes, or None when it is not."""
    from vforward.cluster.kubeapi import load_record
    record = load_record(name)
    if record is None:
        return None
    state = record.pop("state", None)
    if state is None:
        raise TopologyError(f"lab {name} was deployed on Kubernetes by an older vforward whose "
                            f"record lacks the lab's state; 'vforward topo destroy {name}' and "
                            "deploy it again")
    known = {f.name for f in fields(LabState)}
    return KubeLabState(**{k: v for k, v in state.items() if k in known}, cluster=record)


class _ExecReader(io.RawIOBase):
    """The stdout channel of an exec stream as a raw byte reader, with a timeout."""

    def __init__(self, stream: "ExecStream"):
        self.stream = stream
        self.pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self.pending:
            self.pending = self.stream.receive()
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


class ExecStream:
    """A pod's exec WebSocket as the byte stream ControlClient.over() takes."""

    def __init__(self, ws, where: str, timeout: float | None):
        self.ws = ws
        self.where = where
        self.timeout = timeout
        self.errors = b""

    def sendall(self, data) -> None:
        if not self.ws.is_open():
            raise ConnectionError(f"{self.where}: the exec stream has closed")
        self.ws.write_stdin(bytes(data))

    def receive(self) -> bytes:
        """The next bytes of stdout; b"" when the stream ended."""
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise TimeoutError(f"{self.where}: no answer within {self.timeout:g} s")
            data = self.ws.read_channel(STDOUT, timeout=1.0 if left is None else min(left, 1.0))
            self.errors += self.ws.read_channel(STDERR)
            if data:
                return data
            if not self.ws.is_open():
                self.errors += self.ws.read_channel(STDERR)
                if self.errors.strip():
                    raise ConnectionError(f"{self.where}: "
                                          + self.errors.decode("utf-8", "replace").strip())
                return b""

    def makefile(self, mode: str = "rb"):
        return io.BufferedReader(_ExecReader(self))

    def close(self) -> None:
        self.ws.close()


def exit_status(status: bytes) -> tuple[int, str]:
    """(exit code, message) from the exec stream's status channel."""
    try:
        doc = json.loads(status or b"{}")
    except ValueError:
        return 1, status.decode("utf-8", "replace")
    if doc.get("status") == "Success":
        return 0, ""
    for cause in (doc.get("details") or {}).get("causes") or []:
        if cause.get("reason") == "ExitCode":
            return int(cause.get("message", 1)), ""
    return 1, doc.get("message") or "the exec stream ended without an exit status"


class KubeAccess:
    """The nodes of a lab on Kubernetes (see the module's text)."""

    remote = True

    def __init__(self, st: KubeLabState):
        self.st = st
        self.namespace = st.cluster["namespace"]
        self.pod_of = st.cluster["pod_of"]       # node -> the pod it runs in
        self._core = None

    @property
    def core(self):
        if self._core is None:
            from vforward.cluster.kubeapi import core_api
            self._core = core_api(self.st.cluster.get("context"))
        return self._core

    def _open(self, pod: str, command: list[str], stdin: bool):
        from vforward.cluster.kubeapi import CONTAINER, _api_error, _kubernetes
        k = _kubernetes()
        where = f"exec in pod {self.namespace}/{pod}"
        try:
            return k.stream.stream(self.core.connect_get_namespaced_pod_exec, pod,
                                   self.namespace, container=CONTAINER, command=command,
                                   stdin=stdin, stdout=True, stderr=True, tty=False,
                                   binary=True, _preload_content=False)
        except k.client.ApiException as e:
            # the stream reports a failed upgrade (a refused connection too) as status 0
            raise TopologyError(f"{where}: {_api_error(e) if e.status else e.reason}") from None

    def _target(self, node: str, argv: list[str]) -> tuple[str, list[str]]:
        if node not in self.pod_of:
            raise TopologyError(f"lab {self.st.name} has no node '{node}' "
                                f"(nodes: {', '.join(self.pod_of)})")
        if node in self.st.sockets:
            return self.pod_of[node], list(argv)
        return self.pod_of[node], ["ip", "netns", "exec", self.st.namespaces[node], *argv]

    # -- what the lab commands use -----------------------------------------------------
    def control(self, node: str, timeout: float | None = 10.0) -> ControlClient:
        if node not in self.st.sockets:
            raise TopologyError(f"{node} of lab {self.st.name} is not a router")
        pod = self.pod_of[node]
        ws = self._open(pod, RELAY, stdin=True)
        return ControlClient.over(ExecStream(ws, f"router {node} (pod {self.namespace}/{pod})",
                                             timeout))

    def stream_out(self, pod: str, command: list[str], sink, timeout: float | None = None
                   ) -> tuple[int, bytes]:
        """Run a command in a pod, its stdout given to sink() as it comes; (exit code,
        stderr)."""
        ws = self._open(pod, command, stdin=False)
        deadline = None if timeout is None else time.monotonic() + timeout
        err = b""
        try:
            while ws.is_open():
                if deadline is not None and time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(command, timeout)
                ws.update(timeout=1.0)
                sink(ws.read_channel(STDOUT))
                err += ws.read_channel(STDERR)
            sink(ws.read_channel(STDOUT))
            err += ws.read_channel(STDERR)
            code, message = exit_status(ws.read_channel(STATUS))
        finally:
            ws.close()
        return code, err + (message.encode() + b"\n" if message else b"")

    def run(self, node: str, argv: list[str], timeout: float | None = None
            ) -> subprocess.CompletedProcess:
        pod, command = self._target(node, argv)
        out = bytearray()
        code, err = self.stream_out(pod, command, out.extend, timeout)
        return subprocess.CompletedProcess(command, code, out.decode("utf-8", "replace"),
                                           err.decode("utf-8", "replace"))

    def capture_file(self, node: str, path: str) -> str:
        from vforward.cluster.manifests import RUN_DIR
        return f"{RUN_DIR}/capture-{uuid.uuid4().hex[:8]}.pcap"

    def fetch(self, node: str, remote: str, path: str) -> None:
        """Stream the pod's file `remote` into the local `path`, then remove it in the pod."""
        pod = self.pod_of[node]
        with open(path, "wb") as f:
            code, err = self.stream_out(pod, ["cat", remote], f.write)
        self.stream_out(pod, ["rm", "-f", remote], lambda data: None)
        if code != 0:
            raise TopologyError(f"fetching {remote} from pod {self.namespace}/{pod} failed: "
                                f"{err.decode('utf-8', 'replace').strip()}")

    def close(self) -> None:
        if self._core is not None:
            self._core.api_client.close()
            self._core = None

    # -- the lab's pods --------------------------------------------------------------------
    def pods(self) -> dict:
        """pod name -> {ready, why (when not ready), restarts, machine, address}."""
        from vforward.cluster.kubeapi import _api_error, _call, _kubernetes, _not_ready
        from vforward.cluster.manifests import LAB_LABEL
        k = _kubernetes()
        try:
            listed = _call("list pods", self.core.list_namespaced_pod, self.namespace,
                           label_selector=f"{LAB_LABEL}={self.st.name}").items
        except k.client.ApiException as e:
            raise TopologyError(f"list pods in {self.namespace}: {_api_error(e)}") from None
        out = {}
        for p in listed:
            why = _not_ready(p)
            statuses = (p.status.container_statuses or []) if p.status else []
            out[p.metadata.name] = {
                "ready": why is None, "why": why,
                "restarts": sum(c.restart_count or 0 for c in statuses),
                "machine": p.spec.node_name if p.spec else None,
                "address": p.status.pod_ip if p.status else None}
        return out

    def not_ready(self) -> dict:
        """node -> why, for every router whose pod is missing or not ready."""
        pods = self.pods()
        return {node: ("no pod" if pod not in pods else pods[pod]["why"])
                for node, pod in self.pod_of.items()
                if node in self.st.sockets and not pods.get(pod, {}).get("ready")}
