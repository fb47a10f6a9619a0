"""Discard: drops every packet it receives."""
from vforward.element import AGNOSTIC, Element, read_handler, write_handler


class Discard(Element):
    """Discard -- drop all packets

    Ports: 1 input, no outputs; agnostic (pulls when its input is pull).

    Frees every packet it receives.  On a pull input it pulls whenever
    packets are available, as Click's Discard does.

    Keyword arguments:
      BURST (integer, default 256; 1 under `vforward click`)   most packets to pull at a time

    Handlers:
      count (read)    packets dropped
      reset (write)   set the count to zero
    """
    PORTS = "1/0"
    PROCESSING = AGNOSTIC
    DEFAULT_BURST = 256   # `vforward click` sets Click's 1

    def configure(self, args):
        from vforward.args import unsigned
        self.burst = args.keyword("BURST", unsigned, default=self.DEFAULT_BURST)
        args.finish()
        self.count = 0
        self._task = None

    def initialize(self):
        if self.input_processing[0] == "l":
            self._task = self.router.new_task(self._run, self)
            for q in self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener")):
                q.add_listener(self._task)
            self._task.schedule()

    def _run(self):
        batch = self.pull_input(0, self.burst)
        if batch is None:
            return False
        self.push(0, batch)
        return True

    def push(self, port, batch):
        self.count += len(batch.idx)
        batch.kill()

    @read_handler("count")
    def read_count(self):
        return self.count

    @write_handler("reset")
    def write_reset(self, value):
        self.count = 0
