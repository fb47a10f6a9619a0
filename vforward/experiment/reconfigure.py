"""Hot-swapping a lab router's configuration (`topo reconfigure`, the
scenario event `reconfigure:`): the file is checked here first, so that its
errors name it, then swapped in through the router's hotconfig handler."""
from __future__ import annotations

from vforward.control import ControlError
from vforward.topo.model import TopologyError
from vforward.topo.ops import NodeControl, lab_state


def reconfigure(lab_ref: str, node: str, path: str) -> str:
    from vforward.catalogue import load_builtin
    from vforward.graph import build_graph
    st = lab_state(lab_ref)
    if node not in st.sockets:
        raise TopologyError(f"lab {st.name} has no router '{node}' "
                            f"(routers: {', '.join(st.sockets)})")
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise TopologyError(f"cannot read {path}: {e.strerror}") from None
    load_builtin()
    build_graph(text, path)         # ConfigError / GraphError name path:line
    ctl = NodeControl(st)
    try:
        ctl.write(node, "hotconfig", text)
    except ControlError as e:
        raise TopologyError(f"{node} refused {path}: {e.message}") from None
    finally:
        ctl.close()
    return f"{node} runs {path}"
