"""Per-flow paths: pin the packets matching a pattern to a chain of routers.

Every router of the path but the last gets the flow in its FlowRoutes
element ('flows' in a generated config) with the next router of the path as
its next hop; the last router delivers by its FIB.  Flows are recorded beside
the lab's state so that they can be listed and removed by name.
"""
from __future__ import annotations

import json
import os

from vforward.control import NO_SUCH_ELEMENT, NO_SUCH_HANDLER, ControlError
from vforward.elements.ip.ipfilter_language import PatternError, parse_pattern
from vforward.experiment.neighbours import check_chain
from vforward.topo.model import TopologyError
from vforward.topo.ops import NodeControl, lab_state

RECORD = "flows.json"


def _path(st) -> str:
    return os.path.join(st.directory, RECORD)


def _load(st) -> dict:
    try:
        with open(_path(st)) as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def _save(st, record: dict) -> None:
    tmp = _path(st) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(tmp, _path(st))


def _write(ctl: NodeControl, node: str, handler: str, value: str) -> None:
    try:
        ctl.write(node, f"flows.{handler}", value)
    except ControlError as e:
        if e.code in (NO_SUCH_ELEMENT, NO_SUCH_HANDLER):
            raise TopologyError(f"router {node} has no FlowRoutes element named 'flows' "
                                "(a hand-written config must add one in front of its "
                                "route table for per-flow paths)") from None
        raise TopologyError(f"{node}: {e.message}") from None


def add_flow(lab_ref: str, name: str, match: str, path: list[str]) -> list[str]:
    """Pin a flow to a path; returns one line per router changed."""
    st = lab_state(lab_ref)
    if st.mode != "user":
        raise TopologyError(f"lab {st.name} runs in {st.mode} mode; per-flow paths need "
                            "vforward routers (deploy in user mode)")
    if not name or any(c.isspace() for c in name):
        raise TopologyError(f"a flow name is one word, not '{name}'")
    try:
        parse_pattern(match)
    except PatternError as e:
        raise TopologyError(f"--match: {e}") from None
    from vforward.topo.deploy import prepare
    lab = prepare(st.topology, st.name)
    hops = check_chain(lab, path)
    record = _load(st)
    if name in record:
        raise TopologyError(f"flow '{name}' exists (path {','.join(record[name]['path'])}); "
                            f"delete it first with 'flow {st.name} del {name}'")
    ctl = NodeControl(st)
    done, lines = [], []
    try:
        for node, hop in zip(path, hops):
            try:
                _write(ctl, node, "add", f"{name} {hop.gateway} {hop.port} {match}")
            except TopologyError:
                for n in done:                  # all or nothing
                    try:
                        ctl.write(n, "flows.remove", name)
                    except ControlError:
                        pass
                raise
            done.append(node)
            lines.append(f"{node}: {name} -> {hop.neighbour} via {hop.gateway} dev {hop.interface}")
    finally:
        ctl.close()
    record[name] = {"match": match, "path": list(path)}
    _save(st, record)
    return lines


def del_flow(lab_ref: str, name: str) -> list[str]:
    st = lab_state(lab_ref)
    record = _load(st)
    if name not in record:
        raise TopologyError(f"lab {st.name} has no flow '{name}' "
                            f"(flows: {', '.join(record) or 'none'})")
    ctl = NodeControl(st)
    changed = []
    try:
        for node in record[name]["path"][:-1]:
            try:
                ctl.write(node, "flows.remove", name)
                changed.append(node)
            except (ControlError, TopologyError, OSError):
                pass            # a restarted router no longer has it
    finally:
        ctl.close()
    del record[name]
    _save(st, record)
    return changed


def list_flows(lab_ref: str) -> list[dict]:
    """Each flow: name, pattern, path and the packets each router pinned."""
    st = lab_state(lab_ref)
    record = _load(st)
    ctl = NodeControl(st)
    out = []
    try:
        for name, f in record.items():
            packets = {}
            for node in f["path"][:-1]:
                try:
                    for line in ctl.read(node, "flows.flows").splitlines():
                        w = line.split("\t")
                        if w[0] == name:
                            packets[node] = int(w[3])
                except (ControlError, TopologyError, OSError):
                    packets[node] = None
            out.append({"name": name, "match": f["match"], "path": f["path"],
                        "packets": packets})
    finally:
        ctl.close()
    return out


def reapply_flows(st, ctl: NodeControl, nodes: list[str]) -> int:
    """Pin again, on nodes whose router restarted, the recorded flows whose
    path goes through them; how many flow entries were written."""
    record = _load(st)
    mine = {name: f for name, f in sorted(record.items())
            if any(n in nodes for n in f["path"][:-1])}
    if not mine:
        return 0
    from vforward.topo.deploy import prepare
    lab = prepare(st.topology, st.name)
    count = 0
    for name, f in mine.items():
        for node, hop in zip(f["path"], check_chain(lab, f["path"])):
            if node in nodes:
                _write(ctl, node, "add", f"{name} {hop.gateway} {hop.port} {f['match']}")
                count += 1
    return count
