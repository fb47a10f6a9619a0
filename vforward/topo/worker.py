"""A lab worker: one process that runs several nodes' routers on one loop.

Started by `deploy` as `vforward topo worker LABDIR NODE...`.  It builds each
node's graph from LABDIR/configs/NODE.click, opens LABDIR/sock/NODE.sock as
the node's control socket, and writes LABDIR/ready/PID once every router has
started (or LABDIR/ready/PID.error with the reason, and exits 1).
"""
from __future__ import annotations

import os
import sys

POOL_SLOTS = 2048


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def run_worker(lab_dir: str, nodes: list[str], pool_slots: int = POOL_SLOTS) -> int:
    from vforward.catalogue import load_builtin
    from vforward.control import ControlServer
    from vforward.graph import build_graph
    from vforward.packet import PacketPool
    from vforward.runtime import RouterGroup

    ready = os.path.join(lab_dir, "ready")
    os.makedirs(ready, exist_ok=True)
    me = os.path.join(ready, str(os.getpid()))
    try:
        load_builtin()
        group = RouterGroup()
        for node in nodes:
            cfg = os.path.join(lab_dir, "configs", f"{node}.click")
            with open(cfg) as f:
                graph = build_graph(f.read(), cfg)
            router = group.add(node, graph, PacketPool(pool_slots))
            sock = os.path.join(lab_dir, "sock", f"{node}.sock")
            server = ControlServer(router, path=sock)
            server.bind()
            router.listeners.append(server)
        group.initialize()
    except Exception as e:   # report why, for deploy to show the user
        _write(me + ".error", f"{type(e).__name__}: {e}\n")
        print(f"vforward worker: {e}", file=sys.stderr)
        return 1
    return group.run(on_started=lambda: _write(me, " ".join(nodes) + "\n"))
