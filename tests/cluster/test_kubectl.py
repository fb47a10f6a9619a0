"""`topo deploy --k8s` and destroy: the kubectl command lines they run.  No
cluster exists here, so a stand-in `kubectl` on PATH records its arguments (and
what the manifests folder holds when it is applied); nothing here was run
against a real API server."""
import json
import os
import subprocess
import sys

import pytest

from tests.node.labs import two_router_lab

FAKE = """#!{python}
import json, os, sys
args = sys.argv[1:]
rec = {{"argv": args}}
if "-f" in args:
    folder = args[args.index("-f") + 1]
    rec["files"] = sorted(os.listdir(folder))
with open({log!r}, "a") as f:
    f.write(json.dumps(rec) + "\\n")
if os.environ.get("FAKE_KUBECTL_FAIL") and "wait" in args:
    print("error: timed out waiting for the condition on pods/r2", file=sys.stderr)
    sys.exit(1)
"""


@pytest.fixture
def kubectl_env(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "kubectl.log"
    fake = bin_dir / "kubectl"
    fake.write_text(FAKE.format(python=sys.executable, log=str(log)))
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}",
               VFORWARD_STATE_DIR=str(tmp_path / "state"))
    lab = tmp_path / "lab.yaml"
    lab.write_text(two_router_lab("kube2"))

    def calls():
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return env, str(lab), calls, tmp_path / "state" / "kube2"


def vf(env, *args):
    return subprocess.run([sys.executable, "-m", "vforward", *args], env=env,
                          capture_output=True, text=True)


def test_deploy_applies_the_manifests_waits_for_ready_pods_and_destroy_deletes_the_namespace(
        kubectl_env):
    env, lab, calls, state = kubectl_env
    p = vf(env, "topo", "deploy", lab, "--k8s", "--context", "lab-cluster", "--image", "vf:2")
    assert p.returncode == 0, p.stderr
    apply, wait = calls()
    assert apply["argv"] == ["--context", "lab-cluster", "apply", "-f", str(state / "manifests")]
    assert apply["files"] == ["00-namespace.yaml", "r1.yaml", "r2.yaml"]
    assert wait["argv"] == ["--context", "lab-cluster", "--namespace", "vforward-kube2", "wait",
                            "--for=condition=Ready", "pod", "--selector", "vforward.io/lab=kube2",
                            "--timeout=300s"]
    assert "image: vf:2" in (state / "manifests" / "r1.yaml").read_text()
    record = json.loads((state / "k8s.json").read_text())
    assert record["namespace"] == "vforward-kube2" and record["context"] == "lab-cluster"
    assert "+ kubectl --context lab-cluster apply -f" in p.stderr   # replayable by hand

    # exec: in a router's pod, or in a lab host's namespace inside its router's pod
    assert vf(env, "topo", "exec", "kube2", "r2", "--", "ip", "route").returncode == 0
    assert calls()[-1]["argv"] == ["--context", "lab-cluster", "--namespace", "vforward-kube2",
                                   "exec", "r2", "-c", "node", "--", "ip", "route"]
    assert vf(env, "topo", "exec", "kube2", "h1", "--", "ping", "-c", "1",
              "172.16.1.2").returncode == 0
    assert calls()[-1]["argv"][4:] == ["exec", "r1", "-c", "node", "--", "ip", "netns", "exec",
                                       "vf-kube2-h1", "ping", "-c", "1", "172.16.1.2"]

    again = vf(env, "topo", "deploy", lab, "--k8s")
    assert again.returncode == 1 and "already deployed on Kubernetes" in again.stderr

    p = vf(env, "topo", "destroy", "kube2")
    assert p.returncode == 0, p.stderr
    assert calls()[-1]["argv"] == ["--context", "lab-cluster", "delete", "namespace",
                                   "vforward-kube2", "--ignore-not-found", "--wait=true"]
    assert not state.exists()


def test_a_failed_wait_is_reported_with_kubectls_message(kubectl_env):
    env, lab, calls, state = kubectl_env
    p = vf(dict(env, FAKE_KUBECTL_FAIL="1"), "topo", "deploy", lab, "--k8s",
           "--namespace", "mylab")
    assert p.returncode == 1
    assert "kubectl --namespace mylab wait" in p.stderr and "timed out waiting" in p.stderr
    assert json.loads((state / "k8s.json").read_text())["namespace"] == "mylab"
    assert vf(env, "topo", "destroy", lab).returncode == 0   # by its file, too
    assert calls()[-1]["argv"][:3] == ["delete", "namespace", "mylab"]


def test_k8s_refuses_kernel_mode_and_emulated_hosts_before_calling_kubectl(kubectl_env):
    env, lab, calls, state = kubectl_env
    for extra in (["--mode", "kernel"], ["--emulate-hosts"]):
        p = vf(env, "topo", "deploy", lab, "--k8s", *extra)
        assert p.returncode == 1 and "--k8s runs every router as a pod" in p.stderr
    assert calls() == [] and not state.exists()
