"""`vforward check LAB.yaml`: a lab's topology file checked as a router's config is.

The file is read as `vforward topo deploy` reads it (its mistakes are named
with the file and line and the fix), then every router's config is rendered
and built, so what `check` says of a lab is what deploy would meet, without
making a namespace.  The routers' devices are the TAPs the lab makes, so
the configs are checked offline, as `vforward check --no-devices` does.
"""
from __future__ import annotations


def is_lab_file(path: str) -> bool:
    return path.endswith((".yaml", ".yml"))


def check_lab(path: str) -> dict:
    """Router name -> its built graph; raises TopologyError, ConfigError or GraphError."""
    from vforward.catalogue import load_builtin
    from vforward.graph import GraphError, build_graph
    from vforward.config import ConfigError
    from vforward.host_device_addresses import static_check
    from vforward.topo.deploy import assign_underlay, prepare
    from vforward.topo.render import configs
    load_builtin()
    lab = prepare(path)
    assign_underlay(lab)
    graphs = {}
    for name, text in configs(lab).items():
        try:
            with static_check(offline=True):
                graphs[name] = build_graph(text, f"{path}: router {name}'s config")
        except (ConfigError, GraphError) as e:
            raise type(e)(f"{e} (`vforward topo configs {path} -o DIR` writes it out)") from None
    return graphs
