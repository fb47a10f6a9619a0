"""Null: passes packets unchanged."""
from vforward.element import AGNOSTIC, Element


class Null(Element):
    """Null -- pass packets unchanged

    Ports: 1 input, 1 output; agnostic.

    Passes every packet through untouched.  Useful as a placeholder and to
    measure the cost of the graph machinery itself.
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC
