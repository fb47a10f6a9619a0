"""ShmLink: a virtual link between two routers in different processes of one machine.

The two ends share a memory region (a file under /dev/shm, mmap'd by both)
holding two descriptor rings, one per direction, in the manner of VPP's
memif; the data path is cext/shmring.pyx.  Region layout:

    0      header: magic "VFSHMLK1", slots (uint32), ring slot bytes (uint32),
           then per side a "polling" flag (uint32, offset 16) its receiver sets,
           then per side a "sleeping" flag (uint32, offset 24), see below
    64     ring 0 (side 0 -> side 1), then ring 1 (side 1 -> side 0), each:
             +0    head (uint64, the producer's counter)
             +64   tail (uint64, the consumer's counter)
             +128  SLOTS descriptors of 8 uint16
             then  SLOTS buffers of SLOT_SIZE bytes (64-byte aligned)

A doorbell wakes the receiver when it sleeps (interrupt mode, the default):
a named pipe per side (PATH.0, PATH.1), reachable by path from any process,
into which the sender writes a byte only when the receiver may be asleep:
a receiver that finds its ring empty sets its sleeping flag and looks at the
ring once more before it blocks; a sender, after a batch, takes the flag back
and rings only if it was set (cext/shmring.pyx: sleep, wake_needed).  So a
busy receiver costs its sender no system call, and a sleeping one one byte.
A receiver that polls (the router runs with --poll) sets its polling flag
and the sender rings no doorbell for it.
"""
from __future__ import annotations

import errno
import mmap
import os
import stat
import time

import numpy as np

from vforward.args import ArgumentError, boolean, seconds, string, unsigned
from vforward.element import PUSH_ONLY, Element, ElementError, read_handler, write_handler
from vforward.offload import software_offload
from vforward.packet import Batch

from vforward import kernels

_ring = kernels.load("shmring")

MAGIC = b"VFSHMLK1"
HEADER = 64
DESC_WORDS = 8


def region_size(slots: int, slot_size: int) -> int:
    return HEADER + 2 * _ring_bytes(slots, slot_size)


def _ring_bytes(slots: int, slot_size: int) -> int:
    return _data_offset(slots) + slots * slot_size


def _data_offset(slots: int) -> int:
    return (128 + slots * DESC_WORDS * 2 + 63) // 64 * 64


def _side(text: str) -> int:
    v = unsigned(text)
    if v > 1:
        raise ArgumentError(f"expected 0 or 1 (which end of the link), got {text!r}")
    return v


class ShmLink(Element):
    """ShmLink(PATH, SIDE [, KEYWORDS]) -- a virtual link to a router in another process, through shared memory

    Ports: 1 push input, 1 push output.

    One end of a virtual link whose other end is a ShmLink with the same
    PATH and the other SIDE (0 or 1) in another process on this machine.
    Packets pushed into the input are copied into a descriptor ring in the
    shared region at PATH (created by whichever end starts first) and leave
    the other end's output; its packets arrive the same way.  One copy in,
    one copy out, no system call for the data: the receiver is woken by a
    doorbell (a byte into a named pipe, PATH.0 or PATH.1) when it sleeps,
    and not at all when its router polls (--poll), as memif's interrupt and
    polling modes.  GSO super-frames cross whole when they fit SLOT_SIZE and
    are segmented first otherwise (vforward/offload.py).  Only the bytes and
    the offload state cross, as on a wire; other annotations do not.

    It plays the part EtherLinkEncap, Socket and EtherLinkDecap play
    together for a link between machines, so link conditions, probes,
    capture and counters are the elements around it, exactly as there.
    Packets that find the ring full are dropped and counted, as a NIC drops
    on a full queue (a slower receiver sheds load here rather than stalling
    its sender's other links); so are the packets sent while no process has
    the other end open, once the ring is full.  `vforward lab stats` adds
    these drops to the interface's (its wire_drops field).  A full ring also
    pushes back: this process reads none of its packet devices for HOLD
    (Router.hold_sources), so the surplus a flood brings stays in the
    devices, where the kernel drops it for nothing, instead of being read,
    forwarded and then dropped here, and the CPU goes to the slower side.

    Arguments:
      PATH (string)                 the shared region's file (e.g. under /dev/shm)
      SIDE (0 or 1)                 which end this is; the other end takes the other

    Keyword arguments:
      SLOTS (integer, default 256)        descriptors per direction (both ends alike)
      SLOT_SIZE (integer, default 65536)  bytes per ring buffer (both ends alike)
      BURST (integer, default 256)        most packets taken from the ring per turn
      HOLD (time, default 1ms)            devices left unread after the ring was
                                          found full; 0 drops without holding

    Handlers:
      count (read)        packets received from the other end
      tx_count (read)     packets put into the ring
      drops (read)        packets dropped: ring full, or too long
      doorbells (read)    doorbells rung (one per sleep of the other end, not per batch)
      full (read)         times a batch found the ring full
      hold (read/write)   HOLD, changeable while running (0 stops holding)
      path (read)         the region's file
      backlog (read)      packets waiting in the ring toward this end
      reset (write)       set the counters to zero
    """
    PORTS = "1/1"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.path = args.positional("PATH", string)
        self.side = args.positional("SIDE", _side)
        self.slots = args.keyword("SLOTS", unsigned, default=256)
        self.ring_slot = args.keyword("SLOT_SIZE", unsigned, default=65536)
        self.burst = args.keyword("BURST", unsigned, default=256)
        self.hold = args.keyword("HOLD", seconds, default=0.001)
        args.finish()
        if not 1 <= self.slots <= 1 << 20:
            raise ArgumentError(f"{args.where}: argument SLOTS: must be between 1 and 1048576")
        if not 64 <= self.ring_slot <= 1 << 20:
            raise ArgumentError(f"{args.where}: argument SLOT_SIZE: must be between 64 and 1048576")
        if self.burst < 1:
            raise ArgumentError(f"{args.where}: argument BURST: must be at least 1")
        self.count = self.tx_count = self.drops = self.doorbells = self.full = 0
        self._map = None
        self._bell_in = self._bell_out = None
        self._task = None

    def _where(self) -> str:
        loc = f"{self.location}: " if self.location is not None else ""
        return f"{loc}ShmLink '{self.name}'"

    # -- life cycle -----------------------------------------------------------------
    def initialize(self):
        size = region_size(self.slots, self.ring_slot)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as e:
            raise ElementError(f"{self._where()}: cannot open the shared region {self.path}: "
                               f"{e.strerror}; give a PATH in a writable directory such as /dev/shm") from None
        try:
            have = os.fstat(fd).st_size
            if have == 0:
                os.ftruncate(fd, size)
            elif have != size:
                raise ElementError(f"{self._where()}: {self.path} holds a region of {have} bytes, "
                                   f"this end expects {size} (SLOTS {self.slots}, SLOT_SIZE "
                                   f"{self.ring_slot}); give both ends the same, or remove the file")
            self._map = mmap.mmap(fd, size)
        finally:
            os.close(fd)
        header = np.frombuffer(self._map, np.uint8, HEADER, 0)
        shape = np.frombuffer(self._map, np.uint32, 2, 8)
        if not header[:8].any():
            shape[:] = (self.slots, self.ring_slot)
            header[:8] = np.frombuffer(MAGIC, np.uint8)
        elif header[:8].tobytes() != MAGIC or tuple(shape) != (self.slots, self.ring_slot):
            raise ElementError(f"{self._where()}: {self.path} is not a region of this shape; "
                               "remove the file")
        self._polling = np.frombuffer(self._map, np.uint32, 2, 16)
        self._sleeping = np.frombuffer(self._map, np.uint32, 2, 24)
        self._sleeping[self.side] = 0    # awake: the first turn drains, then sleeps properly
        self._out = self._ring_views(self.side)
        self._in = self._ring_views(1 - self.side)
        bell = f"{self.path}.{self.side}"
        _make_fifo(bell, self._where())
        self._bell_in = os.open(bell, os.O_RDONLY | os.O_NONBLOCK)
        self._polling[self.side] = 1 if self.router.poll else 0
        self._task = self.router.new_task(self._drain, self)
        # Not a source to hold: the doorbell brings the other end's packets.
        self.router.add_reader(self._bell_in, self._on_bell, poll=True, holdable=False)
        self._task.schedule()      # what the other end sent before we started

    def _ring_views(self, r: int):
        base = HEADER + r * _ring_bytes(self.slots, self.ring_slot)
        m = self._map
        return (np.frombuffer(m, np.uint64, 1, base), np.frombuffer(m, np.uint64, 1, base + 64),
                np.frombuffer(m, np.uint16, self.slots * DESC_WORDS, base + 128)
                .reshape(self.slots, DESC_WORDS),
                np.frombuffer(m, np.uint8, self.slots * self.ring_slot, base + _data_offset(self.slots))
                .reshape(self.slots, self.ring_slot))

    def cleanup(self):
        if self._bell_in is not None:
            self.router.remove_reader(self._bell_in)
            os.close(self._bell_in)
            self._bell_in = None
        if self._bell_out is not None:
            os.close(self._bell_out)
            self._bell_out = None
        self._out = self._in = self._polling = self._sleeping = None
        if self._map is not None:
            try:
                self._map.close()
            except BufferError:     # a view outlives us (a test holds one); the OS unmaps at exit
                pass
            self._map = None

    # -- sending ----------------------------------------------------------------------
    def push(self, port, batch):
        if self._map is None:
            self.drops += len(batch.idx)
            batch.kill()
            return
        if batch.pool._slots.max_length(batch.idx) > self.ring_slot:
            batch, dropped = software_offload(batch)
            self.drops += dropped
            long = batch.lengths() > self.ring_slot
            if long.any():
                self.drops += int(long.sum())
                Batch(batch.pool, batch.idx[long]).kill()
                batch = Batch(batch.pool, batch.idx[~long])
            if not len(batch.idx):
                return
        n = _ring.put(*self._out, batch.pool, batch.idx)
        self.tx_count += n
        if n < len(batch.idx):
            self.drops += len(batch.idx) - n
            self.full += 1
            if self.hold > 0.0:
                (self.router.group or self.router).hold_sources(self.hold)
        batch.kill()
        peer = 1 - self.side
        if n and not self._polling[peer] and _ring.wake_needed(self._sleeping, peer):
            self._ring_bell()

    def _ring_bell(self) -> None:
        if self._bell_out is None:
            try:
                self._bell_out = os.open(f"{self.path}.{1 - self.side}", os.O_WRONLY | os.O_NONBLOCK)
            except OSError:          # the other end is not there yet: it drains the ring when it starts
                return
        try:
            os.write(self._bell_out, b"\1")
            self.doorbells += 1
        except BlockingIOError:      # the pipe is full of rings already: the receiver will wake
            pass
        except OSError as e:
            if e.errno == errno.EPIPE:   # the other end went away; reopen when it is back
                os.close(self._bell_out)
                self._bell_out = None

    # -- receiving --------------------------------------------------------------------------
    def _on_bell(self):
        if not self.router.poll:
            try:
                os.read(self._bell_in, 4096)
            except BlockingIOError:
                pass
        if self._drain():
            self._task.schedule()

    def _drain(self):
        if self._in is None:
            return False
        pool = self.router.pool
        idx = _ring.get(*self._in, pool, self.burst)
        if len(idx):
            pool.ts_ns[idx] = time.time_ns()
            self.count += len(idx)
            self.emit(0, Batch(pool, idx))
            if len(idx) == self.burst:
                return True          # more may wait: another turn, after the other work
        if self.router.poll or self._in is None:
            return False             # polled every turn: never asleep, never rung
        # about to block: tell the sender to ring, unless packets came meanwhile
        return not _ring.sleep(self._sleeping, self.side, self._in[0], self._in[1])

    # -- handlers ------------------------------------------------------------------------------
    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("tx_count")
    def read_tx_count(self):
        return self.tx_count

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("doorbells")
    def read_doorbells(self):
        return self.doorbells

    @read_handler("full")
    def read_full(self):
        return self.full

    @read_handler("hold")
    def read_hold(self):
        return f"{self.hold * 1e3:g}ms"

    @write_handler("hold")
    def write_hold(self, value):
        self.hold = seconds(value.strip())

    @read_handler("path")
    def read_path(self):
        return self.path

    @read_handler("backlog")
    def read_backlog(self):
        if self._in is None:
            return 0
        return int(self._in[0][0]) - int(self._in[1][0])

    @write_handler("reset")
    def write_reset(self, value):
        self.count = self.tx_count = self.drops = self.doorbells = self.full = 0


def _make_fifo(path: str, where: str) -> None:
    try:
        os.mkfifo(path, 0o600)
    except FileExistsError:
        if not stat.S_ISFIFO(os.stat(path).st_mode):
            raise ElementError(f"{where}: {path} exists and is not a named pipe; remove it") from None
    except OSError as e:
        raise ElementError(f"{where}: cannot make the doorbell {path}: {e.strerror}") from None
