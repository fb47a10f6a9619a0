"""IPRateMonitor: traffic rates per address, zooming into busy networks."""
from __future__ import annotations

import random

import numpy as np

from vforward.args import ArgumentError, boolean, integer, ip_address, real, unsigned, word
from vforward.element import AGNOSTIC, Element, HandlerError, read_handler, write_handler

from vforward.elements.ip.ipfields import ip_header_mask

EPOCH = 0.08                 # seconds per EWMA epoch: Click's 8 jiffies at 100 Hz
EPOCHS_PER_SECOND = 1 / EPOCH
STABILITY = 1 / 32           # weight of a new epoch (Click's stability shift 5)
COUNTER_BYTES = 64           # what one counter is charged against MEMORY
MEMORY_MIN_KB = 100          # Click's smallest memory limit


class _Counter:
    """Forward and reverse rates of one address prefix (/8, /16, /24 or /32)."""
    __slots__ = ("avg", "count", "epoch", "children", "frozen_until")

    def __init__(self, epoch: int, avg=(0.0, 0.0)):
        self.avg = list(avg)         # per-epoch EWMA, forward and reverse
        self.count = [0, 0]          # samples in the current epoch
        self.epoch = epoch
        self.children = None         # next level: byte -> _Counter, once opened
        self.frozen_until = 0.0      # anno_level: do not open the next level before

    def fold(self, epoch: int) -> None:
        """Bring the averages to `epoch`: the finished epoch, then idle ones."""
        gone = epoch - self.epoch
        if gone <= 0:
            return
        for i in (0, 1):
            a = self.avg[i] + (self.count[i] - self.avg[i]) * STABILITY
            self.avg[i] = a * (1 - STABILITY) ** (gone - 1)
        self.count = [0, 0]
        self.epoch = epoch

    def rates(self, epoch: int) -> tuple[float, float]:
        """Rates per second, forward and reverse."""
        self.fold(epoch)
        return self.avg[0] * EPOCHS_PER_SECOND, self.avg[1] * EPOCHS_PER_SECOND


class IPRateMonitor(Element):
    """IPRateMonitor(TYPE, RATIO, THRESH [, MEMORY, ANNO]) -- measure IP traffic rates per address

    Ports: 1 or 2 inputs, as many outputs; agnostic.

    Measures packet or byte rates (per second) from and to IP addresses,
    and passes packets on unchanged (input i to output i).  Packets on
    input 0 count towards the forward rate of their source address;
    packets on input 1 towards the reverse rate of their destination.

    Rates are kept per network first (the address's first byte); when a
    network's forward or reverse rate exceeds THRESH, the monitor opens the
    next level and keeps rates per subnet below it (first two bytes), and
    so on down to hosts, so that busy parts of the address space are seen
    in detail at little memory.  Each rate is an exponentially weighted
    moving average over 80 ms epochs (weight 1/32, as Click's).

    With ANNO, each packet's fwd_rate and rev_rate annotations get the
    rates of the deepest level its address reached (what Block reads).
    Packets without a whole IP header at the network header pass
    uncounted.

    Click 1 configurations wrote a first argument SRC or DST (which address
    input 0 inspects); it is accepted.

    Arguments:
      TYPE (PACKETS or BYTES)   what is counted
      RATIO (real 0..1)         chance that a packet updates the rates
                                (sampling); THRESH is compared as if 1
      THRESH (integer)          rate above which a level is opened below an address
      MEMORY (integer, default 0)   kilobytes the counters may use (at least
                                100; 0: unlimited); when used up, no further
                                level opens (Click also folds idle levels to
                                make room, vforward does not)
      ANNO (boolean, default true)   set the rate annotations

    Handlers:
      look (read)        the time since the last reset in jiffies (100 a
                         second), then one line per address prefix with a
                         rate: prefix, forward rate, reverse rate; lower
                         levels indented under their network
      thresh (read)      THRESH
      mem (read)         bytes the counters use
      memmax (read/write)  the memory limit (kilobytes)
      reset (write)      forget every rate
      anno_level (write)  `ADDR LEVEL SECONDS`: open no level below LEVEL
                         (0-3) of ADDR for SECONDS

    See also: Block.
    """
    PORTS = "1-2/1-2"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        first = args.raw[0].strip().upper() if args.raw else ""
        self.input0_address = "src"
        if first in ("SRC", "DST"):
            self.input0_address = args.positional("WHICH", word).lower()
        what = args.mandatory("TYPE", word).upper()
        if what not in ("PACKETS", "BYTES"):
            raise ArgumentError(f"{args.where}: argument TYPE: expected PACKETS or BYTES, "
                                f"got {what!r}")
        self.count_bytes = what == "BYTES"
        self.ratio = args.mandatory("RATIO", real)
        if not 0 <= self.ratio <= 1:
            raise ArgumentError(f"{args.where}: argument RATIO: {self.ratio} is not between 0 and 1")
        self.thresh = args.mandatory("THRESH", integer)
        self.memmax = self._memmax(args.positional("MEMORY", unsigned, default=0))
        self.anno = args.positional("ANNO", boolean, default=True)
        args.finish()
        self.random = random.Random()
        self._reset()

    @staticmethod
    def _memmax(kb: int) -> int:
        return max(kb, MEMORY_MIN_KB) if kb else 0

    def initialize(self):
        self._reset()

    def _now(self) -> float:
        return self.router.now() if self.router is not None else 0.0

    def _reset(self):
        self.base: dict[int, _Counter] = {}
        self.n_counters = 0
        self.reset_time = self._now()

    def _room(self) -> bool:
        return not self.memmax or (self.n_counters + 1) * COUNTER_BYTES <= self.memmax * 1024

    def _update(self, addr: int, val: int, forward: bool, sampled: bool,
                epoch: int, now: float) -> tuple[float, float]:
        level, parent = self.base, None
        c = None
        for shift in (24, 16, 8, 0):
            byte = (addr >> shift) & 0xFF
            c = level.get(byte)
            if c is None:
                if not self._room():
                    c = parent
                    break
                # a new counter in a level just opened starts from its parent's average
                c = _Counter(epoch, parent.avg if parent is not None and len(level) == 0 else (0, 0))
                level[byte] = c
                self.n_counters += 1
            c.fold(epoch)
            if sampled:
                c.count[0 if forward else 1] += val
            if c.children is None:
                fwd, rev = c.rates(epoch)
                if shift and max(fwd, rev) > self.thresh * self.ratio and \
                        now >= c.frozen_until and self._room():
                    c.children = {}
                return fwd, rev
            level, parent = c.children, c
        if c is None:
            return 0.0, 0.0
        return c.rates(epoch)

    def push(self, port, batch):
        out = self._inspect(port, batch)
        if out is not None:
            self.emit(port, out)

    def pull(self, port, max_n):
        batch = self.pull_input(port, max_n)
        return None if batch is None else self._inspect(port, batch)

    def process(self, batch):
        return self._inspect(0, batch)

    def _inspect(self, port, batch):
        pool, idx = batch.pool, batch.idx
        if not len(idx):
            return batch
        ok = idx[ip_header_mask(pool, idx)]
        if not len(ok):
            return batch
        forward = port == 0
        which = self.input0_address if forward else ("dst" if self.input0_address == "src" else "src")
        now = self._now()
        epoch = int(now / EPOCH)
        nh = pool.nh[ok].astype(np.int64)
        at = nh[:, None] + (np.arange(12, 16) if which == "src" else np.arange(16, 20))
        b = pool.data[ok[:, None], at].astype(np.uint32)
        addrs = ((b[:, 0] << 24) | (b[:, 1] << 16) | (b[:, 2] << 8) | b[:, 3]).tolist()
        if self.count_bytes:
            vals = ((pool.data[ok, nh + 2].astype(np.int64) << 8) | pool.data[ok, nh + 3]).tolist()
        else:
            vals = [1] * len(addrs)
        sample = self.ratio >= 1 or None
        fwd_out = np.empty(len(addrs), dtype=np.int32)
        rev_out = np.empty(len(addrs), dtype=np.int32)
        for i, (addr, val) in enumerate(zip(addrs, vals)):
            sampled = sample or self.random.random() < self.ratio
            fwd, rev = self._update(addr, val, forward, sampled, epoch, now)
            fwd_out[i], rev_out[i] = int(fwd), int(rev)
        if self.anno:
            pool.fwd_rate[ok] = fwd_out
            pool.rev_rate[ok] = rev_out
        return batch

    # -- handlers ------------------------------------------------------------

    def _print(self, level: dict, prefix: str, indent: str, epoch: int) -> list[str]:
        lines = []
        for byte in sorted(level):
            c = level[byte]
            fwd, rev = c.rates(epoch)
            if fwd <= 0 and rev <= 0:
                continue
            name = f"{prefix}.{byte}" if prefix else str(byte)
            lines.append(f"{indent}{name}\t{fwd:.0f}\t{rev:.0f}")
            if c.children:
                lines += self._print(c.children, name, indent + "\t", epoch)
        return lines

    @read_handler("look")
    def read_look(self):
        now = self._now()
        jiffies = int((now - self.reset_time) * 100)
        return "\n".join([str(jiffies)] + self._print(self.base, "", "", int(now / EPOCH)))

    @read_handler("thresh")
    def read_thresh(self):
        return self.thresh

    @read_handler("mem")
    def read_mem(self):
        return self.n_counters * COUNTER_BYTES

    @read_handler("memmax")
    def read_memmax(self):
        return self.memmax

    @write_handler("memmax")
    def write_memmax(self, value):
        try:
            self.memmax = self._memmax(unsigned(value.strip()))
        except ArgumentError as e:
            raise HandlerError(f"memmax: {e}") from None

    @write_handler("reset")
    def write_reset(self, _value=""):
        self._reset()

    @write_handler("anno_level")
    def write_anno_level(self, value):
        words = value.split()
        try:
            if len(words) != 3:
                raise ArgumentError("expected ADDR LEVEL SECONDS")
            addr, level_no, secs = ip_address(words[0]), integer(words[1]), real(words[2])
            if not 0 <= level_no <= 3:
                raise ArgumentError(f"LEVEL {level_no} is not between 0 and 3")
        except ArgumentError as e:
            raise HandlerError(f"anno_level: {e}, such as '18.26.4.0 2 100'") from None
        level = self.base
        for shift in (24, 16, 8, 0):
            c = level.get((addr >> shift) & 0xFF)
            if c is None:
                return
            if level_no == 0:
                c.frozen_until = self._now() + secs
                c.children = None
                return
            if c.children is None:
                return
            level, level_no = c.children, level_no - 1
