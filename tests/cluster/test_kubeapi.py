"""`topo deploy --k8s`, destroy and exec through the Kubernetes Python client.
No cluster exists here: a small HTTP server on 127.0.0.1 stands in for the API
server, keeps the objects it is sent, answers the minimal JSON the client reads
(pods report Ready unless told otherwise) and the exec stream's WebSocket, and
records every request.  Nothing here was run against a real API server."""
import base64
import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

pytest.importorskip("kubernetes")

from tests.node.labs import two_router_lab

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class FakeApi(BaseHTTPRequestHandler):
    """Core v1 objects kept by path; pods listed with a Ready condition."""

    def log_message(self, *args):
        pass

    def _record(self, body=None):
        url = urlsplit(self.path)
        self.server.calls.append({"method": self.command, "path": url.path,
                                  "query": parse_qs(url.query), "body": body,
                                  "auth": self.headers.get("Authorization")})
        return url

    def _reply(self, code, obj):
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code, reason, message):
        self._reply(code, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "reason": reason, "message": message, "code": code})

    def _body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else None

    def do_POST(self):
        body = self._body()
        url = self._record(body)
        path = f"{url.path}/{body['metadata']['name']}"
        if path in self.server.objects:
            return self._status(409, "AlreadyExists", f"{path} already exists")
        self.server.objects[path] = body
        self._reply(201, body)

    def do_PUT(self):
        body = self._body()
        url = self._record(body)
        self.server.objects[url.path] = body
        self._reply(200, body)

    def do_PATCH(self):
        url = self._record(self._body())
        self._reply(200, self.server.objects[url.path])

    def do_DELETE(self):
        url = self._record(self._body())
        gone = [p for p in self.server.objects if p == url.path or p.startswith(url.path + "/")]
        if not gone:
            return self._status(404, "NotFound", f"{url.path} not found")
        deleted = self.server.objects[url.path]
        for p in gone:
            del self.server.objects[p]
        if deleted["kind"] == "Pod":       # a Pod's deletion answers with the Pod
            return self._reply(200, deleted)
        self._reply(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

    def do_GET(self):
        url = self._record()
        if url.path.endswith("/exec"):
            return self._exec(parse_qs(url.query)["command"])
        if url.path.endswith("/pods"):
            items = [dict(o, status=self._pod_status(o["metadata"]["name"]))
                     for p, o in self.server.objects.items() if p.startswith(url.path + "/")]
            return self._reply(200, {"kind": "PodList", "apiVersion": "v1",
                                     "metadata": {}, "items": items})
        if url.path in self.server.objects:
            obj = self.server.objects[url.path]
            return self._reply(200, dict(obj, metadata=dict(obj["metadata"],
                                                            resourceVersion="7")))
        self._status(404, "NotFound", f"{url.path} not found")

    def _pod_status(self, name):
        if name in self.server.stuck:
            return {"phase": "Pending", "containerStatuses": [{
                "name": "node", "image": "vf", "imageID": "", "ready": False,
                "restartCount": 0, "state": {"waiting": {
                    "reason": "ImagePullBackOff", "message": "pull access denied"}}}]}
        return {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}

    def _exec(self, command):
        """The exec stream: stdout on channel 1, the exit status on channel 3."""
        accept = base64.b64encode(hashlib.sha1(
            (self.headers["Sec-WebSocket-Key"] + WS_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", "v4.channel.k8s.io")
        self.end_headers()
        code = 3 if command[-1] == "fail" else 0
        status = ({"status": "Success"} if code == 0 else
                  {"status": "Failure", "reason": "NonZeroExitCode",
                   "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}})
        for payload in (b"\x01ran: " + " ".join(command).encode() + b"\n",
                        b"\x03" + json.dumps(status).encode()):
            self.wfile.write(bytes([0x82, len(payload)]) + payload)   # binary, < 126 bytes
        self.wfile.write(b"\x88\x02\x03\xe8")                          # close, 1000
        self.wfile.flush()
        self.close_connection = True


@pytest.fixture
def api(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeApi)
    server.daemon_threads = True
    server.calls, server.objects, server.stuck = [], {}, set()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "unreachable",
        "clusters": [{"name": "fake", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}},
                     {"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "lab-token"}}],
        "contexts": [{"name": "lab-cluster", "context": {"cluster": "fake", "user": "u"}},
                     {"name": "unreachable", "context": {"cluster": "dead", "user": "u"}}]}))
    env = dict(os.environ, KUBECONFIG=str(kubeconfig),
               VFORWARD_STATE_DIR=str(tmp_path / "state"))
    lab = tmp_path / "lab.yaml"
    lab.write_text(two_router_lab("kube2"))
    yield server, env, str(lab), tmp_path / "state" / "kube2"
    server.shutdown()
    server.server_close()


def vf(env, *args):
    return subprocess.run([sys.executable, "-m", "vforward", *args], env=env,
                          capture_output=True, text=True, timeout=60)


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
