"""DelayShaper: a pull element that returns packets only once DELAY has passed since their timestamp."""

from vforward.args import ArgumentError, seconds
from vforward.element import PULL_ONLY, HandlerError, read_handler, write_handler

from .delayline import DelayLine, DelayLineElement, WakeTimer, clock, released, stamped_due


class _Relay:
    """Stands in for a puller's task at the Queue upstream: the Queue's
    wake-up goes on to the elements pulling from the DelayShaper."""

    __slots__ = ("schedule",)

    def __init__(self, callback):
        self.schedule = callback


class DelayShaper(DelayLineElement):
    """DelayShaper(DELAY) -- shape traffic to meet delay requirements

    Ports: 1 pull input, 1 pull output.

    Pulls packets from its input and hands each to the element pulling from
    it no earlier than DELAY after its timestamp annotation (a packet
    without a timestamp is stamped when pulled).  On output the timestamp
    is set to the current time.  Packets keep their order.

    Differs from DelayUnqueue in that both its input and its output are
    pull.  It holds at most one pulled batch; while that batch's first
    packet is not due, a pull returns nothing, and a loop timer wakes the
    puller downstream (an Unqueue, a ToDevice) when it is.  It passes on the
    wake-ups of the Queue upstream, so pullers sleep while there is nothing
    to pull.  SetTimestamp can stamp packets before they are queued.

    Arguments:
      DELAY (time)   e.g. 50ms

    Handlers:
      delay (read/write)   DELAY; a new value applies to packets pulled after
      size (read)          packets pulled and waiting for their time
    """
    PORTS = "1/1"
    PROCESSING = PULL_ONLY

    def configure(self, args):
        self.delay = args.positional("DELAY", seconds)
        args.finish()
        self._line = DelayLine()
        self._timer = WakeTimer(self, self._wake_pullers)
        self._listeners = []

    def add_listener(self, task):
        """A puller's task, woken when a packet is due here."""
        self._listeners.append(task)

    def initialize(self):
        relay = _Relay(self._upstream_ready)
        for q in self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener")):
            q.add_listener(relay)

    def _upstream_ready(self):
        if not len(self._line):      # otherwise the timer wakes the pullers
            self._wake_pullers()

    def _wake_pullers(self):
        for task in self._listeners:
            task.schedule()

    def pull(self, port, max_n):
        line = self._line
        if not len(line):
            batch = self.pull_input(0, max_n)
            if batch is None:
                return None
            line.add(batch.idx, stamped_due(batch.pool, batch.idx, self.delay))
        idx = line.pop_due(clock(), max_n)
        if len(line):
            self._timer.arm(line.next_due())
        if not len(idx):
            return None
        return released(self.router.pool, idx)

    @read_handler("delay")
    def read_delay(self):
        return self.delay

    @write_handler("delay")
    def write_delay(self, value):
        try:
            self.delay = seconds(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
