"""Null: passes packets unchanged."""
from vforward.element import AGNOSTIC, Element


class Null(Element):
    """Null -- pass packets unchanged

    Ports: 1 input, 1 output; agnostic.

    Passes every packet through untouched.  Useful as a placeholder.  The
    graph skips it on push paths (it costs nothing there); to measure the
    cost of the graph machinery itself, use a Counter or a Paint.
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def passthrough(self, port):
        return 0
