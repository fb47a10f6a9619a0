"""ToDevice: send packets out of a network device through an AF_PACKET ring."""
from __future__ import annotations

from collections import deque

import numpy as np

from vforward.args import ArgumentError, boolean, unsigned, word
from vforward.element import Element, read_handler, write_handler
from vforward.elements.io import packetsocket
from vforward.elements.standard.queue import Queue
from vforward.offload import software_offload
from vforward.packet import Batch

_METHODS = ("LINUX", "PCAP", "DEFAULT")
_RETRY_FIRST = 0.0005   # seconds to wait before retrying a ring that made no progress
_RETRY_MAX = 0.05
# BURSTs pulled per run of the pull task: as many as a FromDevice reads per
# turn of the loop (its _MAX_BURSTS), so a Queue between the two drains as
# fast as it fills instead of overflowing while the task runs once per turn.
_MAX_BURSTS = 32


class _PullAtOnce:
    """What a ToDevice on a pull input gives its Queue to be woken by: when
    the Queue stops being empty, the ToDevice pulls and sends at once, within
    the push that filled it, instead of on its task's next turn of the loop
    (which costs an idle router's packet a pass through the event loop).
    While the ToDevice is already pulling, waits on the ring, or its task is
    due anyway, the wake-up just schedules the task, as in Click."""
    __slots__ = ("device",)

    def __init__(self, device):
        self.device = device

    def schedule(self) -> None:
        dev = self.device
        task = dev._task
        if dev._closed:
            return                  # cleaned up (a hot swap removed it); its Queue stays
        if dev._pulling or dev._backlog_len or task.scheduled:
            task.schedule()
            return
        dev._pulling = True
        try:
            more = dev._pull_bursts()
        finally:
            dev._pulling = False
        if more:
            task.schedule()         # the budget ran out with packets left


class ToDevice(Element):
    """ToDevice(DEVNAME [, KEYWORDS]) -- send packets to a network device

    Ports: 1 input, push or pull; 0 to 2 push outputs.

    Sends each packet, which must start with its link-level (Ethernet)
    header, out of the device DEVNAME through a memory-mapped AF_PACKET
    transmit ring (TPACKET_V2, bypassing the device's qdisc): a batch is
    copied into free ring frames in one call and handed to the kernel with
    one send().

    On a push input, packets are sent at once.  On a pull input, ToDevice
    pulls whenever its upstream Queue has packets, as Click's ToDevice does,
    up to 32 x BURST packets per turn of the loop (as many as a FromDevice
    with the same BURST reads per turn), BATCH at a time: a Queue between a
    FromDevice and a ToDevice drains as fast as it fills, and overflows only
    when the device is slower than the traffic.  When the Queue goes from
    empty to not empty, ToDevice pulls at once, within the push that filled
    it, rather than on a later turn of the loop (Click's task would wait for
    its turn): an idle router's packet leaves without a pass through the
    event loop (and, from a plain Queue, without being stored and pulled).
    When the ring is full, up to QUEUE packets wait inside
    ToDevice until the kernel frees frames; beyond that, arriving packets are
    dropped and counted (on a pull input, ToDevice just stops pulling and its
    Queue holds the backlog).

    As in Click, packets that were sent go out of output 0 and packets that
    could not be sent (no room in QUEUE, or longer than a ring frame) go out
    of output 1, when those outputs are connected; otherwise they are freed.

    A FromDevice on the same device does not see these packets unless its
    OUTBOUND is true -- and, since the qdisc bypass also skips the kernel's
    packet taps, not even then, nor does tcpdump, unless QDISC_BYPASS is
    false.

    Keyword arguments:
      BURST (integer, default 256)    Click's burst: at most 32 x BURST packets
                        are pulled per turn of the loop.
      BATCH (integer, default 256)    most packets pulled (and sent with one
                        system call) at a time (vforward extension).
      QUEUE (integer, default 1000)   most packets held while the ring is full.
      METHOD (LINUX or PCAP, default LINUX)  accepted for compatibility; both
                        mean the AF_PACKET ring.
      NETNS (word)                    open the device inside this named
                        network namespace (vforward extension).
      RING (boolean, default true)    false: one send() per packet on a plain
                        packet socket instead of the ring.
      RING_FRAMES (integer, default 1024)  frames in the transmit ring.
      QDISC_BYPASS (boolean, default true) hand frames straight to the driver
                        (PACKET_QDISC_BYPASS): faster, but skips the device's
                        qdisc (tc shaping) and packet taps (tcpdump).
      OFFLOAD (boolean, default false) send packets with their offload state
                        (PACKET_VNET_HDR): TCP super-frames leave whole and the
                        device or kernel segments them.  Without it they are
                        segmented (and partial checksums finished) here.

    Handlers:
      count (read)          packets handed to the kernel
      drops (read)          packets dropped here (QUEUE full, too long)
      queue_length (read)   packets waiting for room in the ring
      dev_name (read)       the device's name
      method (read)         how packets are sent (ring geometry or plain socket)
      reset_counts (write)  reset count and drops
    """
    PORTS = "1/0-2"
    PROCESSING = "a/h"

    def configure(self, args):
        self.devname = args.positional("DEVNAME", word)
        self.burst = args.keyword("BURST", unsigned, default=256)
        self.batch = args.keyword("BATCH", unsigned, default=256)
        self.queue_capacity = args.keyword("QUEUE", unsigned, default=1000)
        method = args.keyword("METHOD", word, default="LINUX").upper()
        self.netns = args.keyword("NETNS", word, default=None)
        self.ring = args.keyword("RING", boolean, default=True)
        self.ring_frames = args.keyword("RING_FRAMES", unsigned, default=1024)
        self.qdisc_bypass = args.keyword("QDISC_BYPASS", boolean, default=True)
        self.offload = args.keyword("OFFLOAD", boolean, default=False)
        args.finish()
        where = f"{self.name} :: {self.class_name()}"
        if method not in _METHODS:
            raise ArgumentError(f"{where}: METHOD {method} is not known; use LINUX "
                                "(PCAP is accepted and means the same)")
        if self.burst < 1 or self.batch < 1 or self.ring_frames < 1:
            raise ArgumentError(f"{where}: BURST, BATCH and RING_FRAMES must be at least 1")
        self.count = 0
        self.drops = 0
        self._sock = None
        self._tx = None
        self._pool = None
        self._backlog: deque = deque()    # uint32 slot arrays waiting for ring frames
        self._backlog_len = 0
        self._waiting = False             # a writer or retry timer is armed
        self._retry_delay = _RETRY_FIRST
        self._retry_handle = None
        self._task = None
        self._pulling = False             # in _run: a wake-up now waits for the task
        self._pulls_a_queue = False       # input pulled straight from a Queue (it wakes us)
        self._taken_from = None           # the Queue that hands us batches at once
        self._closed = False              # cleaned up: its Queue's wake-ups are ignored

    def opened_device(self):
        return self.devname, self.netns

    def initialize(self):
        self._sock = packetsocket.open_sender(self.devname, self.netns, ring=self.ring,
                                              frame_nr=self.ring_frames,
                                              qdisc_bypass=self.qdisc_bypass,
                                              offload=self.offload)
        self._tx = self._sock.tx
        self._pool = self.router.pool
        self._max_len = getattr(self._tx, "frame_room", 0xFFFF)
        if self.input_processing[0] == "l":
            self._task = self.router.new_task(self._run, self)
            wake = _PullAtOnce(self)
            for q in self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener")):
                q.add_listener(wake)
            source = getattr(self._in_pull[0], "__self__", None)
            self._pulls_a_queue = isinstance(source, Queue) and type(source).pull is Queue.pull
            if self._pulls_a_queue and type(source).push is Queue.push:
                source.set_taker(self._take_at_once)
                self._taken_from = source
            self._task.schedule()

    def cleanup(self):
        if self._taken_from is not None:        # a Queue kept by a hot swap must not call us
            self._taken_from.clear_taker(self._take_at_once)
        self._stop_waiting()
        while self._backlog:
            Batch(self._pool, self._backlog.popleft()).kill()
        self._backlog_len = 0
        if self._sock is not None:
            self._sock.close()
        self._closed = True

    # -- packet flow ---------------------------------------------------------
    def push(self, port, batch):
        if not self.offload:
            batch, dropped = software_offload(batch)
            self.drops += dropped
        idx = batch.idx
        if self.n_outputs:
            # Output 0 must carry only packets that went out: split off, before
            # sending, those no ring frame can hold.
            long = batch.pool.length[idx] > self._max_len
            if long.any():
                self.drops += int(long.sum())
                self.emit(1, Batch(batch.pool, idx[long]))
                idx = idx[~long]
        if self._backlog_len:
            self._enqueue(idx)      # earlier packets go first
            self._drain()
            return
        rest = self._send(idx)
        if rest is not None:
            self._enqueue(rest)
            self._wait()
        elif self._tx.last_errno:
            self._wait()            # the kernel did not take the flush: retry it

    def _run(self):
        """Pull task: send what the Queue has, BATCH at a time, up to
        _MAX_BURSTS x BURST packets; sleep while the ring is full."""
        self._pulling = True
        try:
            return self._pull_bursts()
        finally:
            self._pulling = False

    def _pull_bursts(self):
        left = self.burst * _MAX_BURSTS
        pull, pull_port = self._in_pull[0], self._in_port[0]
        while left > 0:
            if self._backlog_len:
                return False        # _drain reschedules us once the ring has room
            size = min(self.batch, left)
            batch = pull(pull_port, size)
            if batch is None:
                return False        # the Queue wakes us when it fills again
            n = len(batch.idx)
            left -= n
            self.push(0, batch)
            if n < size:
                # The upstream had no more.  A Queue pulled directly is empty
                # now and wakes us when it fills; anything else may have more
                # later without telling: look again next turn.
                return self._backlog_len == 0 and not self._pulls_a_queue
        return self._backlog_len == 0

    def _take_at_once(self, batch) -> bool:
        """A batch pushed into our empty Queue: send it now, as the pull that
        the Queue's wake-up would make at once, when that pull would take it
        all (no backlog, not pulling already, within BATCH and the budget)."""
        if self._pulling or self._backlog_len or self._task.scheduled \
                or len(batch.idx) > self.batch or len(batch.idx) > self.burst * _MAX_BURSTS:
            return False
        self._pulling = True
        try:
            self.push(0, batch)
        finally:
            self._pulling = False
        return True

    def _send(self, idx):
        """Put idx into the ring; return the part that did not fit, or None."""
        if not idx.flags.c_contiguous:
            idx = np.ascontiguousarray(idx)
        consumed, queued = self._tx.send(self._pool, idx)
        self.count += queued
        if queued < consumed:
            self.drops += consumed - queued      # longer than a ring frame, or refused
        if consumed:
            if self.n_outputs:
                self.emit(0, Batch(self._pool, idx[:consumed]))
            else:               # nothing wants them back: the slots go straight to the pool
                self._pool.free(idx[:consumed] if consumed < len(idx) else idx)
        return idx[consumed:] if consumed < len(idx) else None

    def _enqueue(self, idx):
        room = self.queue_capacity - self._backlog_len
        if len(idx) > room:
            over = idx[max(room, 0):]
            self.drops += len(over)
            self.emit(1, Batch(self._pool, over))
            idx = idx[:max(room, 0)]
        if len(idx):
            self._backlog.append(idx)
            self._backlog_len += len(idx)

    def _drain(self) -> bool:
        """Move backlog into the ring, oldest first; True if anything moved."""
        if self._tx.last_errno:
            self._tx.flush()
        progress = False
        while self._backlog:
            idx = self._backlog[0]
            rest = self._send(idx)
            done = len(idx) - (0 if rest is None else len(rest))
            self._backlog_len -= done
            progress = progress or done > 0
            if rest is not None:
                self._backlog[0] = rest
                break
            self._backlog.popleft()
        if self._backlog_len == 0 and not self._tx.last_errno:
            self._stop_waiting()
            if self._task is not None:
                self._task.schedule()
        elif not self._waiting:
            self._wait()
        return progress

    # -- waiting for ring frames ------------------------------------------------
    def _wait(self):
        """Call _writable when the socket is writable (the ring has a free frame)."""
        if not self._waiting:
            self.router.add_writer(self._sock.fd, self._writable)
            self._waiting = True

    def _writable(self):
        """A packet socket with a TX ring also reports writable while its frames
        are still in flight, so a wake-up that moved nothing switches to a
        timer (growing up to _RETRY_MAX) instead of spinning on the writer."""
        if self._drain():
            self._retry_delay = _RETRY_FIRST
        elif self._waiting:
            self._stop_waiting()
            self._waiting = True
            self._retry_handle = self.router.call_later(self._retry_delay, self._retry)
            self._retry_delay = min(self._retry_delay * 2, _RETRY_MAX)

    def _retry(self):
        self._retry_handle = None
        self._waiting = False
        self._wait()          # back on the writer, which fires at once if there is room

    def _stop_waiting(self):
        if not self._waiting:
            return
        self._waiting = False
        if self._retry_handle is not None:
            self._retry_handle.cancel()
            self._retry_handle = None
        elif self._sock is not None:
            try:
                self.router.remove_writer(self._sock.fd)
            except Exception:
                pass   # the loop is already closed

    # -- handlers ------------------------------------------------------------------
    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("queue_length")
    def read_queue_length(self):
        return self._backlog_len

    @read_handler("dev_name")
    def read_dev_name(self):
        return self.devname

    @read_handler("method")
    def read_method(self):
        return self._sock.method if self._sock is not None else "not open"

    @write_handler("reset_counts")
    def write_reset_counts(self, value):
        self.count = 0
        self.drops = 0
