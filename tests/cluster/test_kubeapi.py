"""`topo deploy --k8s`, destroy and exec through the Kubernetes Python client.
No cluster exists here: a small HTTP server on 127.0.0.1 (apiserver.py) stands
in for the API server, keeps the objects it is sent, answers the minimal JSON
the client reads (pods report Ready unless told otherwise), pod watches and the
exec stream's WebSocket, and records every request.  Nothing here was run
against a real API server."""
import json
import os
import sys

import pytest

pytest.importorskip("kubernetes")

from tests.cluster.apiserver import start_api, stop_api
from tests.cliprocess import run_cli
from tests.node.labs import two_router_lab

@pytest.fixture
def api(tmp_path):
    server = start_api(tmp_path / "kubeconfig")
    env = dict(os.environ, KUBECONFIG=str(tmp_path / "kubeconfig"),
               VFORWARD_STATE_DIR=str(tmp_path / "state"))
    lab = tmp_path / "lab.yaml"
    lab.write_text(two_router_lab("kube2"))
    yield server, env, str(lab), tmp_path / "state" / "kube2"
    stop_api(server)


def vf(env, *args):
    """`vforward ARGS` under env, in this process (see tests/cliprocess.py)."""
    from vforward.topo import listing, state
    saved_env, saved_root = dict(os.environ), state.STATE_ROOT
    os.environ.update(env)
    state.STATE_ROOT = listing.STATE_ROOT = env["VFORWARD_STATE_DIR"]
    try:
        return run_cli(*args)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        state.STATE_ROOT = listing.STATE_ROOT = saved_root


def writes(server):
    return [(c["method"], c["path"]) for c in server.calls if c["method"] != "GET"]


def test_deploy_creates_the_objects_waits_for_ready_pods_and_destroy_deletes_the_namespace(api):
    server, env, lab, state = api
    p = vf(env, "topo", "deploy", lab, "--k8s", "--context", "lab-cluster", "--image", "vf:2")
    assert p.returncode == 0, p.stderr
    ns = "/api/v1/namespaces"
    assert writes(server) == [
        ("POST", ns),
        ("POST", f"{ns}/vforward-kube2/configmaps"), ("POST", f"{ns}/vforward-kube2/services"),
        ("POST", f"{ns}/vforward-kube2/pods"),
        ("POST", f"{ns}/vforward-kube2/configmaps"), ("POST", f"{ns}/vforward-kube2/services"),
        ("POST", f"{ns}/vforward-kube2/pods")]
    assert all(c["auth"] == "Bearer lab-token" for c in server.calls)   # the context's user
    pod = server.objects[f"{ns}/vforward-kube2/pods/r1"]
    assert pod["spec"]["containers"][0]["image"] == "vf:2"
    listing = [c for c in server.calls if c["path"] == f"{ns}/vforward-kube2/pods"
               and c["method"] == "GET"]
    assert listing and listing[0]["query"]["labelSelector"] == ["vforward.io/lab=kube2"]
    record = json.loads((state / "k8s.json").read_text())
    assert record["namespace"] == "vforward-kube2" and record["context"] == "lab-cluster"
    assert record["pods"] == ["r1", "r2"]
    assert sorted(os.listdir(state / "manifests")) == ["00-namespace.yaml", "r1.yaml", "r2.yaml"]
    assert "+ create Pod vforward-kube2/r1" in p.stderr        # says what it does

    p = vf(env, "topo", "list", "--json")                       # listed beside local labs
    assert p.returncode == 0, p.stderr
    [row] = json.loads(p.stdout)
    assert row["name"] == "kube2" and row["mode"] == "k8s" and row["routers"] == 2
    assert row["hosts"] == 2
    assert row["placement"] == "namespace vforward-kube2, 2 pods"
    table = vf(env, "topo", "list").stdout
    assert "kube2" in table and "namespace vforward-kube2" in table

    # exec: in a router's pod, or in a lab host's namespace inside its router's pod
    p = vf(env, "topo", "exec", "kube2", "r2", "--", "ip", "route")
    assert p.returncode == 0 and p.stdout == "ran: ip route\n", p.stderr
    call = server.calls[-1]
    assert call["path"] == f"{ns}/vforward-kube2/pods/r2/exec"
    assert call["query"]["command"] == ["ip", "route"] and call["query"]["container"] == ["node"]
    p = vf(env, "topo", "exec", "kube2", "h1", "--", "ping", "-c", "1", "172.16.1.2")
    assert p.returncode == 0, p.stderr
    assert server.calls[-1]["path"].endswith("/pods/r1/exec")
    assert server.calls[-1]["query"]["command"] == ["ip", "netns", "exec", "vf-kube2-h1",
                                                    "ping", "-c", "1", "172.16.1.2"]
    assert vf(env, "topo", "exec", "kube2", "r1", "--", "false", "fail").returncode == 3

    again = vf(env, "topo", "deploy", lab, "--k8s", "--context", "lab-cluster")
    assert again.returncode == 1 and "already deployed on Kubernetes" in again.stderr

    p = vf(env, "topo", "destroy", "kube2")
    assert p.returncode == 0, p.stderr
    assert writes(server)[-1] == ("DELETE", f"{ns}/vforward-kube2")
    assert server.objects == {} and not state.exists()


def test_objects_left_by_an_earlier_deploy_are_replaced(api):
    server, env, lab, state = api
    assert vf(env, "topo", "deploy", lab, "--k8s", "--context", "lab-cluster").returncode == 0
    (state / "k8s.json").unlink()       # the record lost, the objects still in the cluster
    server.calls.clear()
    p = vf(env, "topo", "deploy", lab, "--k8s", "--context", "lab-cluster", "--image", "vf:3")
    assert p.returncode == 0, p.stderr
    ns = "/api/v1/namespaces/vforward-kube2"
    w = writes(server)
    assert ("PATCH", "/api/v1/namespaces/vforward-kube2") in w
    assert ("PUT", f"{ns}/configmaps/r1-bundle") in w
    assert ("DELETE", f"{ns}/pods/r1") in w and w.count(("POST", f"{ns}/pods")) == 4
    put = next(c for c in server.calls if c["method"] == "PUT" and "/services/" in c["path"])
    assert put["body"]["metadata"]["resourceVersion"] == "7"
    assert server.objects[f"{ns}/pods/r2"]["spec"]["containers"][0]["image"] == "vf:3"


def test_pods_not_ready_in_time_are_named_with_the_reason(api):
    server, env, lab, state = api
    server.stuck.add("r2")
    p = vf(env, "topo", "deploy", lab, "--k8s", "--context", "lab-cluster",
           "--namespace", "mylab", "--ready-timeout", "1")
    assert p.returncode == 1
    assert "pods not ready after 1 s in namespace mylab: r2 (ImagePullBackOff" in p.stderr
    assert json.loads((state / "k8s.json").read_text())["namespace"] == "mylab"
    assert vf(env, "topo", "destroy", lab).returncode == 0   # by its file, too
    assert writes(server)[-1] == ("DELETE", "/api/v1/namespaces/mylab")


def test_an_unreachable_cluster_is_named(api):
    server, env, lab, state = api
    p = vf(env, "topo", "deploy", lab, "--k8s")        # the kubeconfig's current context
    assert p.returncode == 1 and "cannot reach the cluster" in p.stderr
    assert "Traceback" not in p.stderr


def test_k8s_refuses_kernel_mode_and_emulated_hosts_before_calling_the_api(api):
    server, env, lab, state = api
    for extra in (["--mode", "kernel"], ["--emulate-hosts"]):
        p = vf(env, "topo", "deploy", lab, "--k8s", "--context", "lab-cluster", *extra)
        assert p.returncode == 1 and "--k8s runs every router as a pod" in p.stderr
    assert server.calls == [] and not state.exists()


def test_without_the_client_installed_the_error_names_the_extra(monkeypatch):
    from vforward.cluster.kubeapi import _kubernetes
    from vforward.topo.deploy import DeployError
    for mod in ("kubernetes", "kubernetes.client", "kubernetes.config", "kubernetes.stream"):
        monkeypatch.setitem(sys.modules, mod, None)     # import fails as when not installed
    with pytest.raises(DeployError, match=r"pip install 'vforward\[k8s\]'"):
        _kubernetes()
