"""Routes by hand: add and remove a router's routes through its route table's
handlers, and show its FIB with where each route came from.

A manual route replaces whatever the table held for its prefix (the routing
daemon's mirror leaves a route it did not write alone); removing it lets the
mirror install the daemon's route again.  The manual routes of a lab are
recorded beside its state so that `route show` can name them.
"""
from __future__ import annotations

import ipaddress
import json
import os

from vforward.control import ControlError
from vforward.experiment.neighbours import ports, resolve, router
from vforward.topo.model import TopologyError
from vforward.topo.ops import NodeControl, lab_state
from vforward.topo.routes import static_routes

RECORD = "manual-routes.json"


def _record_path(st) -> str:
    return os.path.join(st.directory, RECORD)


def _load(st) -> dict:
    try:
        with open(_record_path(st)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _save(st, record: dict) -> None:
    tmp = _record_path(st) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(tmp, _record_path(st))


def _prefix(text: str) -> str:
    try:
        return str(ipaddress.IPv4Network(text, strict=False))
    except ValueError:
        raise TopologyError(f"'{text}' is not an IPv4 prefix such as 10.1.0.0/24") from None


def _user_mode(st) -> None:
    if st.mode != "user":
        raise TopologyError(f"lab {st.name} runs in {st.mode} mode; routes by hand go through "
                            "vforward's route table, so deploy the lab in user mode")


def _lab(st):
    from vforward.topo.deploy import prepare
    return prepare(st.topology, st.name)


def add_route(lab_ref: str, node: str, prefix: str, via: str) -> str:
    """Install PREFIX via a neighbour (name or address) on a router; returns the route text."""
    st = lab_state(lab_ref)
    _user_mode(st)
    lab = _lab(st)
    prefix = _prefix(prefix)
    hop = resolve(lab, node, via)
    text = f"{prefix} {hop.gateway} {hop.port}"
    ctl = NodeControl(st)
    try:
        ctl.write(node, "rt.set", text)
    except ControlError as e:
        raise TopologyError(f"{node}: route {prefix} via {via} refused: {e.message}") from None
    finally:
        ctl.close()
    record = _load(st)
    record.setdefault(node, {})[prefix] = {"gateway": hop.gateway, "port": hop.port,
                                           "via": hop.neighbour, "interface": hop.interface}
    _save(st, record)
    return f"{prefix} via {hop.gateway} ({hop.neighbour}) dev {hop.interface}"


def del_route(lab_ref: str, node: str, prefix: str) -> str:
    """Remove a manual route; a daemon's route for the prefix comes back."""
    st = lab_state(lab_ref)
    _user_mode(st)
    router(_lab(st), node)
    prefix = _prefix(prefix)
    record = _load(st)
    if prefix not in record.get(node, {}):
        mine = ", ".join(record.get(node, {})) or "none"
        raise TopologyError(f"{node} has no manual route for {prefix} (its manual routes: {mine}); "
                            "only routes added by hand are removed by hand")
    ctl = NodeControl(st)
    try:
        try:
            ctl.write(node, "rt.remove", prefix)
        except ControlError as e:
            if "not found" not in e.message:
                raise TopologyError(f"{node}: cannot remove {prefix}: {e.message}") from None
        try:
            ctl.write(node, "mirror.resync")     # the daemon's route for it, if any, again
        except ControlError:
            pass                                 # a static router has no mirror
    finally:
        ctl.close()
    del record[node][prefix]
    _save(st, record)
    return prefix


def show_routes(lab_ref: str, node: str) -> list[dict]:
    """The router's FIB: prefix, gateway, interface, neighbour and origin
    (connected, daemon, static, manual) of every route."""
    st = lab_state(lab_ref)
    _user_mode(st)
    lab = _lab(st)
    n = router(lab, node)
    names = {p: name for name, p in ports(n).items()}
    owner = {str(i.address.ip): i.node for nd in lab.nodes.values()
             for i in nd.interfaces.values()}
    ctl = NodeControl(st)
    try:
        table = ctl.read(node, "rt.table")
        try:
            daemon = {line.split()[0] for line in ctl.read(node, "mirror.routes").splitlines()
                      if line.strip()}
        except ControlError:
            daemon = set()
    finally:
        ctl.close()
    manual = _load(st).get(node, {})
    static = {str(r.prefix) for r in static_routes(lab)[node] if r.gateway}
    rows = []
    for line in table.splitlines():
        words = line.split()
        if len(words) < 3:
            continue
        prefix, gw = words[0], words[1]
        hops = [(words[i], int(words[i + 1])) for i in range(1, len(words) - 1, 2)]
        if prefix in manual and manual[prefix]["gateway"] == gw:
            origin = "manual"
        elif gw == "-":
            origin = "connected"
        elif prefix in daemon:
            origin = "daemon"
        elif prefix in static:
            origin = "static"
        else:
            origin = "manual"        # written through the handlers by someone else
        rows.append({"prefix": prefix, "origin": origin,
                     "next_hops": [{"gateway": None if g == "-" else g,
                                    "interface": names.get(p, f"output {p}"),
                                    "neighbour": owner.get(g)} for g, p in hops]})
    return rows


def format_routes(rows: list[dict]) -> str:
    out = [f"{'prefix':<20}{'origin':<11}next hop"]
    for r in rows:
        hops = []
        for h in r["next_hops"]:
            via = f"via {h['gateway']} ({h['neighbour'] or '?'}) " if h["gateway"] else ""
            hops.append(f"{via}dev {h['interface']}")
        out.append(f"{r['prefix']:<20}{r['origin']:<11}{'; '.join(hops)}")
    return "\n".join(out)


def reapply_routes(st, ctl: NodeControl, nodes: list[str]) -> int:
    """Install again the recorded manual routes of nodes whose router
    restarted (a new process starts from its config and the daemon's routes);
    how many."""
    record = _load(st)
    count = 0
    for node in nodes:
        for prefix, r in sorted(record.get(node, {}).items()):
            try:
                ctl.write(node, "rt.set", f"{prefix} {r['gateway']} {r['port']}")
            except ControlError as e:
                raise TopologyError(f"{node}: manual route {prefix} via {r['via']} "
                                    f"refused after the restart: {e.message}") from None
            count += 1
    return count
