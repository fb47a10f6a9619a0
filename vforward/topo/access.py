"""How the lab commands reach a node: run a command in it, talk to its
router's control socket, bring back a file its router wrote.

One place decides, from the lab's record, where its nodes live:

  * on this machine (a lab deployed with `topo deploy`, with or without
    --emulate-hosts): a node is a network namespace, a command runs under
    `ip netns exec`, a router's control socket is a unix socket under the
    lab's state folder, and a file the router writes is already here;
  * on Kubernetes (`topo deploy --k8s`): a node is a pod (a lab host a
    namespace inside its router's pod), and everything goes through the
    API's exec stream: see vforward.cluster.kubeaccess.

Both give the same methods, so `topo stats`, `validate`, `link`, `impair`,
`capture`, `top` and `inspect` are written once:

    access.control(node)                -> a vforward.control.ControlClient
    access.run(node, argv, timeout)     -> subprocess.CompletedProcess (text)
    access.capture_file(node, path)     -> where the router should write `path`
    access.fetch(node, remote, path)    -> bring that file here (and remove it there)
    access.close()
"""
from __future__ import annotations

import os
import subprocess

from vforward.control import ControlClient
from vforward.topo.model import TopologyError


class LocalAccess:
    """The nodes of a lab on this machine."""

    remote = False

    def __init__(self, name: str, namespaces: dict, sockets: dict):
        self.name = name
        self.namespaces = namespaces
        self.sockets = sockets

    def control(self, node: str, timeout: float | None = 10.0) -> ControlClient:
        path = self.sockets.get(node)
        if path is None or not os.path.exists(path):
            raise TopologyError(f"router {node} of lab {self.name} is not running "
                                f"(no control socket {path})")
        return ControlClient(path, timeout=timeout)

    def run(self, node: str, argv: list[str], timeout: float | None = None
            ) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.namespaces[node], *argv],
                              capture_output=True, text=True, timeout=timeout)

    def capture_file(self, node: str, path: str) -> str:
        return os.path.abspath(path)

    def fetch(self, node: str, remote: str, path: str) -> None:
        pass    # the router wrote it here

    def close(self) -> None:
        pass


def access_for(st) -> LocalAccess:
    """The access to the nodes of a deployed lab (its LabState)."""
    make = getattr(st, "node_access", None)     # a lab on Kubernetes brings its own
    if make is not None:
        return make()
    return LocalAccess(st.name, st.namespaces, st.sockets)


def lab_access(lab) -> LocalAccess:
    """The access to the nodes of `lab` as deployed; for a lab with no record here
    (nodes run by something else in namespaces of the usual names), those namespaces."""
    from vforward.topo.state import load_state
    st = load_state(lab.name)
    if st is None:
        from vforward.cluster.kubeaccess import kube_lab_state
        st = kube_lab_state(lab.name)
    if st is not None:
        return access_for(st)
    from vforward.topo.render import netns_name
    return LocalAccess(lab.name, {n: netns_name(lab, n) for n in lab.nodes}, {})
