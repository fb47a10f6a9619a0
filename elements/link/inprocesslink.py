"""InProcessLink: a virtual link between two routers that run in one process.

Routers of a lab that share a worker process (a RouterGroup: one event loop)
need no socket between them: the two ends of a link find each other by the
link's channel name, and a batch pushed into one end leaves the other end on
the next turn of the loop.  There is no system call, no wake-up and no
segmentation: a TCP super-frame crosses whole.  Between routers that share
a packet pool the batch itself crosses (no copy); otherwise each packet is
copied once into the receiving router's pool (PacketPool.copy_in).
"""
from __future__ import annotations

import weakref

from vforward.args import ArgumentError, unsigned, word
from vforward.element import PUSH_ONLY, Element, ElementError, read_handler, write_handler
from vforward.offload import software_offload
from vforward.packet import Batch

# loop -> channel name -> the ends initialized on that loop.  The loop is the
# process's unit of "same place": ends on two loops (two threads) never pair.
_ENDS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


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
    worker share one event loop; see vforward/topo/worker.py).  Packets
    pushed into the input leave the other end's output on the next turn of
    the loop: no system call, no wake-up, and GSO super-frames cross whole.
    When both routers use one packet pool the batch itself crosses;
    otherwise each packet is copied once into the receiving router's pool,
    bytes and annotations (offload state included).  A super-frame larger
    than the far pool's slots is segmented first (vforward/offload.py).

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
        peer._task.schedule()

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

    # -- receiving (a task of this end's router) ------------------------------------
    def _deliver(self):
        inbox, self._inbox = self._inbox, []
        self._waiting = 0
        for batch in inbox:
            self.count += len(batch.idx)
            self.emit(0, batch)
        return False

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
