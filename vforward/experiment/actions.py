"""What each scenario event does to the lab.  An action returns a short
result text, or raises with the reason it failed; the run records either and
goes on."""
from __future__ import annotations

import subprocess


def _link(ctx, a):
    from vforward.topo.ops import set_link
    ends = set_link(ctx.st.name, a["endpoint"], a["state"])
    return f"{' -- '.join(ends)} {a['state']}"


def _impair(ctx, a):
    from vforward.topo.ops import impair
    values = {k: (str(v) if v is not None else None) for k, v in a.items()
              if k not in ("endpoint", "reset")}
    now = impair(ctx.st.name, a["endpoint"], reset=bool(a.get("reset")), **values)
    return ", ".join(f"{k} {v}" for k, v in now.items())


def _route(ctx, a):
    from vforward.experiment.manualroutes import add_route, del_route
    node = str(a["node"])
    if "add" in a:
        return add_route(ctx.st.name, node, str(a["add"]), str(a["via"]))
    return "removed " + del_route(ctx.st.name, node, str(a["del"]))


def _flow(ctx, a):
    from vforward.experiment.flows import add_flow, del_flow
    if "add" in a:
        return "; ".join(add_flow(ctx.st.name, str(a["add"]), str(a["match"]), a["path"]))
    return "removed at " + ",".join(del_flow(ctx.st.name, str(a["del"])))


def _node(ctx, a):
    # The whole process of the node restarts; the result names what restarted with it.
    from vforward.topo.ops import restart_node
    return f"{a['name']} restarted: {restart_node(ctx.st.name, str(a['name']))}"


def _exec(ctx, a):
    ns = ctx.st.namespaces[str(a["node"])]
    cmd = ["ip", "netns", "exec", ns, "sh", "-c", str(a["command"])]
    if not a.get("wait"):
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
        ctx.background.append(p)
        return f"started (pid {p.pid})"
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.get("timeout", 30))
    last = (p.stdout.strip().splitlines() or [""])[-1]
    if p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {(p.stderr or p.stdout).strip()[-200:]}")
    return f"exit 0: {last[:120]}"


def _reconfigure(ctx, a):
    from vforward.experiment.reconfigure import reconfigure
    return reconfigure(ctx.st.name, str(a["node"]), str(a["config"]))


ACTIONS = {"link": _link, "impair": _impair, "route": _route, "flow": _flow, "node": _node,
           "exec": _exec, "reconfigure": _reconfigure}


def perform(ctx, event) -> str:
    return ACTIONS[event.kind](ctx, event.args)
