"""TimedSink: pull one packet a tick and drop it."""
from __future__ import annotations

from vforward.args import seconds
from vforward.element import Element, PULL_ONLY, read_handler


class TimedSink(Element):
    """TimedSink([INTERVAL]) -- pull and drop a packet every INTERVAL

    Ports: 1 input, no outputs; pull.

    Every INTERVAL seconds pulls one packet from its input and frees it,
    as a slow consumer for tests of queues and schedulers.

    Arguments:
      INTERVAL (time, default 0.5s)   time between pulls

    Handlers:
      count (read)   packets pulled
    """
    PORTS = "1/0"
    PROCESSING = PULL_ONLY

    def configure(self, args):
        self.interval = args.positional("INTERVAL", seconds, default=0.5)
        args.finish()
        self.count = 0
        self._timer = None

    def initialize(self):
        self._timer = self.router.call_later(self.interval, self._tick)

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self):
        batch = self.pull_input(0, 1)
        if batch is not None:
            self.count += len(batch.idx)
            batch.kill()
        self._timer = self.router.call_later(self.interval, self._tick)

    @read_handler("count")
    def read_count(self):
        return self.count
