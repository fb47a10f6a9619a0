"""Truncate: cut packets to at most a given length."""
import numpy as np

from vforward.args import boolean, unsigned
from vforward.element import AGNOSTIC, Element, read_handler, write_handler


class Truncate(Element):
    """Truncate(LENGTH [, KEYWORDS]) -- limit packet length

    Ports: 1 input, 1 output; agnostic.

    Shortens every packet longer than LENGTH bytes to its first LENGTH
    bytes; shorter packets pass unchanged.  The bytes cut stay in the slot
    (nothing moves), so a later Pad with no LENGTH can grow a truncated
    IP packet back to the length its IP header states.

    Arguments:
      LENGTH (integer)                      the most bytes a packet keeps
      EXTRA_LENGTH (boolean, default true)  accepted for Click's sake: vforward's
                                            packets carry no extra-length annotation

    Handlers:
      length (read/write)   LENGTH
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.length = args.positional("LENGTH", unsigned)
        args.keyword("EXTRA_LENGTH", boolean, default=True)
        args.finish()

    def process(self, batch):
        if len(batch.idx):
            lengths = batch.pool.length
            lengths[batch.idx] = np.minimum(lengths[batch.idx], self.length)
        return batch

    @read_handler("length")
    def read_length(self):
        return self.length

    @write_handler("length")
    def write_length(self, value):
        self.length = unsigned(value.strip())
