"""FromIPSummaryDump: packets made from the lines of an IP summary dump."""
from __future__ import annotations

import sys

import numpy as np

from vforward.args import ArgumentError, boolean, string, unsigned, word
from vforward.element import AGNOSTIC, Element, ElementError, read_handler, write_handler

from .ipsumdump_fields import (PROTO_ICMP, PROTO_TCP, PROTO_UDP, FieldError, PacketSpec,
                               canonical, split_line)


def _proto(text: str) -> int:
    t = word(text).upper()
    named = {"T": PROTO_TCP, "TCP": PROTO_TCP, "U": PROTO_UDP, "UDP": PROTO_UDP,
             "I": PROTO_ICMP, "ICMP": PROTO_ICMP}
    if t in named:
        return named[t]
    try:
        return int(t, 0)
    except ValueError:
        raise ArgumentError(f"expected T, U, I or a protocol number, got {text!r}") from None


def _set_checksums(pool, idx):
    """IP, TCP and UDP checksums by the shared kernels; ICMP's here (rare, and short)."""
    from vforward.elements.ip.icmperror import _checksum
    from vforward.elements.ip.ipfields import ipheader
    ipheader.set_ip_checksum(pool, idx)
    ipheader.set_transport_checksum(pool, idx)
    for slot in idx.tolist():
        nh, end = int(pool.nh[slot]), int(pool.off[slot]) + int(pool.length[slot])
        hl = (int(pool.data[slot, nh]) & 15) * 4
        if pool.data[slot, nh + 9] == PROTO_ICMP and nh + hl + 4 <= end:
            pool.data[slot, nh + hl + 2:nh + hl + 4] = 0
            c = _checksum(pool.data[slot, nh + hl:end].tobytes())
            pool.data[slot, nh + hl + 2] = c >> 8
            pool.data[slot, nh + hl + 3] = c & 0xFF


class FromIPSummaryDump(Element):
    """FromIPSummaryDump(FILENAME [, KEYWORDS]) -- packets from an IP summary dump

    Ports: no inputs, 1 or 2 outputs; agnostic (output 1, if any, is push).

    Reads FILENAME, a text file in Click's IP summary dump format (what
    ToIPSummaryDump writes): one packet a line, its columns named by a
    `!data` line, e.g.

      !data ip_src sport ip_dst dport proto payload
      10.0.0.1 1024 10.0.0.2 80 T "GET /"

    and makes each line an IPv4 packet (TCP, UDP or ICMP) with those header
    fields, network header annotation at its start and the destination
    annotation set.  Fields a line leaves out, or gives as '-', are zero
    (TTL 100, the protocol PROTO).  An `ip_len` larger than what the line
    builds is written into the IP header (as a truncated capture shows it).
    Lines starting with '!' or '#' are not packets; a line that cannot be
    read is reported once and skipped.  Fields: see ToIPSummaryDump.

    Pushes one packet per turn of the task loop (so two dumps interleave as
    in Click), or gives them to a puller.  With TIMING, pushed packets keep
    the dump's pace: each leaves its timestamp less the first packet's
    after the first one left (on the virtual clock under --simtime).

    Arguments:
      FILENAME (string)               the dump to read ('-': standard input)
      DATA (string)                   the dump itself, instead of FILENAME
      STOP (boolean, default false)   stop the router at the end of the file
      ACTIVE (boolean, default true)  whether to send
      PROTO (T, U, I or number, default T)   protocol for lines without one
      FIELDS / CONTENTS (words)       columns, when the file has no !data line
      CHECKSUM (boolean, default false)   compute the IP, TCP, UDP, ICMP checksums
      ZERO (boolean, default true)    accepted; packets are always zeroed
      BURST (integer, default 1)      packets per turn when pushing
      TIMING (boolean, default false) push at the timestamps' pace

    Handlers:
      active (read/write)   whether it sends
      count (read)          packets sent
      filename (read)       FILENAME
      stop (write)          stop sending; the router stops if STOP is true
    """
    PORTS = "0/1-2"
    PROCESSING = "a/ah"

    def configure(self, args):
        self.filename = args.positional("FILENAME", string, default=None)
        self.data = args.keyword("DATA", string, default=None)
        self.stop = args.keyword("STOP", boolean, default=False)
        self.active = args.keyword("ACTIVE", boolean, default=True)
        self.proto = args.keyword("PROTO", _proto, default=PROTO_TCP)
        fields = args.keyword("FIELDS", string, default=None)
        contents = args.keyword("CONTENTS", string, default=None)
        args.keyword("DEFAULT_CONTENTS", string, default=None)
        args.keyword("DEFAULT_FIELDS", string, default=None)
        self.checksum = args.keyword("CHECKSUM", boolean, default=False)
        args.keyword("ZERO", boolean, default=True)
        self.timing = args.keyword("TIMING", boolean, default=False)
        args.keyword("SAMPLE", string, default=None)
        args.keyword("MULTIPACKET", boolean, default=False)
        self.burst = max(1, args.keyword("BURST", unsigned, default=1))
        args.finish()
        if (self.filename is None) == (self.data is None):
            raise ArgumentError(f"{args.where}: give FILENAME or DATA (the dump itself), "
                                "one of them")
        self.fields = None
        given = fields or contents
        if given:
            try:
                self.fields = [canonical(f) for f in given.split()]
            except FieldError as e:
                raise ArgumentError(f"{args.where}: {e}") from None
        self.count = 0
        self._lines = None
        self._lineno = 0
        self._complained = False
        self._done = False
        self._held = None           # a packet read ahead under TIMING, not yet due
        self._origin = None         # (first packet's ts_ns, router time it left)
        self._timer = None

    def initialize(self):
        if self.data is not None:
            import io
            self._lines = io.StringIO(self.data)
            self.filename = "<DATA>"
            f = self._lines
        try:
            if self.data is None:
                f = sys.stdin if self.filename == "-" else open(self.filename, errors="replace")
        except OSError as e:
            raise ElementError(f"{self.location}: {self.name} :: FromIPSummaryDump: "
                               f"{self.filename}: {e.strerror}") from None
        self._lines = f
        if self.output_processing and self.output_processing[0] == "h":
            self._task = self.router.new_task(self._run, self)
            if self.active:
                self._task.schedule()
        else:
            self._task = None

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._lines is not None and self._lines is not sys.stdin:
            self._lines.close()
        self._lines = None

    def _complain(self, message: str):
        if not self._complained:
            self._complained = True
            print(f"{self.filename}:{self._lineno}: {message}", file=sys.stderr)

    def _next_packet(self):
        """(bytes, annotations) of the next packet line, or None at the end."""
        while self._lines is not None:
            line = self._lines.readline()
            if not line:
                return None
            self._lineno += 1
            text = line.strip()
            if not text:
                continue
            if text.startswith("!"):
                word0, _, rest = text.partition(" ")
                if word0 in ("!data", "!contents"):
                    try:
                        self.fields = [canonical(f) for f in split_line(rest)]
                    except FieldError as e:
                        self._complain(str(e))
                        self.fields = []
                elif word0 == "!proto":
                    try:
                        self.proto = _proto(rest.strip())
                    except ArgumentError:
                        pass
                continue
            if text.startswith("#"):
                continue
            if not self.fields:
                self._complain("no '!data' provided")
                continue
            spec = PacketSpec(self.proto)
            try:
                for field, col in zip(self.fields, split_line(text)):
                    spec.set(field, col)
                return spec.build()
            except (ValueError, KeyError, FieldError, OverflowError) as e:
                self._complain(f"packet parse error ({e})")
        return None

    def _make(self, n: int):
        pool = self.router.pool
        made = []
        for _ in range(n):
            nxt = self._held if self._held is not None else self._next_packet()
            self._held = None
            if nxt is None:
                break
            if self.timing and self._task is not None and not self._due(nxt):
                self._held = nxt
                break
            made.append(nxt)
        if not made:
            return None
        batch = pool.alloc(len(made))
        for slot, (data, anno) in zip(batch.idx.tolist(), made):
            off = int(pool.off[slot])
            pool.data[slot, off:off + len(data)] = np.frombuffer(data, dtype=np.uint8)
            pool.length[slot] = len(data)
            pool.nh[slot] = off
            pool.paint[slot] = anno["paint"] & 0xFF
            pool.ts_ns[slot] = anno["ts_ns"]
            pool.dst_ip[slot] = anno["dst_ip"]
        if self.checksum:
            _set_checksums(pool, batch.idx)
        self.count += len(made)
        return batch

    def _due(self, packet) -> bool:
        """TIMING: whether packet's time has come (its timestamp less the first
        one's, after the first one left); if not, wake the task when it does."""
        ts = packet[1]["ts_ns"]
        now = self.router.now()
        if self._origin is None:
            self._origin = (ts, now)
        ts0, t0 = self._origin
        due = t0 + (ts - ts0) / 1e9
        if due <= now:
            return True
        if self._timer is None:
            self._timer = self.router.call_at_monotonic(due, self._wake)
        return False

    def _wake(self):
        self._timer = None
        if self.active and not self._done:
            self._task.schedule()

    def _finish(self):
        if not self._done:
            self._done = True
            if self.stop:
                self.router.stop(drain=True)

    def _run(self):
        if not self.active or self._done:
            return False
        batch = self._make(self.burst)
        if batch is None:
            if self._held is None:
                self._finish()
            return False            # (TIMING: the timer wakes it for the next packet)
        self.emit(0, batch)
        return True

    def pull(self, port, max_n):
        if not self.active or self._done:
            return None
        batch = self._make(max(1, min(max_n, self.burst)))
        if batch is None:
            self._finish()
        return batch

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        self.active = boolean(value)
        if self.active and self._task is not None:
            self._task.schedule()

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("filename")
    def read_filename(self):
        return self.filename

    @write_handler("stop")
    def write_stop(self, value):
        self.active = False
        self._finish()
