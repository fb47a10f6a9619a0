"""The names of the elements a lab router builds for each interface.

`vforward topo` renders, for an interface whose element-name prefix is P
(see `vforward.topo.render.element_prefix`: eth1 -> eth1), elements named
P_rx, P_tx, P_egress, P_ingress and P_probe; the metrics exporter, `topo
stats`, `topo top` and the deploy record find them again by those names.
This module is the one place that spells them, so that renaming one here
renames it everywhere.
"""
from __future__ import annotations

RX = "rx"              # Counter: frames received from the interface's wire
TX = "tx"              # Counter: frames sent to the interface's wire
EGRESS = "egress"      # LinkEmulator: the link conditions toward the wire
INGRESS = "ingress"    # LinkEmulator: a host's egress, applied on the router's side
PROBE = "probe"        # LinkProbe: RTT, loss and bandwidth to the neighbouring router

CLASSES = {RX: "Counter", TX: "Counter", EGRESS: "LinkEmulator", INGRESS: "LinkEmulator",
           PROBE: "LinkProbe"}


def element_name(prefix: str, role: str) -> str:
    """'eth1', RX -> 'eth1_rx'."""
    return f"{prefix}_{role}"


def split_element_name(name: str) -> tuple[str, str] | None:
    """'eth1_rx' -> ('eth1', RX); None for a name that is no interface element."""
    prefix, sep, role = name.rpartition("_")
    return (prefix, role) if sep and prefix and role in CLASSES else None
