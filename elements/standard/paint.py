"""Paint: sets a one-byte annotation (by default the paint) to a colour."""
import numpy as np

from vforward.args import ArgumentError, unsigned, word
from vforward.element import AGNOSTIC, Element, HandlerError, read_handler, write_handler
from vforward.packet import ANNOTATIONS, OFFLOAD_ANNOTATIONS

# Click's names for one-byte annotations, and our column names for them.
_CLICK_ANNO_NAMES = {"PAINT": "paint", "PAINT_ANNO": "paint",
                     "PACKET_TYPE": "ptype", "PACKET_TYPE_ANNO": "ptype"}
_ONE_BYTE = sorted(n for n, t in ANNOTATIONS.items()
                   if np.dtype(t).itemsize == 1 and n not in OFFLOAD_ANNOTATIONS)


def one_byte_annotation(text: str) -> str:
    """The pool column of a one-byte annotation: PAINT, PACKET_TYPE or a column name."""
    name = word(text)
    column = _CLICK_ANNO_NAMES.get(name.upper(), name.lower())
    if column not in _ONE_BYTE:
        raise ArgumentError(f"expected a one-byte annotation (PAINT, PACKET_TYPE or one of "
                            f"{', '.join(_ONE_BYTE)}), got {text!r}")
    return column


def color(text: str) -> int:
    v = unsigned(text)
    if v > 255:
        raise ArgumentError(f"expected a colour from 0 to 255, got {text!r}")
    return v


class Paint(Element):
    """Paint(COLOR [, ANNO]) -- set packets' paint annotation

    Ports: 1 input, 1 output; agnostic.

    Sets each packet's paint annotation to COLOR, an integer from 0 to 255,
    and passes it on.  ANNO names another one-byte annotation to set instead:
    PAINT (the default) or PACKET_TYPE, given as a keyword
    (`ANNO PACKET_TYPE`: a bare upper-case word reads as a keyword) or by
    its column name (`ptype`).  CheckPaint and PaintTee-style
    elements read the colour later, for instance to recognise the interface
    a packet came in on.

    Arguments:
      COLOR (integer 0-255)        the colour
      ANNO (annotation, PAINT)     the one-byte annotation to set

    Handlers:
      color (read/write)   the colour
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.color = args.positional("COLOR", color)
        self.anno = args.positional("ANNO", one_byte_annotation, default="paint")
        args.finish()

    def process(self, batch):
        idx = batch.idx
        if len(idx) == 1:       # one packet: a scalar store costs a fraction of a fancy one
            getattr(batch.pool, self.anno)[idx.item(0)] = self.color
        else:
            getattr(batch.pool, self.anno)[idx] = self.color
        return batch

    @read_handler("color")
    def read_color(self):
        return self.color

    @write_handler("color")
    def write_color(self, value):
        try:
            self.color = color(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        self.passthrough_changed()      # a fused input path holds the colour (fusedinput.py)

    def fused_push(self, port, resolve):
        from vforward.elements.ip.fusedinput import fused_input
        return fused_input(self, port, resolve)
