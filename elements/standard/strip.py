"""Strip: removes bytes from the front of packets by moving their start."""

from vforward.args import unsigned
from vforward.element import AGNOSTIC, Element, read_handler


class Strip(Element):
    """Strip(LENGTH) -- strip bytes from the front of packets

    Ports: 1 input, 1 output; agnostic.

    Deletes the first LENGTH bytes of each packet, for instance Strip(14)
    to remove an Ethernet header.  No byte moves: the packet's start moves
    forward in its slot, and the stripped bytes stay in the headroom where
    Unstrip can put them back.  A packet shorter than LENGTH becomes empty.

    Arguments:
      LENGTH (integer)   bytes to remove

    Handlers:
      length (read)   LENGTH
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.length = args.mandatory("LENGTH", unsigned)
        args.finish()

    def process(self, batch):
        if self.length:
            batch.pool._slots.strip(batch.idx, self.length)
        return batch

    def fused_push(self, port, resolve):
        from vforward.elements.ip.fusedinput import fused_input
        return fused_input(self, port, resolve)

    @read_handler("length")
    def read_length(self):
        return self.length
