"""`vforward topo ingress LAB client NAME -o NAME.ovpn | list | revoke NAME`."""
from __future__ import annotations

import datetime
import os
import sys


def _lab_and_state(lab_ref: str):
    from vforward.topo.deploy import prepare
    from vforward.topo.ops import lab_state
    st = lab_state(lab_ref)
    lab = prepare(st.topology, st.name)
    for d in st.daemons:     # the port deploy chose when the file names none
        if d.get("what") == "openvpn" and d.get("port") and d.get("node") in lab.nodes:
            lab.nodes[d["node"]].ingress.port = int(d["port"])
    return lab, st


def _ingress_node(lab, wanted: str | None):
    from vforward.topo.model import TopologyError
    nodes = [n for n in lab.routers() if n.ingress is not None]
    if not nodes:
        raise TopologyError(f"lab {lab.name} has no ingress node; add 'ingress: {{}}' to a "
                            "router in its topology file and deploy it again")
    if wanted is None:
        if len(nodes) > 1:
            raise TopologyError(f"lab {lab.name} has several ingress nodes "
                                f"({', '.join(n.name for n in nodes)}); choose one with --node")
        return nodes[0]
    for n in nodes:
        if n.name == wanted:
            return n
    raise TopologyError(f"node {wanted} of lab {lab.name} has no ingress (ingress nodes: "
                        f"{', '.join(n.name for n in nodes)})")


def cmd_client(a) -> int:
    from vforward.topo.ingress.profile import client_profile
    from vforward.topo.ingress.server import lab_pki, tls_crypt_key
    from vforward.topo.model import TopologyError
    lab, st = _lab_and_state(a.lab)
    node = _ingress_node(lab, a.node)
    remote = a.remote or node.ingress.remote or str(node.ingress.listen)
    if remote == "0.0.0.0":
        raise TopologyError(f"node {node.name}'s ingress listens on every address; say which "
                            "one clients connect to with --remote ADDR (or 'remote:' under "
                            "its ingress)")
    pki = lab_pki(lab.name, st.directory)
    pki.new_client(a.name)
    text = client_profile(lab.name, node, pki, a.name, remote, tls_crypt_key(st.directory))
    if a.output in (None, "-"):
        sys.stdout.write(text)
    else:
        fd = os.open(a.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # it holds a key
        with os.fdopen(fd, "w") as f:
            f.write(text)
        print(f"wrote {a.output}: client {a.name} of lab {lab.name} via {remote} "
              f"port {node.ingress.port}", file=sys.stderr)
    return 0


def cmd_list(a) -> int:
    from vforward.topo.ingress.server import lab_pki, status
    lab, st = _lab_and_state(a.lab)
    if not any(n.ingress is not None for n in lab.routers()):
        _ingress_node(lab, None)        # says the lab has none, and how to add one
    clients = lab_pki(lab.name, st.directory).clients()
    online = {}
    for node in lab.routers():
        if node.ingress is not None:
            online.update({name: dict(s, node=node.name)
                           for name, s in status(st.directory, node.name).items()})
    print(f"{'CLIENT':<20} {'STATE':<8} {'CREATED':<20} {'CONNECTED'}")
    for name, c in sorted(clients.items()):
        created = datetime.datetime.fromtimestamp(c["created"]).strftime("%Y-%m-%d %H:%M:%S")
        state = "revoked" if c.get("revoked") else "valid"
        on = online.get(name)
        where = f"{on['virtual']} at {on['node']} from {on['real']}" if on else "-"
        print(f"{name:<20} {state:<8} {created:<20} {where}")
    return 0


def cmd_revoke(a) -> int:
    from vforward.topo.ingress.server import disconnect, lab_pki
    lab, st = _lab_and_state(a.lab)
    lab_pki(lab.name, st.directory).revoke(a.name)
    cut = [f"{n.name} ({k})" for n in lab.routers() if n.ingress is not None
           for k in [disconnect(st.directory, n.name, a.name)] if k]
    print(f"revoked {a.name}: " + (f"disconnected at {', '.join(cut)}; " if cut else "") +
          "the lab's servers refuse its next connection")
    return 0


def add_parser(ts) -> None:
    p = ts.add_parser("ingress", help="OpenVPN clients of a lab's ingress: profiles, list, revoke")
    p.add_argument("lab", help="a deployed lab's name or its topology YAML file")
    sub = p.add_subparsers(dest="ingress_command", metavar="ACTION")
    sub.required = True
    c = sub.add_parser("client", help="issue a client certificate and write its .ovpn profile")
    c.add_argument("name")
    c.add_argument("-o", "--output", help="the profile file (default: standard output)")
    c.add_argument("--node", help="the ingress node (needed when the lab has several)")
    c.add_argument("--remote", help="the address clients connect to (default: the listen address)")
    c.set_defaults(func=cmd_client)
    sub.add_parser("list", help="clients, valid or revoked, and who is connected") \
        .set_defaults(func=cmd_list)
    r = sub.add_parser("revoke", help="put a client on the CRL and disconnect it; it cannot "
                       "connect again")
    r.add_argument("name")
    r.set_defaults(func=cmd_revoke)
