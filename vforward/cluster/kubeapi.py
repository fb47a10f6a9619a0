"""`vforward topo deploy --k8s` and its destroy and exec, through the official
Kubernetes Python client: the manifests' objects created in the cluster, the
pods waited for, the lab recorded so that destroy and exec find it.

The client reads the user's kubeconfig (KUBECONFIG or ~/.kube/config) and the
context given with --context, as kubectl would.  Every object is created one
by one with its name printed; one that already exists (left by an earlier
deploy whose record is gone) is replaced: a ConfigMap or Service in place, a
Pod (whose spec cannot change) deleted and created again.  The record
(STATE/NAME/k8s.json) names the context, namespace and manifests, each
node's pod, and the lab's state the lab commands read (see
vforward.cluster.kubeaccess); destroy deletes the namespace, which takes
every object of the lab with it; `topo exec` execs in the node's pod over the
API's exec stream, on a terminal of the pod's when no command is given.
Readiness is waited for with a list, then a watch from its version.

The client is an optional dependency (the `k8s` extra): it is imported only
here, when a command talks to a cluster.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import time

from vforward.cluster.manifests import LAB_LABEL, lab_manifests, namespace_name, write_manifests
from vforward.cluster.placement import router_groups
from vforward.topo.deploy import DeployError, prepare
from vforward.topo.state import lab_dir, load_state

RECORD = "k8s.json"
READY_TIMEOUT = 300     # seconds to wait for the lab's pods to be ready
POLL = 1.0              # seconds between looks at the pods (or the namespace going)
CONTAINER = "node"      # the container of every lab pod (manifests.node_objects)


def _kubernetes():
    try:
        import kubernetes.client
        import kubernetes.config
        import kubernetes.stream
    except ImportError:
        raise DeployError("--k8s needs the Kubernetes Python client, which is not installed: "
                          "pip install 'vforward[k8s]'") from None
    return kubernetes


def core_api(context: str | None):
    """A CoreV1Api on the kubeconfig's context (its current one when None)."""
    k = _kubernetes()
    try:
        # KUBECONFIG read now (the client reads it once, when first imported)
        client = k.config.new_client_from_config(
            config_file=os.environ.get("KUBECONFIG") or None, context=context)
    except (k.config.ConfigException, OSError) as e:
        where = os.environ.get("KUBECONFIG", "~/.kube/config")
        raise DeployError(f"kubeconfig {where}: {e}; point KUBECONFIG at your cluster's "
                          f"kubeconfig{' or give --context' if context is None else ''}") from None
    return k.client.CoreV1Api(client)


def _say(text: str) -> None:
    print("+ " + text, file=sys.stderr, flush=True)


def _api_error(e) -> str:
    try:
        return json.loads(e.body).get("message") or e.reason
    except (TypeError, ValueError, AttributeError):
        return f"{e.status} {e.reason}"


def _call(what: str, fn, *args, **kwargs):
    """fn(*args) with an API or connection failure turned into a DeployError naming what."""
    import urllib3
    try:
        return fn(*args, **kwargs)
    except (urllib3.exceptions.HTTPError, OSError) as e:   # refused, timed out, bad TLS
        raise DeployError(f"{what}: cannot reach the cluster: {e}") from None


def _create(core, obj: dict, timeout: float) -> None:
    """Create one object; one that exists already is replaced."""
    k = _kubernetes()
    kind, name = obj["kind"], obj["metadata"]["name"]
    ns = obj["metadata"].get("namespace")
    where = f"{kind} {ns + '/' if ns else ''}{name}"
    create = {"Namespace": lambda: core.create_namespace(obj),
              "ConfigMap": lambda: core.create_namespaced_config_map(ns, obj),
              "Service": lambda: core.create_namespaced_service(ns, obj),
              "Pod": lambda: core.create_namespaced_pod(ns, obj)}
    if kind not in create:
        raise DeployError(f"{where}: no way to create a {kind} (the manifests hold only "
                          "Namespace, ConfigMap, Service and Pod)")
    _say(f"create {where}")
    try:
        _call(where, create[kind])
        return
    except k.client.ApiException as e:
        if e.status != 409:
            raise DeployError(f"create {where}: {_api_error(e)}") from None
    try:
        if kind == "Namespace":
            _say(f"patch {where} (exists): its labels")
            _call(where, core.patch_namespace, name, {"metadata": {"labels": obj["metadata"]["labels"]}})
        elif kind == "ConfigMap":
            _say(f"replace {where} (exists)")
            _call(where, core.replace_namespaced_config_map, name, ns, obj)
        elif kind == "Service":
            # A Service's update must carry the version it replaces.
            old = _call(where, core.read_namespaced_service, name, ns)
            body = json.loads(json.dumps(obj))
            body["metadata"]["resourceVersion"] = old.metadata.resource_version
            _say(f"replace {where} (exists)")
            _call(where, core.replace_namespaced_service, name, ns, body)
        else:
            # A Pod's spec cannot change: delete it, then create it once it is gone.
            _say(f"delete {where} (exists) and create it again")
            _call(where, core.delete_namespaced_pod, name, ns, grace_period_seconds=0)
            deadline = time.monotonic() + timeout
            while True:
                try:
                    _call(where, core.create_namespaced_pod, ns, obj)
                    return
                except k.client.ApiException as e:
                    if e.status != 409 or time.monotonic() > deadline:
                        raise
                time.sleep(POLL)
    except k.client.ApiException as e:
        raise DeployError(f"replace {where}: {_api_error(e)}") from None


def _not_ready(pod) -> str | None:
    """Why a pod is not ready, or None when it is."""
    status = pod.status
    if status is None:
        return "no status yet"
    if any(c.type == "Ready" and c.status == "True" for c in status.conditions or []):
        return None
    for c in status.container_statuses or []:
        waiting = c.state.waiting if c.state else None
        if waiting is not None and waiting.reason:
            return f"{waiting.reason}{': ' + waiting.message if waiting.message else ''}"
    return status.phase or "not ready"


def wait_ready(core, namespace: str, lab: str, pods: list[str], timeout: float) -> None:
    """Wait until every one of the lab's pods (found by its label) is ready: list
    them, then watch them change from that list's version (kubernetes.watch),
    listing again when a watch ends early (the server closed it, or the version
    is too old to watch from)."""
    k = _kubernetes()
    import kubernetes.watch
    import urllib3
    selector = f"{LAB_LABEL}={lab}"
    _say(f"wait for pods {selector} in namespace {namespace} to be ready ({timeout:g} s)")
    deadline = time.monotonic() + timeout
    seen: dict = {}

    def waiting() -> dict:
        why = {name: ("not created" if name not in seen else _not_ready(seen[name]))
               for name in pods}
        return {name: w for name, w in why.items() if w is not None}

    while True:
        try:
            listed = _call("list pods", core.list_namespaced_pod, namespace,
                           label_selector=selector)
        except k.client.ApiException as e:
            raise DeployError(f"list pods {selector} in {namespace}: {_api_error(e)}") from None
        seen = {p.metadata.name: p for p in listed.items}
        if not waiting():
            return
        left = deadline - time.monotonic()
        if left > 0:
            watch = kubernetes.watch.Watch()
            try:
                for event in _call("watch pods", watch.stream, core.list_namespaced_pod,
                                   namespace, label_selector=selector,
                                   resource_version=listed.metadata.resource_version,
                                   timeout_seconds=max(1, int(left + 0.999)),
                                   _request_timeout=left + 5):
                    pod = event["object"]
                    if event["type"] == "DELETED":
                        seen.pop(pod.metadata.name, None)
                    elif event["type"] in ("ADDED", "MODIFIED"):
                        seen[pod.metadata.name] = pod
                    if not waiting():
                        watch.stop()
                        return
                    if time.monotonic() > deadline:
                        break
            except k.client.ApiException as e:
                if e.status != 410:     # 410 Gone: the version is too old; list again
                    raise DeployError(f"watch pods {selector} in {namespace}: "
                                      f"{_api_error(e)}") from None
            except (urllib3.exceptions.HTTPError, OSError) as e:
                raise DeployError(f"watch pods: cannot reach the cluster: {e}") from None
            finally:
                watch.stop()
        if time.monotonic() > deadline:
            raise DeployError(f"pods not ready after {timeout:g} s in namespace {namespace}: "
                              + ", ".join(f"{n} ({why})" for n, why in sorted(waiting().items()))
                              + f"; look with 'kubectl -n {namespace} describe pod NAME'")
        time.sleep(POLL / 10)   # a watch that ended at once: do not spin


def record_path(name: str) -> str:
    return os.path.join(lab_dir(name), RECORD)


def write_record(name: str, record: dict) -> None:
    tmp = record_path(name) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2)
    os.replace(tmp, record_path(name))


def load_record(name: str) -> dict | None:
    try:
        with open(record_path(name)) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _lab_state(lab, path: str, pods: list[str]) -> dict:
    """The lab's state as the lab commands read it (vforward.cluster.kubeaccess): the
    interfaces and elements a deploy on this machine records; a router's control
    socket is the one in its pod."""
    from dataclasses import asdict

    from vforward.cluster.manifests import RUN_DIR
    from vforward.topo.deploy import _record
    state = asdict(_record(lab, path, "user"))
    state["sockets"] = {node: f"{node}:{RUN_DIR}/control.sock" for node in pods}
    return state


def deploy_k8s(path: str, context: str | None = None, namespace: str | None = None,
               image: str | None = None, timeout: float = READY_TIMEOUT) -> dict:
    """Create the lab's objects, wait until its pods are ready, record it."""
    lab = prepare(path)
    namespace = namespace or namespace_name(lab)
    if load_record(lab.name):
        raise DeployError(f"lab {lab.name} is already deployed on Kubernetes; "
                          f"'vforward topo destroy {lab.name}' first")
    if load_state(lab.name) is not None:
        raise DeployError(f"lab {lab.name} is deployed on this machine; "
                          f"'vforward topo destroy {lab.name}' first, or rename the lab")
    core = core_api(context)
    manifests = lab_manifests(lab, namespace, **({"image": image} if image else {}))
    directory = os.path.join(lab_dir(lab.name), "manifests")
    write_manifests(manifests, directory)
    pods = [o["metadata"]["name"] for objects in manifests.values() for o in objects
            if o["kind"] == "Pod"]
    record = {"name": lab.name, "topology": os.path.abspath(path), "context": context,
              "namespace": namespace, "manifests": directory, "pods": pods,
              "pod_of": {m: pod for pod, members in router_groups(lab).items() for m in members},
              "state": _lab_state(lab, path, pods)}
    # Recorded before the first object is made, so that destroy cleans up a failed deploy.
    write_record(lab.name, record)
    # 00-namespace.yaml sorts first: the Namespace exists before its objects.
    for file in sorted(manifests):
        for obj in manifests[file]:
            _create(core, obj, timeout)
    wait_ready(core, namespace, lab.name, pods, timeout)
    return record


def destroy_k8s(name: str, timeout: float = READY_TIMEOUT) -> list[str]:
    """Delete the lab's namespace (and so all its objects), wait until it is gone,
    then remove its record."""
    record = load_record(name)
    if record is None:
        return []
    k = _kubernetes()
    core = core_api(record.get("context"))
    ns = record["namespace"]
    _say(f"delete Namespace {ns}")
    try:
        _call(f"Namespace {ns}", core.delete_namespace, ns)
        deadline = time.monotonic() + timeout
        while True:
            _call(f"Namespace {ns}", core.read_namespace, ns)
            if time.monotonic() > deadline:
                raise DeployError(f"namespace {ns} is still there {timeout:g} s after its "
                                  f"deletion; look with 'kubectl get namespace {ns} -o yaml'")
            time.sleep(POLL)
    except k.client.ApiException as e:
        if e.status != 404:     # gone (or never made): what destroy wants
            raise DeployError(f"delete Namespace {ns}: {_api_error(e)}") from None
    shutil.rmtree(record["manifests"], ignore_errors=True)
    os.remove(record_path(name))
    try:
        os.rmdir(lab_dir(name))
    except OSError:
        pass    # something else lives there: leave it
    return [f"namespace {ns}"]


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


def exec_target(record: dict, node: str, cmd: list[str]) -> tuple[str, list[str]]:
    """(pod, command) for a command in a node: a router's own pod, or for a lab host
    (kind host) the pod of the router that made its namespace, inside that namespace."""
    from vforward.cluster.placement import router_groups
    from vforward.topo.model import TopologyError, load_lab
    from vforward.topo.render import netns_name
    lab = load_lab(record["topology"])
    if node not in lab.nodes:
        raise TopologyError(f"lab {lab.name} has no node '{node}' (nodes: {', '.join(lab.nodes)})")
    pod = next(g for g, members in router_groups(lab).items() if node in members)
    inner = list(cmd)
    if not lab.nodes[node].is_router:
        inner = ["ip", "netns", "exec", netns_name(lab, node)] + inner
    return pod, inner


def exec_k8s(record: dict, node: str, cmd: list[str]) -> int:
    """Run cmd in a node's pod through the API's exec stream, its output copied to ours;
    its exit status."""
    k = _kubernetes()
    core = core_api(record.get("context"))
    if not cmd:     # an interactive shell, on a terminal of the pod's
        pod, command = exec_target(record, node, ["sh"])
        _say(f"exec in pod {record['namespace']}/{pod} container {CONTAINER} (terminal): "
             f"{' '.join(command)}")
        return _exec_terminal(k, core, record["namespace"], pod, command)
    pod, command = exec_target(record, node, cmd)
    _say(f"exec in pod {record['namespace']}/{pod} container {CONTAINER}: {' '.join(command)}")
    try:
        ws = _call(f"exec in pod {pod}", k.stream.stream, core.connect_get_namespaced_pod_exec,
                   pod, record["namespace"], container=CONTAINER, command=command,
                   stdin=False, stdout=True, stderr=True, tty=False, _preload_content=False)
    except k.client.ApiException as e:
        raise DeployError(f"exec in pod {record['namespace']}/{pod}: {_api_error(e)}") from None
    while ws.is_open():
        ws.update(timeout=1)
        if ws.peek_stdout():
            sys.stdout.write(ws.read_stdout())
            sys.stdout.flush()
        if ws.peek_stderr():
            sys.stderr.write(ws.read_stderr())
            sys.stderr.flush()
    sys.stdout.write(ws.read_stdout() if ws.peek_stdout() else "")
    sys.stderr.write(ws.read_stderr() if ws.peek_stderr() else "")
    code = ws.returncode
    ws.close()
    return code if code is not None else 1


def _exec_terminal(k, core, namespace: str, pod: str, command: list[str]) -> int:
    """Run command on a terminal in the pod, joined to ours (raw mode while it runs,
    its size sent on the resize channel); its exit status."""
    import select
    import termios
    import tty

    from vforward.cluster.kubeaccess import STATUS, STDERR, STDOUT, exit_status
    try:
        ws = _call(f"exec in pod {pod}", k.stream.stream, core.connect_get_namespaced_pod_exec,
                   pod, namespace, container=CONTAINER, command=command, stdin=True,
                   stdout=True, stderr=True, tty=True, binary=True, _preload_content=False)
    except k.client.ApiException as e:
        raise DeployError(f"exec in pod {namespace}/{pod}: "
                          f"{_api_error(e) if e.status else e.reason}") from None
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    reading = True
    try:
        if saved is not None:
            tty.setraw(fd)
            size = shutil.get_terminal_size()
            ws.write_channel(4, json.dumps({"Width": size.columns, "Height": size.lines}))
        while ws.is_open():
            ready, _, _ = select.select([ws.sock.sock] + ([fd] if reading else []), [], [], 1.0)
            if fd in ready:
                data = os.read(fd, 4096)
                if data:
                    ws.write_stdin(data)
                else:
                    reading = False     # our input ended: the shell goes on until it exits
            ws.update(timeout=0)
            for channel, out in ((STDOUT, 1), (STDERR, 2)):
                data = ws.read_channel(channel)
                if data:
                    os.write(out, data)
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
    code, message = exit_status(ws.read_channel(STATUS))
    ws.close()
    if message:
        print(f"vforward: {message}", file=sys.stderr)
    return code


def exec_k8s_ref(lab_ref: str, node: str, cmd: list[str]) -> int | None:
    """Run a command in a node of a Kubernetes lab (None when it is not one)."""
    record = load_record(_name_of(lab_ref))
    if record is None:
        return None
    return exec_k8s(record, node, cmd)
