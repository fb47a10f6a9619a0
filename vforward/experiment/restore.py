"""What a restarted router gets back: the links taken down by hand, and
the manual routes and per-flow paths recorded beside the lab's state.  A router process starts from its
generated config and takes the daemon's routes from its node's kernel
table; what was set by hand lives only in the lab's records (state.json's
link states, manual-routes.json, flows.json), so the supervisor re-applies it after
every restart, before it reports the process running."""
from __future__ import annotations

from vforward.experiment.flows import reapply_flows
from vforward.experiment.manualroutes import reapply_routes
from vforward.topo.ops import NodeControl


def restore_nodes(st, nodes: list[str]) -> str:
    """Re-apply nodes' manual routes and flows; a short text of what was
    re-applied ("" when nothing was recorded for them)."""
    routers = [n for n in nodes if n in st.sockets]
    if st.mode != "user" or not routers:
        return ""
    ctl = NodeControl(st)
    try:
        links = _links_down_again(st, ctl, routers)
        routes = reapply_routes(st, ctl, routers)
        flows = reapply_flows(st, ctl, routers)
    finally:
        ctl.close()
    done = []
    if links:
        done.append(f"{links} link end{'s' if links != 1 else ''} down")
    if routes:
        done.append(f"{routes} manual route{'s' if routes != 1 else ''}")
    if flows:
        done.append(f"{flows} flow entr{'ies' if flows != 1 else 'y'}")
    return "re-applied " + " and ".join(done) if done else ""


def _links_down_again(st, ctl: NodeControl, nodes: list[str]) -> int:
    """A new process starts its links up: take down again, as set_link does,
    the ends it hosts of the links recorded down; how many ends."""
    count = 0
    for info in st.interfaces.values():
        if st.links[str(info["link"])]["state"] != "down" or not info.get("egress"):
            continue
        node, element = info["egress"]
        if node in nodes:
            ctl.write(node, f"{element}.up", "false")
            count += 1
        node, device = info["carrier"]
        if node in nodes:
            ctl.write(node, f"{device}.carrier", "false")
    return count
