"""A lab as Kubernetes objects: what `vforward topo manifests` writes and
`vforward topo deploy --k8s` applies.

  * a Namespace per lab (default `vforward-LAB`);
  * per router, a ConfigMap of its own holding its node bundle (node.json,
    router.click, bird.conf: see vforward.node).  One object per node keeps
    each far below the 1 MiB a ConfigMap may hold, which one object for the
    whole lab would reach on a big lab;
  * per router, a Pod running the node entrypoint `vforward node run` on the
    ConfigMap mounted read-only at BUNDLE_DIR, with NET_ADMIN (TAPs, addresses,
    routes in its own network namespace), /dev/net/tun from the machine
    (hostPath, a character device), an emptyDir at RUN_DIR for its control
    socket and BIRD's files, and a readiness probe on the `ready` file the
    entrypoint writes once its router and daemon are up.  A router that owns
    lab hosts (kind host) also gets SYS_ADMIN: it makes their namespaces
    (`ip netns add` mounts them);
  * per router, a headless Service named after the node, selecting its Pod,
    with the UDP port of each of its links.  A peer is found by that name:
    the entrypoint resolves `NODE + $VFORWARD_PEER_SUFFIX` (".NS.svc", which
    the pod's DNS search path completes to the cluster's domain) and retries
    until it answers.  The Services publish not-ready addresses: a node
    becomes ready only once it has found its peers, so waiting for their
    readiness would have every node wait for every other;
  * `host:` (or automatic placement on `hosts:`, see placement.py) becomes a
    nodeSelector on kubernetes.io/hostname; a lab without `hosts:` gets a
    preferred anti-affinity that spreads its pods over the cluster's machines.

Every pod has an address of its own, so link ports need not avoid each other
across pods: link N uses port LINK_PORT_BASE + N at both ends.  Every router
link crosses the pod network, so its interfaces get the smaller of its two
hosts' `mtu` (the pod network's MTU there) less the encapsulation, whether
the two pods share a machine or not; a lab host's link, a TAP inside its
router's pod, keeps 1500.
"""
from __future__ import annotations

import json
import os

import yaml

from vforward.cluster.placement import UNPLACED, place
from vforward.topo.model import Lab, TopologyError

DEFAULT_IMAGE = "vforward-node:latest"
BUNDLE_DIR = "/etc/vforward/node"
RUN_DIR = "/run/vforward/node"
TUN = "/dev/net/tun"
METRICS_PORT = 9100
LINK_PORT_BASE = 20000
CONFIGMAP_LIMIT = 1024 * 1024     # bytes a ConfigMap's data may hold
LAB_LABEL = "vforward.io/lab"
NODE_LABEL = "vforward.io/node"
HOSTNAME_LABEL = "kubernetes.io/hostname"


def namespace_name(lab: Lab) -> str:
    return f"vforward-{lab.name}"


def configmap_name(node: str) -> str:
    return f"{node}-bundle"


def assign_pod_ports(lab: Lab) -> None:
    """(host address, port) for every router end: port LINK_PORT_BASE + link index."""
    for link in lab.links:
        if lab.nodes[link.a.node].is_router and lab.nodes[link.b.node].is_router:
            for end in (link.a, link.b):
                link.underlay[end.ref] = (lab.hosts[lab.nodes[end.node].host],
                                          LINK_PORT_BASE + link.index)


def for_pods(lab: Lab) -> Lab:
    """Make an addressed lab ready to render as pods: placed, link ports assigned,
    and every router link carried between pods (render.interface_mtu)."""
    place(lab)
    assign_pod_ports(lab)
    # Every router link runs between two pods, over the pod network, whose MTU is
    # the hosts' `mtu`: its lab interfaces get that less the encapsulation even
    # when both pods are on one machine.
    lab.links_between_pods = True
    return lab


def _labels(lab: Lab, node: str | None = None) -> dict:
    out = {"app.kubernetes.io/name": "vforward", "app.kubernetes.io/part-of": lab.name,
           LAB_LABEL: lab.name}
    if node:
        out[NODE_LABEL] = node
    return out


POD_INTERFACE = "eth0"    # the pod's own interface, made by the cluster's network plugin


def _check_name(lab: Lab, node: str) -> None:
    if node.endswith("-"):
        raise TopologyError(f"{lab.nodes[node].where}: node {node} names its Kubernetes "
                            "Service, which cannot end with '-'; rename the node")
    if POD_INTERFACE in lab.nodes[node].interfaces:
        link = lab.nodes[node].interfaces[POD_INTERFACE].link
        raise TopologyError(f"{link.where}: interface {node}:{POD_INTERFACE} would take the name "
                            "of the pod's own network interface; name it eth1 or higher")


def node_objects(lab: Lab, node: str, bundle: dict, namespace: str, image: str) -> list[dict]:
    """The ConfigMap, Service and Pod of one router."""
    _check_name(lab, node)
    size = sum(len(text.encode()) for text in bundle.values())
    if size > CONFIGMAP_LIMIT:
        raise TopologyError(f"node {node}'s bundle is {size} bytes, more than a ConfigMap holds "
                            f"({CONFIGMAP_LIMIT}); shorten its 'extra:' configuration")
    spec = json.loads(bundle["node.json"])
    ports = [{"name": f"link{link['link']}", "protocol": "UDP",
              "port": link["local_port"], "targetPort": link["local_port"]}
             for link in spec["links"]]
    labels = _labels(lab, node)
    meta = {"name": node, "namespace": namespace, "labels": labels}
    configmap = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {**meta, "name": configmap_name(node)},
                 "data": dict(sorted(bundle.items()))}
    service = {"apiVersion": "v1", "kind": "Service", "metadata": meta,
               "spec": {"clusterIP": "None", "publishNotReadyAddresses": True,
                        "selector": {LAB_LABEL: lab.name, NODE_LABEL: node},
                        "ports": ports + [{"name": "metrics", "protocol": "TCP",
                                           "port": METRICS_PORT, "targetPort": METRICS_PORT}]}}
    caps = ["NET_ADMIN"] + (["SYS_ADMIN"] if spec["attached_hosts"] else [])
    container = {
        "name": "node", "image": image, "imagePullPolicy": "IfNotPresent",
        "command": ["vforward", "node", "run", BUNDLE_DIR],
        "env": [{"name": "VFORWARD_PEER_SUFFIX", "value": f".{namespace}.svc"},
                {"name": "VFORWARD_RUN_DIR", "value": RUN_DIR},
                {"name": "VFORWARD_METRICS", "value": f"0.0.0.0:{METRICS_PORT}"}],
        "ports": [{"name": p["name"], "protocol": "UDP", "containerPort": p["port"]}
                  for p in ports] + [{"name": "metrics", "protocol": "TCP",
                                      "containerPort": METRICS_PORT}],
        "securityContext": {"capabilities": {"add": caps}},
        "readinessProbe": {"exec": {"command": ["test", "-e", f"{RUN_DIR}/ready"]},
                           "periodSeconds": 2, "failureThreshold": 3},
        "volumeMounts": [{"name": "bundle", "mountPath": BUNDLE_DIR, "readOnly": True},
                         {"name": "run", "mountPath": RUN_DIR},
                         {"name": "tun", "mountPath": TUN}],
    }
    pod_spec = {
        "hostname": node, "restartPolicy": "Always", "terminationGracePeriodSeconds": 15,
        "containers": [container],
        "volumes": [{"name": "bundle", "configMap": {"name": configmap_name(node)}},
                    {"name": "run", "emptyDir": {"medium": "Memory"}},
                    {"name": "tun", "hostPath": {"path": TUN, "type": "CharDevice"}}],
    }
    host = lab.nodes[node].host
    if host != UNPLACED:
        pod_spec["nodeSelector"] = {HOSTNAME_LABEL: host}
    else:
        pod_spec["affinity"] = {"podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [{
                "weight": 100,
                "podAffinityTerm": {"topologyKey": HOSTNAME_LABEL,
                                    "labelSelector": {"matchLabels": {LAB_LABEL: lab.name}}}}]}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": pod_spec}
    return [configmap, service, pod]


def lab_manifests(lab: Lab, namespace: str | None = None,
                  image: str = DEFAULT_IMAGE) -> dict[str, list[dict]]:
    """{file name: [objects]} for an addressed lab: 00-namespace.yaml, then NODE.yaml
    per router (its ConfigMap, Service and Pod).  Places unpinned nodes first."""
    from vforward.node.bundle import node_bundle
    namespace = namespace or namespace_name(lab)
    for_pods(lab)
    no_fallback = {n: None for n in lab.nodes}   # a pod's peers are found by name only
    # Pod Security Admission's baseline level, the default on many clusters, forbids
    # hostPath volumes (/dev/net/tun) and added capabilities (NET_ADMIN): the lab's
    # namespace asks for the privileged level, which the cluster's admin may allow.
    ns_labels = {**_labels(lab), "pod-security.kubernetes.io/enforce": "privileged"}
    out = {"00-namespace.yaml": [{"apiVersion": "v1", "kind": "Namespace",
                                  "metadata": {"name": namespace, "labels": ns_labels}}]}
    for router in lab.routers():
        bundle = node_bundle(lab, router.name, peer_addresses=no_fallback)
        out[f"{router.name}.yaml"] = node_objects(lab, router.name, bundle, namespace, image)
    return out


def dump(objects: list[dict]) -> str:
    """A YAML stream of objects, block style, multi-line text as literal blocks."""
    return yaml.dump_all(objects, Dumper=_Dumper, sort_keys=False, default_flow_style=False)


def write_manifests(manifests: dict[str, list[dict]], directory: str) -> list[str]:
    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, objects in manifests.items():
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(dump(objects))
        paths.append(path)
    return paths


class _Dumper(yaml.SafeDumper):
    """Writes a bundle's files as `|` blocks, readable in the manifest."""


def _text(dumper, value: str):
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)
