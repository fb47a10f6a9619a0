"""InfiniteSource: generates copies of one packet as fast as it is allowed."""
import numpy as np

from vforward.args import boolean, integer, string, unsigned
from vforward.element import AGNOSTIC, Element, read_handler, write_handler
from vforward.notifier import FullSignal

DEFAULT_DATA = b"Random bullshit in a packet, at least 64 bytes long. Well, now it is."


class InfiniteSource(Element):
    """InfiniteSource([DATA, LIMIT, BURST, ACTIVE, KEYWORDS]) -- generate packets

    Ports: no inputs, 1 output; agnostic.

    Pushes copies of DATA, BURST packets at a time, each time the router's
    task loop runs it, until LIMIT packets have been sent (-1: forever).
    With STOP true the router stops once the limit is reached and the
    packets already sent have drained through the graph.  It pauses while
    every queue it pushes into is full (Click's full notifier).  On a pull
    output it makes up to BURST packets per pull instead.  Used for
    tests, demos and benchmarks.

    Arguments:
      DATA (string, default 64 bytes of text)   packet contents
      LIMIT (integer, default -1)               packets to send in all; -1 for no limit
      BURST (integer, default 32)               packets per round
      ACTIVE (boolean, default true)            whether to send
      LENGTH (integer)                          packet length; DATA is padded with zeros or cut
      STOP (boolean, default false)             stop the router when LIMIT is reached

    Handlers:
      count (read)          packets sent
      scheduled (read)      whether its task is waiting to run (false while paused)
      active (read/write)   whether it sends
      limit (read/write)    the limit
      burst (read/write)    the burst
      data (read/write)     the packet contents
      reset (write)         set the count to zero and start again
    """
    PORTS = "0/1"
    PROCESSING = AGNOSTIC
    DEFAULT_BURST = 32   # `vforward click` sets Click's 1

    def configure(self, args):
        data = args.positional("DATA", string, default=None)
        self.limit = args.positional("LIMIT", integer, default=-1)
        self.burst = args.positional("BURST", unsigned, default=self.DEFAULT_BURST)
        self.active = args.positional("ACTIVE", boolean, default=True)
        length = args.keyword("LENGTH", unsigned, default=None)
        self.stop = args.keyword("STOP", boolean, default=False)
        args.finish()
        payload = DEFAULT_DATA if data is None else data.encode("latin-1")
        if length is not None:
            payload = payload[:length].ljust(length, b"\0")
        self._set_data(payload)
        self.count = 0

    def _set_data(self, payload: bytes):
        self._data = np.frombuffer(payload, dtype=np.uint8).copy()

    def initialize(self):
        self._task = self.router.new_task(self._run, self)
        self._pulled = self.output_processing[:1] == ["l"]
        self._room = None if self._pulled else FullSignal(self.router, self, 0, self._task)
        if self.active and not self._pulled:
            self._task.schedule()

    def _make(self, n):
        """Up to n packets (None at the limit or while inactive; an empty batch
        when the pool has no free slot)."""
        if not self.active:
            return None
        if self.limit >= 0:
            n = min(n, self.limit - self.count)
            if n <= 0:
                if self.stop:
                    self.router.stop(drain=True)
                return None
        pool = self.router.pool
        n = min(n, pool.n_free)
        batch = pool.alloc(n, len(self._data))
        if n:
            pool._slots.fill(batch.idx, self._data)
            self.count += n
        return batch

    def _run(self):
        if self._pulled or not self._room.active():
            return False
        batch = self._make(self.burst)
        if batch is None:
            return False
        if len(batch.idx):
            self.emit(0, batch)
        return True   # an empty batch: everything is in flight; try again next round

    def pull(self, port, max_n):
        batch = self._make(min(max_n, self.burst))
        return batch if batch is not None and len(batch.idx) else None

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        self.active = boolean(value)
        if self.active and self.router and not self._pulled:
            self._task.schedule()

    @read_handler("scheduled")
    def read_scheduled(self):
        task = getattr(self, "_task", None)
        return bool(task and task.scheduled)

    @read_handler("limit")
    def read_limit(self):
        return self.limit

    @write_handler("limit")
    def write_limit(self, value):
        self.limit = integer(value)
        if self.router:
            self._task.schedule()

    @read_handler("burst")
    def read_burst(self):
        return self.burst

    @write_handler("burst")
    def write_burst(self, value):
        self.burst = max(1, unsigned(value))

    @read_handler("data")
    def read_data(self):
        return self._data.tobytes().decode("latin-1")

    @write_handler("data")
    def write_data(self, value):
        self._set_data(string(value).encode("latin-1"))

    @write_handler("reset")
    def write_reset(self, value):
        self.count = 0
        if self.router:
            self._task.schedule()
