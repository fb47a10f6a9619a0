"""LinkProbe: measures a link's latency, loss and bandwidth with probe frames of its own.

The probe protocol (the "S3" idea of the VINI line: routers measure their
links themselves, so the measurement crosses what traffic crosses).  A probe
is an Ethernet frame with the IEEE local experimental EtherType 0x88B5,
addressed to a locally administered multicast address that no NIC or kernel
claims, carrying 48 bytes in network order:

     0      4      5      6       8      12     16            24
    +------+------+------+-------+------+------+-------------+
    |"VFLP"| ver 1| kind | index | seq  |sender| send time ns|
    +------+------+------+-------+------+------+-------------+
     24      26     28       32          36        40          48
    +-------+------+--------+-----------+---------+-----------+
    | count | flags| rx_req | rx_max_seq| bw train| bw bit/s  |
    +-------+------+--------+-----------+---------+-----------+

kind 1 REQUEST (seq: the request number, sender: the requester's random id,
send time: the requester's monotonic clock); kind 2 REPLY: the request
turned around in place, the same seq, sender and send time, plus what the
reflector knows about the requester's direction: requests received from it
(rx_req, cumulative), the highest request number seen (rx_max_seq), and the
dispersion rate of the requester's last packet train (bw train, bw bit/s;
flags bit 0: only a lower bound); kind 3 TRAIN member: seq is the train
number, index the member's place in it, count the train's length; members
are padded to the train size.
"""
from __future__ import annotations

import os
import random
import struct
import time
from collections import deque

import numpy as np

from vforward.args import ArgumentError, boolean, mac_address, seconds, unsigned
from vforward.element import PUSH_ONLY, Element, HandlerError, read_handler, write_handler
from vforward.packet import Batch

ETHERTYPE = 0x88B5
MAGIC = b"VFLP"
VERSION = 1
REQUEST, REPLY, TRAIN = 1, 2, 3
FLAG_LOWER_BOUND = 1
PROBE_DST = bytes.fromhex("037666706c70")   # multicast + locally administered
ETHER_HLEN = 14
HEADER = struct.Struct("!4sBBHIIQHHIIIQ")
PROBE_LEN = ETHER_HLEN + HEADER.size        # 62 bytes on the wire
EWMA_GAIN = 1 / 8                           # as TCP's smoothed RTT
MIN_DISPERSION = 1e-3                       # the loop's timer resolution, seconds
STALE_INTERVALS = 8                         # no reply for this long: loss reads 1
_U32 = 0xFFFFFFFF
_TYPE_HI = bytes([ETHERTYPE >> 8])
# magic, version and kind of the frames this element consumes
_OURS = {MAGIC + bytes([VERSION, kind]) for kind in (REQUEST, REPLY, TRAIN)}


def _positive_time(text: str) -> float:
    t = seconds(text)
    if t <= 0:
        raise ArgumentError(f"expected a time above zero, got {text!r}")
    return t


class LinkProbe(Element):
    """LinkProbe([INTERVAL, KEYWORDS]) -- measure a link's latency, loss and bandwidth

    Ports: 2 push inputs, 2 push outputs.

    Sits at one end of a link, between the router and the link's wire, and
    talks to the LinkProbe at the other end.  Input 0 takes the frames that
    arrive from the wire and passes them to output 0 (toward the router),
    except probe frames (EtherType 0x88B5 that carry the probe header),
    which it consumes.  Input 1 takes the frames the router sends and
    passes them to output 1 (toward the link's egress conditions and the
    wire), and output 1 also carries the probes it sends.  So its probes
    cross everything the traffic crosses: a LinkEmulator between output 1
    and the wire delays, drops and rate-limits them too.  Frames that are
    not probes pass unchanged and in order; probes never reach the router.

    Every INTERVAL it sends a REQUEST carrying a sequence number and its
    send time; the other end turns each request around at once as a REPLY.
    From the replies it measures:

    * latency: the round-trip time of each reply (rtt_last_ms) and its
      exponentially weighted average with gain 1/8 (rtt_ms), as TCP does;
      latency_ms is half of it, the one-way latency of a symmetric link.
      One clock times both ends of a round trip, so no clock sync is needed.
    * loss of this end's egress direction: the other end counts the
      requests it receives and the highest sequence number seen, and
      reports both in its replies; loss is the share of the last WINDOW
      request numbers that never arrived (sequence gaps).  The counts are
      cumulative, so a lost reply loses no information.  When no reply has
      come for 8 intervals, loss reads 1.  rx_loss is the same for the
      other direction, from the other end's requests.
    * available bandwidth of this end's egress direction, by packet-train
      dispersion (packet pair, Keshav; bprobe, Carter and Crovella): every
      TRAIN_INTERVAL, right behind a request, it sends TRAIN frames of
      TRAIN_SIZE bytes back to back.  The other end notes when the first
      and the last member arrive; k member gaps of L bytes spread over T
      seconds give k*L*8/T bit/s, which the next replies carry back.  On an
      idle link this is the narrow link's capacity (the RATE of a
      LinkEmulator); with cross traffic queued at the same bottleneck the
      train is spread by it too and the estimate drops toward the rate left
      over -- Dovrolis' asymptotic dispersion rate, which lies between the
      available bandwidth and the capacity; it is not pathload's iterative
      available-bandwidth search.  Arrival times are read on the event
      loop, whose timers tick in milliseconds: a train that arrives in less
      than 1 ms gives only a lower bound (avail_bw_bound true), so an
      unlimited link reads as "at least" (TRAIN-1)*TRAIN_SIZE*8 kbit/s (120
      Mbit/s at the defaults), and the estimate is good to about 1 ms over
      the train's duration at the bottleneck: a 16 x 1000-byte train at
      10 Mbit/s lasts 12.8 ms, and reads within 10-20% of the rate.  A
      train makes a short queue on the link: a request sent during one
      waits behind it, so trains go right after a request.

    Cost: at the defaults each end sends a request and a reply a second
    and, every 30 s, a train of 16 frames of 1000 bytes: about 2.5 frames
    and 5 kbit/s per second in each direction of a link, and well under
    0.1% of a CPU core per link end.  Frames from the wire that are not
    probes cost one numpy gather of their EtherType byte per batch; frames
    from the router cost nothing (the graph sends them past this element).

    The other end needs no clock of ours and no configuration beyond its
    own LinkProbe.  It answers requests whether or not its own probing is
    active.  Until the first reply (for loss, the second), the measurements
    read as empty.

    Arguments:
      INTERVAL (time, default 1s)   time between requests

    Keyword arguments:
      ETHER (Ethernet address)       source address of the probes
                                     (default: a locally administered one)
      WINDOW (integer, default 30)   request numbers that loss is measured over
      TRAIN (integer, default 16)    frames in a bandwidth train; 0: no trains
      TRAIN_SIZE (integer, default 1000)   bytes per train frame, Ethernet
                                     header included; keep within the link MTU
      TRAIN_INTERVAL (time, default 30s)   time between trains
      ACTIVE (boolean, default true) whether to send requests and trains

    Handlers:
      rtt_ms, rtt_last_ms (read)           round-trip time: average, last
      latency_ms, latency_last_ms (read)   half of those
      loss (read)              egress loss ratio over the last WINDOW requests
      rx_loss (read)           ingress loss ratio (the other end's requests)
      avail_bw_mbps (read)     egress dispersion rate of the last train, Mbit/s
      avail_bw_bound (read)    whether that is only a lower bound
      rx_bw_mbps (read)        the same for the other end's trains, measured here
      sent (read)              probe frames sent (requests, replies, trains)
      received (read)          probe frames received and consumed
      replies (read)           replies to this end's requests received
      interval (read/write)    INTERVAL
      train_interval (read/write)   TRAIN_INTERVAL; 0 stops the trains
      active (read/write)      whether to send requests and trains
      reset (write)            forget every measurement and count
    """
    PORTS = "2/2"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.interval = args.positional("INTERVAL", _positive_time, default=1.0)
        ether = args.keyword("ETHER", mac_address, default=None)
        self.window = args.keyword("WINDOW", unsigned, default=30)
        self.train = args.keyword("TRAIN", unsigned, default=16)
        self.train_size = args.keyword("TRAIN_SIZE", unsigned, default=1000)
        self.train_interval = args.keyword("TRAIN_INTERVAL", seconds, default=30.0)
        self.active = args.keyword("ACTIVE", boolean, default=True)
        args.finish()
        where = args.where
        if self.window < 2:
            raise ArgumentError(f"{where}: argument WINDOW: must be at least 2 requests")
        if self.train == 1 or self.train > 0xFFFF:
            raise ArgumentError(f"{where}: argument TRAIN: a train needs 2 to 65535 frames, "
                                "or 0 for none")
        if self.train_size < PROBE_LEN:
            raise ArgumentError(f"{where}: argument TRAIN_SIZE: at least {PROBE_LEN} bytes, "
                                "the probe header")
        self.sender_id = int.from_bytes(os.urandom(4), "big") or 1
        src = ether or b"\x02\x76\x66" + self.sender_id.to_bytes(4, "big")[1:]
        self._ether_header = PROBE_DST + src + ETHERTYPE.to_bytes(2, "big")
        self._timer = None
        self._pool = self._flat = self._type_at = None
        self._seq = 0
        self._train_id = 0
        self._next_train = 0.0
        self._reset()

    def _reset(self):
        self.sent = self.received = self.replies = 0
        # egress direction, from the replies
        self.rtt = self.rtt_last = None            # seconds
        self._last_reply_at = None
        self._requests_since_reply = 0
        self._reports = deque()                    # (highest seq seen by the peer, count)
        self.loss = None
        self.avail_bw = None                       # bit/s
        self.avail_bw_bound = False
        # ingress direction, from the peer's requests and trains
        self._peer = None
        self._rx_count = 0
        self._rx_max_seq = None
        self._rx_history = deque()
        self.rx_loss = None
        self._rx_train = None                      # [sender, id, length, i0, t0, i1, t1]
        self._rx_bw = (0, 0, 0)                    # (train id, bit/s, flags) to report
        self.rx_bw = None

    # -- life cycle ---------------------------------------------------------------
    def initialize(self):
        room = self.router.pool.slot_size - self.router.pool.headroom
        if self.train and self.train_size > room:
            raise HandlerError(f"{self.name}: TRAIN_SIZE {self.train_size} does not fit a "
                               f"{room}-byte packet slot")
        if self.active:
            # A random phase, so that the links of a lab do not all probe at once.
            self._arm(random.uniform(0.0, self.interval))

    def cleanup(self):
        self._disarm()

    def _arm(self, delay):
        self._disarm()
        self._timer = self.router.call_later(delay, self._tick)

    def _disarm(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self):
        self._timer = None
        if not self.active:
            return
        self._send_request()
        now = time.monotonic()
        if (self.train and self.train_interval > 0 and self._seq >= 2
                and now >= self._next_train):
            self._send_train()
            self._next_train = now + self.train_interval
        self._timer = self.router.call_later(self.interval, self._tick)

    # -- sending ------------------------------------------------------------------
    def _send_request(self):
        pool = self.router.pool
        if pool.n_free < 1:
            return
        batch = pool.alloc(1, PROBE_LEN)
        slot = int(batch.idx[0])
        o = int(pool.off[slot])
        frame = self._ether_header + HEADER.pack(MAGIC, VERSION, REQUEST, 0, self._seq,
                                                 self.sender_id, time.monotonic_ns(),
                                                 0, 0, 0, 0, 0, 0)
        pool.data[slot, o:o + PROBE_LEN] = np.frombuffer(frame, np.uint8)
        pool.ts_ns[slot] = time.time_ns()
        self._seq = (self._seq + 1) & _U32
        self._requests_since_reply += 1
        self.sent += 1
        self.emit(1, batch)

    def _send_train(self):
        pool = self.router.pool
        n, size = self.train, self.train_size
        if pool.n_free < n:
            return
        self._train_id = (self._train_id % _U32) + 1      # 0 means "no train"
        batch = pool.alloc(n, size)
        h = pool.headroom
        rows = pool.data[batch.idx, h:h + size]
        rows[:] = 0
        ts = time.monotonic_ns()
        header = b"".join(self._ether_header + HEADER.pack(MAGIC, VERSION, TRAIN, i,
                                                           self._train_id, self.sender_id, ts,
                                                           n, 0, 0, 0, 0, 0) for i in range(n))
        rows[:, :PROBE_LEN] = np.frombuffer(header, np.uint8).reshape(n, PROBE_LEN)
        pool.data[batch.idx, h:h + size] = rows
        pool.ts_ns[batch.idx] = time.time_ns()
        self.sent += n
        self.emit(1, batch)

    # -- the packet path ----------------------------------------------------------
    def passthrough(self, port):
        return 1 if port == 1 else None     # the router's frames pass as they are

    def passthrough_except(self, port):
        # Received frames other than probes go on untouched: a fused push skips
        # this element for a batch with no frame of the probe EtherType.
        return (0, ETHERTYPE) if port == 0 else None

    def push(self, port, batch):
        if port == 1:
            self.emit(1, batch)
            return
        idx = batch.idx
        if not len(idx):
            return
        pool = batch.pool
        if pool is not self._pool:
            self._bind(pool)
        if len(idx) <= 4:
            # A few frames (TCP super-frames, an idle ping): their bytes one by
            # one cost less than the gathers below.
            flat, off, size = self._flat, pool.off, pool.slot_size
            if all(flat.item(s * size + off.item(s) + 12) != ETHERTYPE >> 8 for s in idx.tolist()):
                self.emit(0, batch)
                return
        # The fast path: one gather of each frame's first EtherType byte.
        at = self._type_at.take(idx)
        at += pool.off.take(idx)
        first = self._flat.take(at)
        if _TYPE_HI not in first.tobytes():
            self.emit(0, batch)
            return
        probe = ((first == ETHERTYPE >> 8) & (self._flat.take(at + 1) == ETHERTYPE & 0xFF)
                 & (pool.length.take(idx) >= PROBE_LEN))
        for i in np.flatnonzero(probe).tolist():   # someone else's use of the EtherType?
            slot = int(idx[i])
            o = int(pool.off[slot]) + ETHER_HLEN
            if pool.data[slot, o:o + 6].tobytes() not in _OURS:
                probe[i] = False
        if not probe.any():
            self.emit(0, batch)
            return
        self.emit(0, Batch(pool, idx[~probe]))
        self._receive(pool, idx[probe])

    def _bind(self, pool):
        """Flat views of `pool` for the fast path: where each slot's EtherType
        would be at offset 0, and the slots' bytes as one vector."""
        self._pool = pool
        self._flat = pool.data.reshape(-1)
        self._type_at = np.arange(pool.n_slots, dtype=np.intp) * pool.slot_size + 12

    def _receive(self, pool, idx):
        now = time.monotonic_ns()
        replies, done = [], []
        for slot in idx.tolist():
            o = int(pool.off[slot]) + ETHER_HLEN
            (_, _, kind, index, seq, sender, ts, count, flags,
             rx_req, rx_max, bw_train, bw_bps) = HEADER.unpack_from(pool.data[slot], o)
            self.received += 1
            if kind == REPLY:
                if sender == self.sender_id:
                    self._on_reply(now, ts, rx_req, rx_max, bw_train, bw_bps, flags)
                done.append(slot)
            elif sender == self.sender_id:  # our own frame came back (a looped wire)
                done.append(slot)
            elif kind == REQUEST:
                self._on_request(sender, seq)
                tid, bps, bflags = self._rx_bw
                pool.data[slot, o - ETHER_HLEN:o + HEADER.size] = np.frombuffer(
                    self._ether_header + HEADER.pack(MAGIC, VERSION, REPLY, 0, seq, sender, ts,
                                                     0, bflags, self._rx_count & _U32,
                                                     self._rx_max_seq, tid, bps), np.uint8)
                pool.length[slot] = PROBE_LEN
                replies.append(slot)
            else:
                self._on_member(sender, seq, index, count, int(pool.length[slot]), now)
                done.append(slot)
        if done:
            pool.free(np.array(done, dtype=np.uint32))
        if replies:
            self.sent += len(replies)
            self.emit(1, Batch(pool, np.array(replies, dtype=np.uint32)))

    # -- measuring ----------------------------------------------------------------
    def _on_reply(self, now, ts, rx_req, rx_max, bw_train, bw_bps, flags):
        rtt = (now - ts) * 1e-9
        if rtt < 0:
            return
        self.replies += 1
        self._last_reply_at = now
        self._requests_since_reply = 0
        self.rtt_last = rtt
        self.rtt = rtt if self.rtt is None else self.rtt + EWMA_GAIN * (rtt - self.rtt)
        self.loss = _window_loss(self._reports, rx_max, rx_req, self.window, self.loss)
        if bw_train:
            self.avail_bw = float(bw_bps)
            self.avail_bw_bound = bool(flags & FLAG_LOWER_BOUND)

    def _on_request(self, sender, seq):
        if sender != self._peer:          # a new peer, or the peer restarted
            self._peer = sender
            self._rx_count = 0
            self._rx_max_seq = None
            self._rx_history.clear()
            self._rx_train = None
            self._rx_bw = (0, 0, 0)
        self._finish_train()              # a train goes right behind a request
        self._rx_count += 1
        if self._rx_max_seq is None or 0 < (seq - self._rx_max_seq) & _U32 < 1 << 31:
            self._rx_max_seq = seq
        self.rx_loss = _window_loss(self._rx_history, self._rx_max_seq, self._rx_count,
                                    self.window, self.rx_loss)

    def _on_member(self, sender, train_id, index, count, length, now):
        t = self._rx_train
        if t is None or t[0] != sender or t[1] != train_id:
            self._finish_train()
            t = self._rx_train = [sender, train_id, length, index, now, index, now]
        elif index > t[5]:
            t[5], t[6] = index, now
        if index >= count - 1:
            self._finish_train()

    def _finish_train(self):
        t, self._rx_train = self._rx_train, None
        if t is None:
            return
        _, train_id, length, i0, t0, i1, t1 = t
        if i1 <= i0:
            return
        spread = (t1 - t0) * 1e-9
        bound = spread < MIN_DISPERSION
        bps = (i1 - i0) * length * 8 / max(spread, MIN_DISPERSION)
        self._rx_bw = (train_id, min(int(bps), (1 << 64) - 1), FLAG_LOWER_BOUND if bound else 0)
        self.rx_bw = bps

    def _stale(self) -> bool:
        """No reply for STALE_INTERVALS requests while probing: the link lost them."""
        return self.active and self._requests_since_reply >= STALE_INTERVALS

    # -- handlers -----------------------------------------------------------------
    @read_handler("rtt_ms")
    def read_rtt_ms(self):
        return None if self.rtt is None else self.rtt * 1e3

    @read_handler("rtt_last_ms")
    def read_rtt_last_ms(self):
        return None if self.rtt_last is None else self.rtt_last * 1e3

    @read_handler("latency_ms")
    def read_latency_ms(self):
        return None if self.rtt is None else self.rtt * 500.0

    @read_handler("latency_last_ms")
    def read_latency_last_ms(self):
        return None if self.rtt_last is None else self.rtt_last * 500.0

    @read_handler("loss")
    def read_loss(self):
        if self.loss is not None and self._stale():
            return 1.0
        return self.loss

    @read_handler("rx_loss")
    def read_rx_loss(self):
        return self.rx_loss

    @read_handler("avail_bw_mbps")
    def read_avail_bw_mbps(self):
        return None if self.avail_bw is None else self.avail_bw / 1e6

    @read_handler("avail_bw_bound")
    def read_avail_bw_bound(self):
        return None if self.avail_bw is None else self.avail_bw_bound

    @read_handler("rx_bw_mbps")
    def read_rx_bw_mbps(self):
        return None if self.rx_bw is None else self.rx_bw / 1e6

    @read_handler("sent")
    def read_sent(self):
        return self.sent

    @read_handler("received")
    def read_received(self):
        return self.received

    @read_handler("replies")
    def read_replies(self):
        return self.replies

    @read_handler("interval")
    def read_interval(self):
        return self.interval

    @write_handler("interval")
    def write_interval(self, value):
        self.interval = _handler_value(_positive_time, value)
        if self.router is not None and self.active:
            self._arm(self.interval)

    @read_handler("train_interval")
    def read_train_interval(self):
        return self.train_interval

    @write_handler("train_interval")
    def write_train_interval(self, value):
        self.train_interval = _handler_value(seconds, value)
        self._next_train = 0.0

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        active = _handler_value(boolean, value)
        if active and not self.active and self.router is not None:
            self._requests_since_reply = 0
            self._arm(0.0)
        elif not active:
            self._disarm()
        self.active = active

    @write_handler("reset")
    def write_reset(self, value):
        self._reset()


def _window_loss(history: deque, max_seq: int, count: int, window: int, previous):
    """Loss over the last `window` sequence numbers, from cumulative reports
    (highest sequence number seen, packets received); `history` keeps them."""
    if max_seq is None:
        return previous
    if history and count < history[-1][1]:
        history.clear()                   # the counting end restarted
    if history:
        gap = (max_seq - history[-1][0]) & _U32
        if gap == 0 or gap >= 1 << 31:    # nothing newer than what we know
            return previous
    history.append((max_seq, count))
    while len(history) > 1 and (max_seq - history[1][0]) & _U32 >= window:
        history.popleft()
    seq0, count0 = history[0]
    span = (max_seq - seq0) & _U32
    if span == 0:
        return previous
    return min(1.0, max(0.0, 1.0 - (count - count0) / span))


def _handler_value(kind, value):
    try:
        return kind(value.strip())
    except ArgumentError as e:
        raise HandlerError(str(e)) from None

