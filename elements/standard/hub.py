"""Hub: copy every packet to every other port."""
from vforward.element import Element, PUSH_ONLY


class Hub(Element):
    """Hub() -- copy packets out of every port but the one they came in on

    Ports: any number of inputs, as many outputs; push.

    A packet arriving on input N leaves, copied, on every output except
    output N, as a hub repeats a frame on every other port.  The last
    output gets the packet itself; the others get copies.
    """
    PORTS = "-/="
    PROCESSING = PUSH_ONLY

    def push(self, port, batch):
        outs = [p for p in range(self.n_outputs) if p != port]
        if not outs:
            batch.kill()
            return
        for p in outs[:-1]:
            self.emit(p, batch.pool.clone(batch.idx))
        self.emit(outs[-1], batch)
