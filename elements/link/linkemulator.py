"""LinkEmulator: one element for a link's conditions: up/down, loss, rate with a queue, delay, jitter."""
from __future__ import annotations

from collections import deque

import numpy as np

from vforward.args import ArgumentError, bandwidth, boolean, integer, real, seconds, unsigned
from vforward.element import PUSH_ONLY, Element, HandlerError, read_handler, write_handler
from vforward.packet import Batch

from .delayline import DelayLine, WakeTimer, clock, finish_times

DISTRIBUTIONS = ("uniform", "normal")


def loss_probability(text: str) -> float:
    """A probability as 0.01 or as a percentage, 1%."""
    t = text.strip()
    try:
        p = real(t[:-1]) / 100.0 if t.endswith("%") else real(t)
    except ArgumentError:
        p = -1.0
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"expected a probability such as 0.01 or 1%, got {text!r}")
    return p


def _distribution(text: str) -> str:
    t = text.strip().lower()
    if t not in DISTRIBUTIONS:
        raise ArgumentError(f"expected uniform or normal, got {text!r}")
    return t


def _queue_limit(text: str) -> int:
    n = unsigned(text)
    if n < 1:
        raise ArgumentError(f"expected at least 1 packet, got {text!r}")
    return n


class LinkEmulator(Element):
    """LinkEmulator([DELAY, KEYWORDS]) -- emulate a link's delay, jitter, loss, rate and state

    Ports: 1 push input, 1 push output.

    Applies the conditions of an emulated link to the packets crossing it,
    in the order Linux's netem and tbf do:

    1. UP: while the link is down, every packet is dropped (drops_down).
       Taking the link down also drops the packets queued and in flight.
    2. LOSS: each packet is dropped with probability LOSS (drops_loss).
    3. RATE: the packets wait in a FIFO queue and are sent one after the
       other at RATE, a packet taking its length / RATE to send.  A packet
       arriving when QUEUE packets are waiting or being sent is dropped
       (tail drop, drops_queue).  RATE 0 means no rate limit and no queue.
    4. DELAY and JITTER: once sent, a packet arrives DELAY later, plus a
       random jitter within +-JITTER (never before it was sent).  All the
       packets whose time has come leave in one batch.

    Jitter does not reorder packets unless REORDER is true: a packet never
    arrives before one sent ahead of it, as on a single wire (and as netem
    behaves when a rate is set); its jitter is then taken up to the previous
    packet's arrival.  With REORDER true each packet keeps its own delay and
    may overtake others, as netem's default queue does.

    Every handler takes effect at once.  A new DELAY, JITTER or LOSS applies
    to the packets that arrive, or finish sending, from then on; packets in
    flight keep their arrival time, so after DELAY is lowered an in-order
    link holds new packets behind those for at most the old delay.  A new
    RATE re-times the packets waiting in the queue (the one being sent
    starts again) from that moment.  Packets in flight are bounded by the
    packet pool, not by QUEUE.

    Timing: every arrival and send time is computed exactly (per packet, on
    time.monotonic), and the router's precise timer (a timerfd, microsecond
    resolution) releases the packets due: no packet leaves before its time,
    and on an idle machine each leaves within some tens of microseconds
    after it; packets due within one wake-up leave in one batch.  On a
    machine busy with other programs, run the router at real-time priority
    (chrt -f 1 vforward run ...) to keep that precision.  RATE counts the
    packet's length only (no preamble or inter-frame gap).

    With no condition set (up, no loss, delay, jitter or rate) and nothing
    held, the graph sends packets past the element, counting them in count
    and sent, so an unconditioned link costs one addition per batch.

    Arguments:
      DELAY (time, default 0)           propagation delay, e.g. 20ms

    Keyword arguments:
      JITTER (time, default 0)          delay variation bound, e.g. 5ms
      DISTRIBUTION (default uniform)    jitter distribution: uniform over
                                        +-JITTER, or normal with standard
                                        deviation JITTER/3, cut at +-JITTER
      REORDER (boolean, default false)  whether jitter may reorder packets
      LOSS (probability, default 0)     drop probability, e.g. 0.01 or 1%
      RATE (bandwidth, default 0)       e.g. 10Mbps; 0 for unlimited
      QUEUE (integer, default 1000)     packets the rate-limited queue holds
      UP (boolean, default true)        whether the link is up
      SEED (integer)                    seed of the loss and jitter generator

    Handlers:
      delay, jitter (read/write)   seconds
      loss (read/write)            drop probability (0 to 1; 1% is accepted)
      rate (read/write)            bytes per second (10Mbps is accepted); 0 for unlimited
      queue (read/write)           QUEUE; lowering it drops nothing queued
      up (read/write)              whether the link is up
      count (read)                 packets that came in
      sent (read)                  packets sent out
      drops_loss, drops_queue, drops_down (read)   packets dropped for each cause
      drops (read)                 all packets dropped
      queue_length (read)          packets waiting for (or being sent at) RATE
      in_flight (read)             packets sent and not yet arrived
      reset_counts (write)         set the counters to zero
    """
    PORTS = "1/1"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.delay = args.positional("DELAY", seconds, default=0.0)
        self.jitter = args.keyword("JITTER", seconds, default=0.0)
        self.distribution = args.keyword("DISTRIBUTION", _distribution, default="uniform")
        self.reorder = args.keyword("REORDER", boolean, default=False)
        self.loss = args.keyword("LOSS", loss_probability, default=0.0)
        self.rate = args.keyword("RATE", bandwidth, default=0.0)
        self.queue_limit = args.keyword("QUEUE", _queue_limit, default=1000)
        self.up = args.keyword("UP", boolean, default=True)
        seed = args.keyword("SEED", integer, default=None)
        args.finish()
        self._rng = np.random.default_rng(seed)
        self._reset_counts()
        self._line = DelayLine(self.reorder)   # sent, arriving at their due time
        self._waiting = deque()                # (finish times, idx) chunks at RATE
        self._n_waiting = 0
        self._busy_until = 0.0                 # when the last queued packet is sent
        self._timer = WakeTimer(self, self._on_timer)

    def _reset_counts(self):
        self.count = self.sent = 0
        self.drops_loss = self.drops_queue = self.drops_down = 0

    # -- skipped while unconditioned (Element.passthrough) ------------------------
    TALLY_WHEN_SKIPPED = True

    def _unconditioned(self):
        return (self.up and self.loss == 0.0 and self.rate == 0.0 and self.delay == 0.0
                and self.jitter == 0.0)

    def passthrough(self, port):
        if self._unconditioned() and not self._waiting and self._line.next_due() is None:
            return 0
        return None

    TALLY_FIELDS = (("count", "packets"), ("sent", "packets"))

    def tally(self, batch):
        n = len(batch.idx)
        self.count += n
        self.sent += n

    # -- the packet path ----------------------------------------------------------
    def push(self, port, batch):
        idx = batch.idx
        n = len(idx)
        if n == 0:
            return
        self.count += n
        if not self.up:
            self.drops_down += n
            batch.kill()
            return
        pool = batch.pool
        if self.loss > 0.0:
            keep = self._rng.random(n) >= self.loss
            if not keep.all():
                lost = idx[~keep]
                self.drops_loss += len(lost)
                pool.free(lost)
                idx = idx[keep]
                if not len(idx):
                    return
        if (self.rate == 0.0 and self.delay == 0.0 and self.jitter == 0.0
                and not self._waiting and self._line.next_due() is None):
            # An unconditioned link: nothing to time, nothing to keep in order behind.
            self.sent += len(idx)
            self.emit(0, Batch(pool, idx))
            return
        now = clock()
        if self.rate > 0.0:
            self._advance(now)
            room = self.queue_limit - self._n_waiting
            if len(idx) > room:
                over = idx[max(room, 0):]
                self.drops_queue += len(over)
                pool.free(over)
                idx = idx[:max(room, 0)]
            if len(idx):
                self._enqueue(idx, now)
        else:
            self._propagate(idx, np.full(len(idx), now))
        self._release(now)

    def _enqueue(self, idx, now):
        """Queue packets behind those waiting for the link, sent at RATE."""
        finish = finish_times(max(now, self._busy_until), self.router.pool.length[idx], self.rate)
        self._busy_until = float(finish[-1])
        self._waiting.append((finish, idx.copy()))
        self._n_waiting += len(idx)

    def _advance(self, now):
        """Move the packets sent by `now` from the queue onto the wire."""
        waiting = self._waiting
        while waiting:
            finish, idx = waiting[0]
            k = int(np.searchsorted(finish, now, side="right"))
            if k == 0:
                break
            if k == len(idx):
                waiting.popleft()
            else:
                waiting[0] = (finish[k:], idx[k:])
            self._n_waiting -= k
            self._propagate(idx[:k], finish[:k])

    def _propagate(self, idx, sent_at):
        """Packets sent at `sent_at` arrive DELAY +- JITTER later."""
        due = sent_at + self.delay
        if self.jitter > 0.0:
            due += self._jitter(len(idx))
            np.maximum(due, sent_at, out=due)
        self._line.add(idx, due)

    def _jitter(self, n):
        j = self.jitter
        if self.distribution == "normal":
            return np.clip(self._rng.normal(0.0, j / 3.0, n), -j, j)
        return self._rng.uniform(-j, j, n)

    def _release(self, now):
        """Send every packet whose arrival time has come; wake at the next."""
        idx = self._line.pop_due(now)
        if len(idx):
            self.sent += len(idx)
            self.emit(0, Batch(self.router.pool, idx))
        wake = self._line.next_due()
        if self._waiting:
            sent = float(self._waiting[0][0][0])
            wake = sent if wake is None else min(wake, sent)
        if wake is not None:
            self._timer.arm(wake)
        elif self._unconditioned():    # the last held packet left: skippable again
            self.passthrough_changed()

    def _on_timer(self):
        now = clock()
        self._advance(now)
        self._release(now)

    def _drop_all(self):
        """Drop every packet queued or in flight (the link went down)."""
        parts = [idx for _, idx in self._waiting]
        parts.append(self._line.clear())
        self._waiting.clear()
        self._n_waiting = 0
        self._busy_until = 0.0
        self._timer.cancel()
        held = np.concatenate(parts)
        if len(held):
            self.router.pool.free(held)
        return len(held)

    def cleanup(self):
        if self.router is not None:
            self._drop_all()

    # -- handlers ---------------------------------------------------------------------
    def _parse(self, kind, value):
        try:
            return kind(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None

    @read_handler("delay")
    def read_delay(self):
        return self.delay

    @write_handler("delay")
    def write_delay(self, value):
        self.delay = self._parse(seconds, value)
        self.passthrough_changed()

    @read_handler("jitter")
    def read_jitter(self):
        return self.jitter

    @write_handler("jitter")
    def write_jitter(self, value):
        self.jitter = self._parse(seconds, value)
        self.passthrough_changed()

    @read_handler("loss")
    def read_loss(self):
        return self.loss

    @write_handler("loss")
    def write_loss(self, value):
        self.loss = self._parse(loss_probability, value)
        self.passthrough_changed()

    @read_handler("rate")
    def read_rate(self):
        return self.rate

    @write_handler("rate")
    def write_rate(self, value):
        rate = self._parse(bandwidth, value)
        if self.router is None:
            self.rate = rate
            self.passthrough_changed()
            return
        now = clock()
        self._advance(now)
        self.rate = rate
        if self._waiting:
            idx = np.concatenate([i for _, i in self._waiting])
            self._waiting.clear()
            self._n_waiting = 0
            self._busy_until = now
            if rate > 0.0:
                self._enqueue(idx, now)
            else:
                self._propagate(idx, np.full(len(idx), now))
        self._release(now)
        self.passthrough_changed()

    @read_handler("queue")
    def read_queue(self):
        return self.queue_limit

    @write_handler("queue")
    def write_queue(self, value):
        self.queue_limit = self._parse(_queue_limit, value)

    @read_handler("up")
    def read_up(self):
        return self.up

    @write_handler("up")
    def write_up(self, value):
        up = self._parse(boolean, value)
        if self.up and not up and self.router is not None:
            self.drops_down += self._drop_all()
        self.up = up
        self.passthrough_changed()

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("sent")
    def read_sent(self):
        return self.sent

    @read_handler("drops_loss")
    def read_drops_loss(self):
        return self.drops_loss

    @read_handler("drops_queue")
    def read_drops_queue(self):
        return self.drops_queue

    @read_handler("drops_down")
    def read_drops_down(self):
        return self.drops_down

    @read_handler("drops")
    def read_drops(self):
        return self.drops_loss + self.drops_queue + self.drops_down

    # Reading moves the packets sent by now onto the wire (the timer is set
    # for them already), so that queue_length and in_flight add up.
    @read_handler("queue_length")
    def read_queue_length(self):
        self._advance(clock())
        return self._n_waiting

    @read_handler("in_flight")
    def read_in_flight(self):
        self._advance(clock())
        return len(self._line)

    @write_handler("reset_counts")
    def write_reset_counts(self, value):
        self._reset_counts()
