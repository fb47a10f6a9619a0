"""Labs beyond one machine: placing nodes on hosts, and Kubernetes as the engine
that runs them.

  placement.py   nodes without `host:` placed on the lab's `hosts:` by METIS
  manifests.py   a lab as Kubernetes objects: Namespace, per node a ConfigMap
                 (its node bundle, see vforward.node), a Pod running
                 `vforward node run`, a headless Service
  kubeapi.py     `topo deploy --k8s`, destroy, exec: the Kubernetes client's API calls
  cli.py         `topo place`, `topo manifests`
"""
