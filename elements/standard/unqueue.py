"""Unqueue: pulls packets whenever available and pushes them on."""
from vforward.args import boolean, integer, unsigned
from vforward.element import PULL_TO_PUSH, Element, read_handler, write_handler


class Unqueue(Element):
    """Unqueue([BURST, KEYWORDS]) -- pull packets and push them out

    Ports: 1 pull input, 1 push output.

    Pulls up to BURST packets at a time from its input whenever packets are
    available and pushes them to its output.  It sleeps while the Queue
    upstream is empty and wakes when a packet arrives there.

    Arguments:
      BURST (integer, default 256)    most packets per pull
      ACTIVE (boolean, default true)  if false, pull nothing until set true
      LIMIT (integer, default -1)     stop after this many packets; -1 for no limit

    Handlers:
      count (read)            packets moved
      active (read/write)     whether it pulls
      burst (read/write)      the burst size
      reset (write)           set the count to zero
    """
    PORTS = "1/1"
    PROCESSING = PULL_TO_PUSH
    DEFAULT_BURST = 256   # `vforward click` sets Click's 1

    def configure(self, args):
        self.burst = args.positional("BURST", unsigned, default=self.DEFAULT_BURST)
        self.active = args.keyword("ACTIVE", boolean, default=True)
        self.limit = args.keyword("LIMIT", integer, default=-1)
        args.finish()
        self.count = 0

    def initialize(self):
        self._task = self.router.new_task(self._run, self)
        for q in self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener")):
            q.add_listener(self._task)
        if self.active:
            self._task.schedule()

    def _run(self):
        if not self.active:
            return False
        want = self.burst
        if self.limit >= 0:
            want = min(want, self.limit - self.count)
            if want <= 0:
                return False
        batch = self.pull_input(0, want)
        if batch is None:
            return False
        self.count += len(batch.idx)
        self.emit(0, batch)
        return True

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        self.active = boolean(value)
        if self.active:
            self._task.schedule()

    @read_handler("burst")
    def read_burst(self):
        return self.burst

    @write_handler("burst")
    def write_burst(self, value):
        self.burst = max(1, unsigned(value))

    @write_handler("reset")
    def write_reset(self, value):
        self.count = 0
        self._task.schedule()
