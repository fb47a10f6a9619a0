"""`vforward topo deploy --k8s` and its destroy: the manifests applied with
kubectl, the pods waited for, the lab recorded so that destroy finds it.

kubectl (not a client library) drives the cluster because it is what the
user already has configured: its kubeconfig, contexts, credentials plugins
and proxies all apply as they do for the user's own commands, and every step
can be replayed by hand from the commands printed.  The record (STATE/NAME/
k8s.json) names the context, namespace and manifests; destroy deletes the
namespace, which takes every object of the lab with it; `topo exec` runs
kubectl exec in the node's pod.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

from vforward.cluster.manifests import LAB_LABEL, lab_manifests, namespace_name, write_manifests
from vforward.topo.deploy import DeployError, prepare
from vforward.topo.state import lab_dir, load_state

RECORD = "k8s.json"
READY_TIMEOUT = 300     # seconds kubectl waits for the lab's pods to be ready


def kubectl(context: str | None) -> list[str]:
    exe = shutil.which("kubectl")
    if exe is None:
        raise DeployError("kubectl is not on PATH: install it (apt-get install kubectl, or "
                          "https://kubernetes.io/docs/tasks/tools/) and point it at your cluster")
    return [exe] + (["--context", context] if context else [])


def _run(cmd: list[str]) -> str:
    print("+ kubectl " + shlex.join(cmd[1:]), file=sys.stderr, flush=True)
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise DeployError(f"kubectl {' '.join(cmd[1:])} failed: "
                          f"{(p.stderr or p.stdout).strip()}")
    return p.stdout


def record_path(name: str) -> str:
    return os.path.join(lab_dir(name), RECORD)


def load_record(name: str) -> dict | None:
    try:
        with open(record_path(name)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def deploy_k8s(path: str, context: str | None = None, namespace: str | None = None,
               image: str | None = None, timeout: int = READY_TIMEOUT) -> dict:
    """Apply the lab's manifests, wait until its pods are ready, record it."""
    lab = prepare(path)
    namespace = namespace or namespace_name(lab)
    if load_record(lab.name):
        raise DeployError(f"lab {lab.name} is already deployed on Kubernetes; "
                          f"'vforward topo destroy {lab.name}' first")
    if load_state(lab.name) is not None:
        raise DeployError(f"lab {lab.name} is deployed on this machine; "
                          f"'vforward topo destroy {lab.name}' first, or rename the lab")
    base = kubectl(context)
    manifests = lab_manifests(lab, namespace, **({"image": image} if image else {}))
    directory = os.path.join(lab_dir(lab.name), "manifests")
    write_manifests(manifests, directory)
    record = {"name": lab.name, "topology": os.path.abspath(path), "context": context,
              "namespace": namespace, "manifests": directory,
              "pods": [f.removesuffix(".yaml") for f in manifests if f != "00-namespace.yaml"]}
    with open(record_path(lab.name), "w") as f:
        json.dump(record, f, indent=2)
    # The Namespace file sorts first, so apply -f DIR creates it before its objects.
    _run(base + ["apply", "-f", directory])
    _run(base + ["--namespace", namespace, "wait", "--for=condition=Ready", "pod",
                 "--selector", f"{LAB_LABEL}={lab.name}", f"--timeout={timeout}s"])
    return record


def destroy_k8s(name: str) -> list[str]:
    """Delete the lab's namespace (and so all its objects), then its record."""
    record = load_record(name)
    if record is None:
        return []
    base = kubectl(record.get("context"))
    _run(base + ["delete", "namespace", record["namespace"], "--ignore-not-found",
                 "--wait=true"])
    shutil.rmtree(record["manifests"], ignore_errors=True)
    os.remove(record_path(name))
    try:
        os.rmdir(lab_dir(name))
    except OSError:
        pass    # something else lives there: leave it
    return [f"namespace {record['namespace']}"]


def _name_of(lab_ref: str) -> str:
    if lab_ref.endswith((".yaml", ".yml")) or os.path.exists(lab_ref):
        from vforward.topo.model import load_lab
        return load_lab(lab_ref).name
    return lab_ref


def destroy_k8s_ref(lab_ref: str) -> list[str] | None:
    """destroy_k8s for a lab name or YAML file; None when it is not a Kubernetes lab."""
    name = _name_of(lab_ref)
    if load_record(name) is None:
        return None
    return destroy_k8s(name)


def exec_argv(record: dict, node: str, cmd: list[str], tty: bool = False) -> list[str]:
    """kubectl exec in a node's pod: a router's own, or for a lab host (kind host) the
    pod of the router that made its namespace, inside that namespace."""
    from vforward.cluster.placement import router_groups
    from vforward.topo.model import TopologyError, load_lab
    from vforward.topo.render import netns_name
    lab = load_lab(record["topology"])
    if node not in lab.nodes:
        raise TopologyError(f"lab {lab.name} has no node '{node}' (nodes: {', '.join(lab.nodes)})")
    pod = next(g for g, members in router_groups(lab).items() if node in members)
    inner = cmd or ["/bin/sh"]
    if not lab.nodes[node].is_router:
        inner = ["ip", "netns", "exec", netns_name(lab, node)] + inner
    return kubectl(record.get("context")) + [
        "--namespace", record["namespace"], "exec", *(["-it"] if tty else []), pod,
        "-c", "node", "--", *inner]


def exec_k8s_ref(lab_ref: str, node: str, cmd: list[str]) -> int | None:
    """Run a command in a node of a Kubernetes lab (None when it is not one)."""
    record = load_record(_name_of(lab_ref))
    if record is None:
        return None
    return subprocess.call(exec_argv(record, node, cmd, tty=sys.stdin.isatty() and not cmd))
