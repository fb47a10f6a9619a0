"""`vforward topo place`, `vforward topo manifests`, and the `--k8s` options of deploy."""
from __future__ import annotations

import json
import sys


def cmd_place(a) -> int:
    from vforward.cluster.placement import place
    from vforward.topo.model import load_lab
    lab = load_lab(a.lab)
    placement = place(lab)
    if a.json:
        print(json.dumps(placement.as_json(lab), indent=2))
        return 0
    doc = placement.as_json(lab)
    print(f"lab {lab.name}: {len(lab.nodes)} nodes on {len(doc['hosts']) or 1} hosts "
          f"({'METIS' if placement.method == 'metis' else 'as pinned by host:'})")
    for host, spec in doc["hosts"].items():
        names = [n + ("" if n in placement.automatic else "*") for n in spec["nodes"]]
        print(f"  {host} ({spec['address']}): {len(names)} nodes: {' '.join(names) or '-'}")
    local = [n for n, h in placement.hosts.items() if h not in doc["hosts"]]
    if local:
        print(f"  local: {len(local)} nodes: {' '.join(local)}")
    print(f"links crossing hosts: {len(placement.crossing)} of {len(lab.links)}")
    for c in doc["crossing"]:
        print(f"  {c['a']} -- {c['b']}  ({c['hosts'][0]} -- {c['hosts'][1]})")
    if placement.automatic and len(placement.automatic) < len(lab.nodes):
        print("(* pinned by host:)")
    return 0


def cmd_manifests(a) -> int:
    from vforward.cluster.manifests import dump, lab_manifests, write_manifests
    from vforward.topo.deploy import prepare
    kw = {"image": a.image} if a.image else {}
    manifests = lab_manifests(prepare(a.lab), a.namespace, **kw)
    if a.output:
        for path in write_manifests(manifests, a.output):
            print(f"wrote {path}")
    else:
        sys.stdout.write(dump([o for objs in manifests.values() for o in objs]))
    return 0


def add_parsers(ts) -> None:
    p = ts.add_parser("place", help="place the lab's nodes on its hosts; the links that cross")
    p.add_argument("lab", help="the topology YAML file")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_place)
    p = ts.add_parser("manifests", help="the lab as Kubernetes manifests (Namespace, and per "
                                        "node a ConfigMap, a Pod and a headless Service)")
    p.add_argument("lab", help="the topology YAML file")
    p.add_argument("-o", "--output", metavar="DIR", help="one file per node (default: stdout)")
    p.add_argument("--image", help="the node image (default vforward-node:latest)")
    p.add_argument("--namespace", help="the Kubernetes namespace (default vforward-LAB)")
    p.set_defaults(func=cmd_manifests)


def add_deploy_options(p) -> None:
    p.add_argument("--k8s", action="store_true",
                   help="deploy on Kubernetes through its API (pip install 'vforward[k8s]'): "
                        "one pod per router (see 'topo manifests'); waits until every pod "
                        "is ready")
    p.add_argument("--context", help="with --k8s: the kubeconfig context")
    p.add_argument("--image", help="with --k8s: the node image")
    p.add_argument("--namespace", help="with --k8s: the namespace (default vforward-LAB)")
    p.add_argument("--ready-timeout", type=float, default=300.0,
                   help="with --k8s: seconds to wait for the pods to be ready (default 300)")


def deploy_k8s_cmd(a) -> int:
    from vforward.cluster.kubeapi import deploy_k8s
    from vforward.topo.deploy import DeployError
    if a.mode != "user" or getattr(a, "emulate_hosts", False):
        raise DeployError("--k8s runs every router as a pod of its own; it takes neither "
                          "--mode kernel nor --emulate-hosts: drop one of them")
    record = deploy_k8s(a.lab, context=a.context, namespace=a.namespace, image=a.image,
                        timeout=a.ready_timeout)
    print(f"deployed {len(record['pods'])} pods in namespace {record['namespace']}; "
          f"manifests: {record['manifests']}")
    return 0
