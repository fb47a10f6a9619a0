"""Packet schedulers on pull paths: RoundRobinSched, PrioSched, StrideSched."""
from vforward.args import ArgumentError, unsigned
from vforward.element import Element, PULL_ONLY

STRIDE1 = 1 << 30
MAX_TICKETS = 1 << 24


class RoundRobinSched(Element):
    """RoundRobinSched -- pull from the inputs in turn

    Ports: 1 or more inputs, 1 output; pull.

    Each pull on the output is passed to the inputs in round-robin order,
    starting after the input that last gave packets, until one gives some.
    A pull returns one input's batch (up to the number of packets asked
    for), so fairness is by batch, not by packet.
    """
    PORTS = "1-/1"
    PROCESSING = PULL_ONLY

    def configure(self, args):
        args.finish()
        self.next = 0

    def pull(self, port, max_n):
        n = self.n_inputs
        for k in range(n):
            i = (self.next + k) % n
            batch = self.pull_input(i, max_n)
            if batch is not None and len(batch.idx):
                self.next = (i + 1) % n
                return batch
        return None


class PrioSched(Element):
    """PrioSched -- pull from the first input that has packets

    Ports: 1 or more inputs, 1 output; pull.

    Each pull tries input 0 first, then input 1, and so on: a strict
    priority scheduler, input 0 the highest.
    """
    PORTS = "1-/1"
    PROCESSING = PULL_ONLY

    def pull(self, port, max_n):
        for i in range(self.n_inputs):
            batch = self.pull_input(i, max_n)
            if batch is not None and len(batch.idx):
                return batch
        return None


def _tickets(text: str) -> int:
    v = unsigned(text)
    if not 1 <= v <= MAX_TICKETS:
        raise ArgumentError(f"tickets must be between 1 and {MAX_TICKETS}, got {text!r}")
    return v


class StrideSched(Element):
    """StrideSched(TICKETS0, ..., TICKETSN-1) -- pull from the inputs in proportion

    Ports: N inputs, 1 output; pull.

    Stride scheduling (Waldspurger and Weihl): input i gets a share of the
    pulls proportional to TICKETSi.  Each pull goes to the input with the
    smallest pass value that has packets, whose pass then grows by its
    stride (2^30 / tickets); an input found empty waits for the next turn.

    Arguments:
      TICKETSi (integer 1-16777216)   the share of input i

    Handlers:
      tickets0 ... (read/write)   each input's tickets
    """
    PORTS = "1-/1"
    PROCESSING = PULL_ONLY

    def configure(self, args):
        self.tickets = [_tickets(t) for t in args.rest()]
        args.finish()
        if not self.tickets:
            raise ArgumentError(f"{args.where}: give one TICKETS number per input")
        self.passes = [STRIDE1 // t for t in self.tickets]

    def port_spec(self):
        n = len(self.tickets)
        return f"{n}/1"

    def pull(self, port, max_n):
        order = sorted(range(len(self.tickets)), key=lambda i: (self.passes[i], i))
        for i in order:
            batch = self.pull_input(i, max_n)
            self.passes[i] += STRIDE1 // self.tickets[i]
            if batch is not None and len(batch.idx):
                return batch
        return None

    def read(self, handler, arg=None):
        if handler.startswith("tickets") and handler[7:].isdigit():
            return str(self.tickets[int(handler[7:])])
        return super().read(handler, arg)

    def write(self, handler, value=""):
        if handler.startswith("tickets") and handler[7:].isdigit():
            self.tickets[int(handler[7:])] = _tickets(value.strip())
            return
        super().write(handler, value)

    def handlers(self):
        from vforward.element import Handler
        table = dict(super().handlers())
        for i in range(len(getattr(self, "tickets", []))):
            h = Handler(f"tickets{i}")
            h.read, h.write = (lambda s: None), (lambda s, v: None)
            table[h.name] = h
        return table
