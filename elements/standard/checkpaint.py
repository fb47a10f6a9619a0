"""CheckPaint: passes packets of one colour, diverts or drops the others."""
from vforward.element import Element, read_handler
from vforward.elements.standard.paint import color, one_byte_annotation


class CheckPaint(Element):
    """CheckPaint(COLOR [, ANNO]) -- check packets' paint annotation

    Ports: 1 input, 1 or 2 outputs; agnostic, but output 1 is push.

    Packets whose paint annotation equals COLOR leave on output 0.  The
    others leave on output 1 when it is connected, and are dropped when it
    is not, as in Click.  ANNO names another one-byte annotation to check:
    PAINT (the default) or PACKET_TYPE, given as a keyword
    (`ANNO PACKET_TYPE`: a bare upper-case word reads as a keyword) or by
    its column name (`ptype`).

    Arguments:
      COLOR (integer 0-255)        the colour that passes
      ANNO (annotation, PAINT)     the one-byte annotation to check

    Handlers:
      color (read)    the colour that passes
      drops (read)    packets of another colour dropped (output 1 unconnected)
    """
    PORTS = "1/1-2"
    PROCESSING = "a/ah"

    def configure(self, args):
        self.color = args.positional("COLOR", color)
        self.anno = args.positional("ANNO", one_byte_annotation, default="paint")
        args.finish()
        self.drops = 0

    def process(self, batch):
        good, other = batch.split(getattr(batch.pool, self.anno)[batch.idx] == self.color)
        if len(other.idx):
            if self.n_outputs > 1:
                self.emit(1, other)
            else:
                self.drops += len(other.idx)
                other.kill()
        return good

    @read_handler("color")
    def read_color(self):
        return self.color

    @read_handler("drops")
    def read_drops(self):
        return self.drops
