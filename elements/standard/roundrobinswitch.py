"""RoundRobinSwitch: deal packets out to the outputs in turn."""
import numpy as np

from vforward.element import Element, PUSH_ONLY


class RoundRobinSwitch(Element):
    """RoundRobinSwitch -- send packets to the outputs in turn

    Ports: 1 input, 1 or more outputs; push.

    The first packet goes to output 0, the next to output 1, and so on,
    starting over after the last output; the turn carries over from one
    batch to the next.
    """
    PORTS = "1/1-"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.next = 0

    def push(self, port, batch):
        n = self.n_outputs
        k = len(batch.idx)
        ports = (np.arange(k, dtype=np.int64) + self.next) % n
        self.next = (self.next + k) % n
        for p, part in enumerate(batch.partition(ports, n)):
            self.emit(p, part)
