"""Idle: a placeholder that never sends and drops what it is given."""
from vforward.element import AGNOSTIC, Element, read_handler


class Idle(Element):
    """Idle -- discard packets; never push or pull

    Ports: any number of inputs, any number of outputs; agnostic.

    Never pushes a packet to any output and never pulls from any input.
    Packets pushed into it are dropped (and counted); pulls from it return
    nothing.  Use it to fill ports that must be connected but carry no
    traffic, as in `Idle -> [1]rt` or `src[1] -> Idle`.

    Like Click's Idle it tells pullers downstream that it is dormant: in
    `Idle -> Unqueue -> Discard` the Unqueue sleeps after its first empty
    pull instead of polling forever.

    Handlers:
      count (read)   packets pushed into Idle and dropped
    """
    PORTS = "-/-"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        args.finish()
        self.count = 0

    def push(self, port, batch):
        self.count += len(batch.idx)
        batch.kill()

    def pull(self, port, max_n):
        return None

    def add_listener(self, task):
        """Pullers register here to be woken when packets arrive: that never happens."""

    @read_handler("count")
    def read_count(self):
        return self.count
