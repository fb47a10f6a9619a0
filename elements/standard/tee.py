"""Tee and PullTee: copy every packet to several outputs."""
from vforward.args import ArgumentError, unsigned
from vforward.element import PUSH_ONLY, Element, read_handler
from vforward.packet import Batch


def _copies(batch: Batch, n: int) -> tuple[list[Batch], int]:
    """n copies of batch (new slots, same bytes and annotations), and how many
    packet copies were left out because the pool ran short (Click's failed clone)."""
    pool = batch.pool
    out, missing = [], 0
    for _ in range(n):
        k = min(len(batch.idx), pool.n_free)
        missing += len(batch.idx) - k
        out.append(pool.clone(batch.idx[:k]))
    return out, missing


class Tee(Element):
    """Tee([N]) -- duplicate packets

    Ports: 1 input, 1 or more outputs; push.

    Sends every incoming packet out each output: the original packet to
    output 0 and a copy (new slot, same bytes and annotations) to each other
    output, in output order.  Copies are made before anything is sent, so
    what one branch does to its packets never shows in another's.

    Tee has as many outputs as the configuration connects.  With N, the
    configuration must connect exactly N outputs, which catches a
    forgotten branch.

    When the packet pool has too few free slots for every copy, the copies
    that do not fit are not made (Click's failed clone) and counted.

    Arguments:
      N (integer)   number of outputs expected

    Handlers:
      drops (read)   packet copies not made because the pool was full
    """
    PORTS = "1/1-"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.n = args.positional("N", unsigned, default=None)
        args.finish()
        if self.n == 0:
            raise ArgumentError(f"{args.where}: argument N: a Tee needs at least one output")
        self.drops = 0

    def port_spec(self):
        return f"1/{self.n}" if self.n else self.PORTS

    def push(self, port, batch):
        copies, missing = _copies(batch, self.n_outputs - 1)
        self.drops += missing
        self.emit(0, batch)
        for i, copy in enumerate(copies, 1):
            self.emit(i, copy)

    @read_handler("drops")
    def read_drops(self):
        return self.drops


class PullTee(Tee):
    """PullTee([N]) -- duplicate packets pulled through it

    Ports: 1 pull input; pull output 0, push outputs 1 and up.

    Each time output 0 pulls packets, PullTee pulls them from its input,
    pushes a copy of each out every other output, then returns the
    originals to the puller.  With N, the configuration must connect
    exactly N outputs.

    Arguments:
      N (integer)   number of outputs expected

    Handlers:
      drops (read)   packet copies not made because the pool was full
    """
    PORTS = "1/1-"
    PROCESSING = "l/lh"

    def pull(self, port, max_n):
        batch = self.pull_input(0, max_n)
        if batch is None or not len(batch.idx):
            return None
        copies, missing = _copies(batch, self.n_outputs - 1)
        self.drops += missing
        for i, copy in enumerate(copies, 1):
            self.emit(i, copy)
        return batch
