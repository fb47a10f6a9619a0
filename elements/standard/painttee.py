"""PaintTee: copy packets of one paint to a second output."""
from __future__ import annotations

from vforward.element import AGNOSTIC, Element

from .paint import color, one_byte_annotation


class PaintTee(Element):
    """PaintTee(COLOR [, ANNO]) -- copy packets of one colour to output 1

    Ports: 1 input, 2 outputs; agnostic input and output 0, push output 1.

    Passes every packet to output 0; a packet whose paint annotation (or
    ANNO) equals COLOR is also copied to output 1 -- Click's way to send a
    router's ICMP redirects for packets that leave where they came in.

    Arguments:
      COLOR (integer 0-255)              the colour to copy
      ANNO (annotation, default PAINT)   the one-byte annotation to compare
    """
    PORTS = "1/2"
    PROCESSING = "a/ah"

    def configure(self, args):
        self.color = args.mandatory("COLOR", color)
        self.anno = args.positional("ANNO", one_byte_annotation, default="paint")
        args.finish()

    def process(self, batch):
        hit = getattr(batch.pool, self.anno)[batch.idx] == self.color
        if hit.any():
            self.emit(1, batch.pool.clone(batch.idx[hit]))
        return batch
