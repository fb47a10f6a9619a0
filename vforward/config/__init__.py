"""Click's configuration language: parse text, flatten it to primitives.

    flat = parse_config(text, "router.click", defines={"IF": "eth0"})
    for decl in flat.elements: ...      # ElementDecl(name, class_name, config, loc)
    for conn in flat.connections: ...   # Connection(from_name, from_port, to_name, to_port, loc)
"""
from __future__ import annotations

from .errors import ConfigError, Location, did_you_mean
from .flatten import Connection, ElementDecl, FlatConfig, flatten
from .parser import parse

__all__ = ["parse_config", "ConfigError", "Location", "ElementDecl", "Connection", "FlatConfig",
           "did_you_mean"]


def parse_config(text: str, filename: str = "<config>", defines: dict[str, str] | None = None) -> FlatConfig:
    """Parse Click configuration text into primitive elements and connections.

    defines override the file's define($X ...) values, like Click's
    command-line X=value.  Raises ConfigError, naming file:line:column.
    """
    return flatten(parse(text, filename), defines)
