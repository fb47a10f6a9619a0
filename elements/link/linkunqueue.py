"""LinkUnqueue: pulls packets and delays them as a serial link of given latency and bandwidth would."""
from vforward.args import ArgumentError, bandwidth, seconds
from vforward.element import PULL_TO_PUSH, HandlerError, read_handler, write_handler
from vforward.packet import Batch

from .delayline import DelayLine, DelayLineUnqueue, WakeTimer, clock, finish_times

# The link takes a packet once it would be free within LOOKAHEAD: a timer
# that fires a little late then finds the next packet already on the wire
# instead of leaving the link idle.
LOOKAHEAD = 0.002
MAX_PULL = 256
MAX_PULLS = 16      # pulls per task run, so a fast link cannot hold the loop


def _positive_bandwidth(text: str) -> float:
    rate = bandwidth(text)
    if rate <= 0:
        raise ArgumentError(f"expected a bandwidth above zero such as 384kbps, got {text!r}")
    return rate


class LinkUnqueue(DelayLineUnqueue):
    """LinkUnqueue(LATENCY, BANDWIDTH) -- link emulator

    Ports: 1 pull input, 1 push output.

    Pulls packets from its input and delays them as a serial link with
    latency LATENCY and bandwidth BANDWIDTH would: a packet's last byte
    arrives once every packet ahead of it and then its own bytes have been
    sent at BANDWIDTH, plus LATENCY.  Packets are pushed out, in order, when
    their time comes; all those due at once leave in one batch.

    LinkUnqueue holds only the packets in transit on the emulated link.  It
    pulls a packet once the link would be free to send it (within two
    milliseconds, so that late timer wake-ups never leave the link idle);
    the others wait upstream.  To emulate a link fed by a packet queue, use
    "Queue -> LinkUnqueue".  It sleeps while the Queue upstream is empty.

    Arguments:
      LATENCY (time)          propagation delay, e.g. 10ms
      BANDWIDTH (bandwidth)   e.g. 384kbps, 10Mbps; a bare number is bytes/s

    Handlers:
      latency (read/write)     LATENCY, seconds; applies to packets pulled after
      bandwidth (read/write)   BANDWIDTH, bytes per second; applies to packets pulled after
      size (read)              packets in, or partly in, the emulated link
      count (read)             packets sent
      reset (write)            drop every packet in the emulated link
    """
    PORTS = "1/1"
    PROCESSING = PULL_TO_PUSH

    def configure(self, args):
        self.latency = args.positional("LATENCY", seconds)
        self.bandwidth = args.positional("BANDWIDTH", _positive_bandwidth)
        args.finish()
        self.count = 0
        self._line = DelayLine()
        self._busy_until = 0.0     # when the link has sent the last byte it was given
        self._avg_len = 64.0       # running mean packet length: how many to pull
        self._timer = WakeTimer(self, self._wake)
        self._task = None

    def _run(self):
        now = clock()
        horizon = now + LOOKAHEAD
        pulls = 0
        while self._busy_until <= horizon and pulls < MAX_PULLS:
            pulls += 1
            start = max(now, self._busy_until)
            room = (horizon + LOOKAHEAD - start) * self.bandwidth
            batch = self.pull_input(0, max(1, min(MAX_PULL, int(room / self._avg_len))))
            if batch is None:
                break      # the Queue wakes us when packets arrive
            lengths = batch.pool.length[batch.idx]
            self._avg_len += 0.25 * (float(lengths.mean()) - self._avg_len)
            finish = finish_times(start, lengths, self.bandwidth)
            self._busy_until = float(finish[-1])
            self._line.add(batch.idx, finish + self.latency)
        idx = self._line.pop_due(now)
        if len(idx):
            self.count += len(idx)
            self.emit(0, Batch(self.router.pool, idx))
        wake = self._line.next_due()
        if self._busy_until > horizon:
            free = self._busy_until - LOOKAHEAD
            wake = free if wake is None else min(wake, free)
        if wake is not None:
            self._timer.arm(wake)
        return pulls == MAX_PULLS and self._busy_until <= horizon

    @read_handler("latency")
    def read_latency(self):
        return self.latency

    @write_handler("latency")
    def write_latency(self, value):
        try:
            self.latency = seconds(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None

    @read_handler("bandwidth")
    def read_bandwidth(self):
        return self.bandwidth

    @write_handler("bandwidth")
    def write_bandwidth(self, value):
        try:
            self.bandwidth = _positive_bandwidth(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None

    @write_handler("reset")
    def write_reset(self, value):
        if len(self._line):
            self.router.pool.free(self._line.clear())
        self._busy_until = 0.0
        self._timer.cancel()
        if self._task is not None:
            self._task.schedule()
