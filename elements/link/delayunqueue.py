"""DelayUnqueue: pulls packets and pushes each out once DELAY has passed since its timestamp."""

import numpy as np

from vforward.args import ArgumentError, seconds, unsigned
from vforward.element import PULL_TO_PUSH, HandlerError, read_handler, write_handler

from .delayline import DelayLine, DelayLineUnqueue, WakeTimer, clock, released, stamped_due

# Pulls per task run when every packet pulled is already due: the bound
# keeps one run from holding the loop while a long backlog drains.
MAX_PULLS = 16


class DelayUnqueue(DelayLineUnqueue):
    """DelayUnqueue(DELAY [, KEYWORDS]) -- delay-inducing pull-to-push converter

    Ports: 1 pull input, 1 push output.

    Pulls packets from its input and pushes each out no earlier than DELAY
    after its timestamp annotation (a packet without a timestamp is stamped
    when pulled).  On output the timestamp is set to the current time.
    Packets keep their order: a packet waits for the one ahead of it
    (head-of-line, as in Click).

    It holds at most one pulled batch (BURST packets) at a time and pulls
    again once that has left, so the packets still waiting for their time
    stay in the Queue upstream, which must be deep enough for DELAY at the
    arrival rate.  All the packets whose time has come leave in one batch.
    It wakes on a loop timer set for the next due packet, and sleeps while
    the Queue upstream is empty.  Put a SetTimestamp in front of the Queue
    to delay packets from the moment they were queued; packets stamped only
    when pulled wait their whole DELAY after leaving the Queue, so a backlog
    of them moves at most BURST packets per DELAY.

    Arguments:
      DELAY (time)   e.g. 50ms

    Keyword arguments:
      BURST (integer, default 256)   most packets pulled at a time

    Handlers:
      delay (read/write)   DELAY; a new value applies to packets pulled after
      count (read)         packets sent
      size (read)          packets pulled and waiting for their time
    """
    PORTS = "1/1"
    PROCESSING = PULL_TO_PUSH

    def configure(self, args):
        self.delay = args.positional("DELAY", seconds)
        self.burst = args.keyword("BURST", unsigned, default=256)
        args.finish()
        if self.burst < 1:
            raise ArgumentError(f"{args.where}: argument BURST: must be at least 1")
        self.count = 0
        self._line = DelayLine()
        self._timer = WakeTimer(self, self._wake)
        self._task = None

    def _run(self):
        now = clock()
        line, out, pulls = self._line, [], 0
        more = False
        while True:
            if not len(line):
                if pulls == MAX_PULLS:
                    more = True
                    break
                batch = self.pull_input(0, self.burst)
                if batch is None:
                    break
                pulls += 1
                line.add(batch.idx, stamped_due(batch.pool, batch.idx, self.delay))
            due = line.pop_due(now)
            if len(due):
                out.append(due)
            if len(line):
                self._timer.arm(line.next_due())
                break
        if out:
            idx = out[0] if len(out) == 1 else np.concatenate(out)
            self.count += len(idx)
            self.emit(0, released(self.router.pool, idx))
        return more

    @read_handler("delay")
    def read_delay(self):
        return self.delay

    @write_handler("delay")
    def write_delay(self, value):
        try:
            self.delay = seconds(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
