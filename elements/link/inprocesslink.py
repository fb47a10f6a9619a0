"""InProcessLink: a virtual link between two routers that run in one process.

Routers of a lab that share a worker process (a RouterGroup: one event loop)
need no socket between them: the two ends of a link find each other by the
link's channel name.  There is no system call, no wake-up and no
segmentation: a TCP super-frame crosses whole.  Between routers that share
a packet pool (a lab worker gives its routers one; vforward/topo/worker.py)
the batch itself crosses, slot indices and no bytes; otherwise each packet
is copied once into the receiving router's pool (PacketPool.copy_in).

A batch is handed to the far router at once, in the sender's call, when no
other router's graph is on the stack: the far graph then runs to its end
before the sender's resumes, as a function call.  What that graph sends on
over further in-process links waits in a queue of the loop's, and is
delivered, one batch after the other, once it returns; a batch for the
router that started it all (the sender, mid-batch and on the stack) waits
for the next turn of the loop instead.  So a path of N routers in one
process is crossed in one call with the stack never deeper than one hop,
and no element is entered while its own router is mid-batch (Click's and
VPP's rule: a graph node finishes a vector before it sees the next).
"""
from __future__ import annotations

import weakref
from collections import deque

from vforward.args import ArgumentError, unsigned, word
from vforward.element import PUSH_ONLY, Element, ElementError, read_handler, write_handler
from vforward.offload import software_offload
from vforward.packet import Batch

# loop -> channel name -> the ends initialized on that loop.  The loop is the
# process's unit of "same place": ends on two loops (two threads) never pair.
_ENDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# loop -> its _Handoff: the state of direct deliveries on that loop.
_HANDOFFS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
# Deliveries one direct hand-off makes at most before leaving the rest to the
# loop: a storm between in-process routers (a flood over a bridged ring) must
# still let the loop serve devices, timers and control sockets.
HANDOFF_BUDGET = 256


class _Handoff:
    """Who started the hand-off now running on a loop (None: none is), and
    the ends with batches waiting for it, in arrival order."""

    __slots__ = ("origin", "waiting")

    def __init__(self):
        self.origin = None
        self.waiting: deque = deque()


def _channel(text: str) -> str:
    name = word(text)
    if not name:
        raise ArgumentError("expected a channel name")
    return name


class InProcessLink(Element):
    """InProcessLink(CHANNEL [, KEYWORDS]) -- a virtual link to a router in the same process

    Ports: 1 push input, 1 push output.

    One end of a virtual link whose other end is an InProcessLink with the
    same CHANNEL in another router of the same process (the routers of a lab
    worker share one event loop and one packet pool; see
    vforward/topo/worker.py).  Packets pushed into the input leave the
    other end's output within the same call when no other router is
    mid-batch, else as soon as the router that is returns (or on the next
    turn of the loop when it is the far router itself): no system call, no
    wake-up, and GSO super-frames cross whole.  When both routers use one
    packet pool the batch itself crosses (its slots change hands, no byte
    moves); otherwise each packet is copied once into the receiving
    router's pool, bytes and annotations (offload state included).  A
    super-frame larger than the far pool's slots is segmented first
    (vforward/offload.py).

    It plays the part EtherLinkEncap, Socket and EtherLinkDecap play
    together for a link between processes, so link conditions, probes,
    capture and counters are the elements around it, exactly as there.

    Packets pushed while the other end is absent (not started, or its
    router stopped) are dropped and counted, as a cable with nothing at the
    far end would.  At most BACKLOG packets wait for the other end's turn;
    more are dropped and counted.

    Arguments:
      CHANNEL (word)                   the link's name; exactly two ends share it

    Keyword arguments:
      BACKLOG (integer, default 4096)  packets waiting for the far end at most

    Handlers:
      count (read)          packets received from the other end
      tx_count (read)       packets handed to the other end
      drops (read)          packets dropped: no other end, backlog full, or no
                            free slot in the far pool
      connected (read)      whether the other end is there
      channel (read)        the channel name
      reset (write)         set the counters to zero
    """
    PORTS = "1/1"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.channel = args.positional("CHANNEL", _channel)
        self.backlog = args.keyword("BACKLOG", unsigned, default=4096)
        args.finish()
        if self.backlog < 1:
            raise ArgumentError(f"{args.where}: argument BACKLOG: must be at least 1")
        self.count = self.tx_count = self.drops = 0
        self._inbox: list[Batch] = []
        self._waiting = 0
        self._task = None
        self._ends: list | None = None
        self._handoff: _Handoff | None = None
        self._queued = False           # in the running hand-off's waiting queue

    def initialize(self):
        ends = _ENDS.setdefault(self.router.loop, {}).setdefault(self.channel, [])
        if len(ends) >= 2:
            loc = f"{self.location}: " if self.location is not None else ""
            raise ElementError(f"{loc}InProcessLink '{self.name}': channel '{self.channel}' "
                               "already has two ends in this process; give each link its own "
                               "CHANNEL")
        ends.append(self)
        self._ends = ends
        self._task = self.router.new_task(self._deliver, self)
        self._handoff = _HANDOFFS.get(self.router.loop)
        if self._handoff is None:
            self._handoff = _HANDOFFS[self.router.loop] = _Handoff()

    def cleanup(self):
        if self._ends is not None and self in self._ends:
            self._ends.remove(self)
        self._ends = None
        for batch in self._inbox:
            batch.kill()
        self._inbox = []
        self._waiting = 0

    @property
    def peer(self) -> "InProcessLink | None":
        ends = self._ends
        if not ends or len(ends) < 2:
            return None
        return ends[0] if ends[1] is self else ends[1]

    # -- sending ------------------------------------------------------------------
    def push(self, port, batch):
        peer = self.peer
        n = len(batch.idx)
        if peer is None or peer._task is None or peer.router._stopping:
            self.drops += n
            batch.kill()
            return
        room = peer.backlog - peer._waiting
        if n > room:
            self.drops += n - room
            over = Batch(batch.pool, batch.idx[room:])
            over.kill()
            batch = Batch(batch.pool, batch.idx[:room])
            if not room:
                return
        far = peer.router.pool
        if far is not batch.pool:
            batch = self._copy_to(far, batch)
            if not len(batch.idx):
                return
        self.tx_count += len(batch.idx)
        peer._inbox.append(batch)
        peer._waiting += len(batch.idx)
        handoff = self._handoff
        if handoff.origin is None:
            if peer.router is self.router:     # both ends in one router: it is mid-batch
                peer._task.schedule()
            else:
                self._hand_off(handoff, peer)
        elif peer.router is handoff.origin:    # that router is on the stack, mid-batch
            peer._task.schedule()
        elif not peer._queued:                 # delivered once the running graph returns
            peer._queued = True
            handoff.waiting.append(peer)

    def _hand_off(self, handoff: _Handoff, peer: "InProcessLink") -> None:
        """Run the far router's graph on the batch now, then every delivery
        that graph (and the ones after it) queued, one after the other, up
        to HANDOFF_BUDGET; the rest wait for the loop (their ends' tasks)."""
        handoff.origin = self.router
        waiting = handoff.waiting
        try:
            peer._deliver_now()
            budget = HANDOFF_BUDGET
            while waiting and budget:
                end = waiting.popleft()
                end._queued = False
                end._deliver_now()
                budget -= 1
        finally:
            handoff.origin = None
            while waiting:                     # over budget (or interrupted): the loop's turn
                end = waiting.popleft()
                end._queued = False
                end._task.schedule()

    def _copy_to(self, far, batch: Batch) -> Batch:
        """The batch's packets in the far pool; the originals are freed."""
        if batch.pool._slots.max_length(batch.idx) > far.slot_size - far.headroom:
            batch, dropped = software_offload(batch)
            self.drops += dropped
            long = batch.pool.length[batch.idx] > far.slot_size - far.headroom
            if long.any():        # not a super-frame, yet longer than the far slots: an MTU mismatch
                self.drops += int(long.sum())
                Batch(batch.pool, batch.idx[long]).kill()
                batch = Batch(batch.pool, batch.idx[~long])
        copied = far.copy_in(batch)
        self.drops += len(batch.idx) - len(copied.idx)
        batch.kill()
        return copied

    # -- receiving ------------------------------------------------------------------
    def _deliver(self):
        """This end's task (the loop's turn): what waits goes out."""
        inbox, self._inbox = self._inbox, []
        self._waiting = 0
        for batch in inbox:
            self.count += len(batch.idx)
            self.emit(0, batch)
        return False

    def _deliver_now(self) -> None:
        """Deliver within a hand-off.  A failing element stops its own router,
        as it would from the router's task, not the sender's mid-batch."""
        router = self.router
        if router is None or router._stopping or self._ends is None:
            for batch in self._inbox:
                self.drops += len(batch.idx)
                batch.kill()
            self._inbox = []
            self._waiting = 0
            return
        try:
            self._deliver()
        except Exception:
            router._element_failed(self, " in an in-process delivery")

    # -- handlers -------------------------------------------------------------------
    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("tx_count")
    def read_tx_count(self):
        return self.tx_count

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("connected")
    def read_connected(self):
        return self.peer is not None

    @read_handler("channel")
    def read_channel(self):
        return self.channel

    @write_handler("reset")
    def write_reset(self, value):
        self.count = self.tx_count = self.drops = 0
