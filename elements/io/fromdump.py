"""FromDump: replays the packets of a pcap file (tcpdump -w) into the graph."""
from __future__ import annotations

import os
import sys

import numpy as np

from vforward.args import ArgumentError, boolean, real, seconds, string, unsigned
from vforward.element import (Element, ElementError, HandlerError, PUSH_ONLY, read_handler,
                              write_handler)
from vforward.packet import Batch
from vforward.elements.io.pcapfile import PcapError, PcapReader, read_file_header

_ETHERTYPE_IP = 0x0800
_ETHERTYPE_VLAN = 0x8100


class FromDump(Element):
    """FromDump(FILENAME [, TIMING, KEYWORDS]) -- read packets from a pcap file

    Ports: no inputs; 1 push output, and with FORCE_IP an optional output 1
    for the packets that are not IPv4.

    Reads the records of FILENAME, a pcap file as `tcpdump -w` and ToDump
    write it (micro- or nanosecond timestamps, either byte order; a .gz
    file is decompressed), and pushes them out BURST at a time.  Each
    packet's ts_ns annotation is its record's timestamp.  The file's link
    type sets the encapsulation: ETHER (1) or IP (101 and 228, raw IPv4);
    other link types are passed on untouched (the `encap` handler names
    them) but cannot be used with FORCE_IP.  Every IPv4 packet gets its nh
    annotation (the IP header position: after the Ethernet header and one
    802.1Q tag, if any).

    At the end of the file, or of the time range below, FromDump calls
    END_CALL, or stops the router if STOP is true, or else just goes idle.
    A malformed record (a length past the end of the file or beyond any
    pcap record's) ends the reading the same way, after an error message
    naming the file and the byte offset; the packets before it are sent.

    With TIMING, packets leave at the pace they were captured at, relative
    to the first packet: a packet stamped 50 ms after the first goes 50 ms
    after the first went.  FromDump waits on loop timers, never sleeping.

    Unlike Click's FromDump, whose output is agnostic, the output is push
    only: put a Queue after FromDump to pull from it.  The whole file is
    mapped into memory; records longer than a pool slot are cut to fit.

    Arguments:
      FILENAME (string)                 the pcap file
      TIMING (boolean, default false)   replay at the capture's pace
      STOP (boolean, default false)     stop the router at the end; not with END_CALL
      ACTIVE (boolean, default true)    if false, send nothing until `active` is set
      SAMPLE (real in [0, 1], default 1)  send each packet with this probability
      FORCE_IP (boolean, default false) send only IPv4 packets; the others go
                                        to output 1 if connected, else are dropped
      START (real, seconds since 1970)  skip the leading packets stamped before it
      START_AFTER (time)                skip the first T of the capture
      END (real, seconds since 1970)    end at the first packet stamped at or after it
      END_AFTER (time)                  end T after the capture's first packet
      INTERVAL (time)                   end T after the first packet sent
      END_CALL (handler call)           at the end write a handler, "ELEMENT.HANDLER
                                        [VALUE]" or this element's "HANDLER [VALUE]";
                                        default: set `active` false
      BURST (integer, default 256)      most packets per round
      MMAP (boolean)                    accepted for Click configs; always mapped

    Handlers:
      count (read)           packets sent
      filename (read)        FILENAME
      filesize (read)        the file's size in bytes (decompressed)
      filepos (read)         byte offset of the next record
      encap (read)           ETHER, IP or LINKTYPE_<n>
      sampling_prob (read)   the SAMPLE probability
      error (read)           why reading ended early, or empty
      active (read/write)    whether it sends
      stop (write)           set `active` false and stop the router
    """
    PORTS = "0/1-2"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.filename = args.positional("FILENAME", string)
        self.timing = args.positional("TIMING", boolean, default=False)
        self.stop = args.keyword("STOP", boolean, default=False)
        self.active = args.keyword("ACTIVE", boolean, default=True)
        self.sample = args.keyword("SAMPLE", real, default=1.0)
        self.force_ip = args.keyword("FORCE_IP", boolean, default=False)
        start = args.keyword("START", real, default=None)
        start_after = args.keyword("START_AFTER", seconds, default=None)
        end = args.keyword("END", real, default=None)
        end_after = args.keyword("END_AFTER", seconds, default=None)
        interval = args.keyword("INTERVAL", seconds, default=None)
        self.end_call = args.keyword("END_CALL", string, default=None)
        self.burst = max(1, args.keyword("BURST", unsigned, default=256))
        args.keyword("MMAP", boolean, default=True)
        args.finish()
        where = args.where
        if not 0.0 <= self.sample <= 1.0:
            raise ArgumentError(f"{where}: argument SAMPLE: expected a probability between "
                                f"0 and 1, got {self.sample:g}")
        if start is not None and start_after is not None:
            raise ArgumentError(f"{where}: give START or START_AFTER, not both")
        if sum(x is not None for x in (end, end_after, interval)) > 1:
            raise ArgumentError(f"{where}: give at most one of END, END_AFTER and INTERVAL")
        if self.stop and self.end_call is not None:
            raise ArgumentError(f"{where}: give STOP or END_CALL, not both "
                                "(END_CALL can write the stop handler)")
        self._start = None if start is None else int(round(start * 1e9))
        self._start_after = None if start_after is None else int(round(start_after * 1e9))
        self._end = None if end is None else int(round(end * 1e9))
        self._end_after = None if end_after is None else int(round(end_after * 1e9))
        self._interval = None if interval is None else int(round(interval * 1e9))
        self.count = 0
        self.error = ""
        self._reader = None
        self._task = None
        self._timer = None
        self._done = False
        self._started = False
        self._end_ns = None
        self._origin = None       # (first packet's ts_ns, loop time it left) under TIMING
        self._rng = np.random.default_rng() if self.sample < 1.0 else None
        self._encap = None
        self._closed_at = None    # (filesize, filepos) once the file is closed

    # -- life cycle -----------------------------------------------------------
    def _where(self) -> str:
        loc = f"{self.location}: " if self.location is not None else ""
        return f"{loc}FromDump '{self.name}'"

    def initialize(self):
        try:
            self._reader = PcapReader(self.filename)
        except PcapError as e:
            raise ElementError(f"{self._where()}: {e}") from None
        self._encap = self._reader.encap
        try:
            if self.force_ip and self._encap not in ("ETHER", "IP"):
                raise ElementError(f"{self._where()}: FORCE_IP needs an ETHER or IP capture, "
                                   f"but '{self.filename}' has link type "
                                   f"{self._reader.linktype}")
            self._end_call = self._resolve_end_call() if self.end_call else None
        except ElementError:
            self.cleanup()
            raise
        first = self._reader.first_ts_ns()
        if first is not None:
            if self._start_after is not None:
                self._start = first + self._start_after
            if self._end_after is not None:
                self._end_ns = first + self._end_after
        if self._end is not None:
            self._end_ns = self._end
        self._task = self.router.new_task(self._run, self)
        if self.active:
            self._task.schedule()

    def _resolve_end_call(self):
        """(element, handler, value) for END_CALL, checked now rather than at the end."""
        target, _, value = self.end_call.strip().partition(" ")
        ename, dot, hname = target.rpartition(".")
        elem = self.router.element(ename) if dot else self
        if elem is None:
            raise ElementError(f"{self._where()}: END_CALL names element '{ename}', which "
                               "the configuration does not declare")
        h = elem.handlers().get(hname)
        if h is None or h.write is None:
            raise ElementError(f"{self._where()}: END_CALL names '{target}', but "
                               f"'{elem.name}' has no write handler '{hname}'")
        return elem, hname, value.strip()

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._reader is not None:
            self._closed_at = (self._reader.size, self._reader.pos)
            self._reader.close()
            self._reader = None

    # -- the task -----------------------------------------------------------
    def _run(self):
        if not self.active or self._done:
            return False
        reader = self._reader
        if not self._started:
            self._started = True
            if self._start is not None:
                reader.skip_before(self._start)
            if self._interval is not None:
                ts0 = reader.peek_ts_ns()
                if ts0 is not None:
                    self._end_ns = ts0 + self._interval
        pool = self.router.pool
        n = min(self.burst, pool.n_free)
        if n == 0:
            return True   # every slot is in flight; try again next round
        limit = self._end_ns
        if self.timing:
            ts = reader.peek_ts_ns()
            if ts is not None and (limit is None or ts < limit):
                now = self.router.now()
                if self._origin is None:
                    self._origin = (ts, now)
                ts0, t0 = self._origin
                due = t0 + (ts - ts0) / 1e9
                if due > now:
                    self._timer = self.router.call_at_monotonic(due, self._wake)
                    return False
                # Everything stamped up to now leaves in this round.
                horizon = ts0 + int((now - t0) * 1e9) + 1
                limit = horizon if limit is None else min(limit, horizon)
        batch = pool.alloc(n)
        k = reader.read_into(pool, batch.idx, limit)
        if k < n:
            pool.free(batch.idx[k:])
            batch.idx = batch.idx[:k]
        if k:
            self._send(batch)
        if reader.exhausted or (k < n and not self.timing) or self._past_end(reader):
            self._finish()
            return False
        return True

    def _past_end(self, reader) -> bool:
        if self._end_ns is None:
            return False
        ts = reader.peek_ts_ns()
        return ts is None or ts >= self._end_ns

    def _wake(self):
        self._timer = None
        self._task.schedule()

    def _send(self, batch: Batch) -> None:
        if self._rng is not None:
            keep = self._rng.random(len(batch.idx)) < self.sample
            if not keep.all():
                batch, dropped = batch.split(keep)
                dropped.kill()
        if not len(batch.idx):
            return
        is_ip = self._mark_ipv4(batch)
        if self.force_ip and is_ip is not None and not is_ip.all():
            batch, other = batch.split(is_ip)
            if self.n_outputs > 1:
                self.count += len(other.idx)
                self.emit(1, other)
            else:
                other.kill()
        self.count += len(batch.idx)
        self.emit(0, batch)

    def _mark_ipv4(self, batch: Batch):
        """Set nh on the IPv4 packets (fresh slots: data starts at the headroom);
        returns the mask of them, or None for a link type FromDump does not parse."""
        pool, idx = batch.pool, batch.idx
        h = pool.headroom
        length = pool.length[idx]
        data = pool.data
        if self._encap == "IP":
            is_ip = (length >= 20) & ((data[idx, h] >> 4) == 4)
            pool.nh[idx[is_ip]] = h
            return is_ip
        if self._encap != "ETHER":
            return None
        ethertype = (data[idx, h + 12].astype(np.uint16) << 8) | data[idx, h + 13]
        inner = (data[idx, h + 16].astype(np.uint16) << 8) | data[idx, h + 17]
        tagged = (ethertype == _ETHERTYPE_VLAN) & (inner == _ETHERTYPE_IP)
        nh = np.where(tagged, h + 18, h + 14).astype(np.uint16)
        version = data[idx, nh] >> 4
        is_ip = (((ethertype == _ETHERTYPE_IP) & (length >= 34)) | (tagged & (length >= 38))) \
            & (version == 4)
        pool.nh[idx[is_ip]] = nh[is_ip]
        return is_ip

    def _finish(self) -> None:
        """The end of the file or of the time range: report, then STOP / END_CALL / idle."""
        if self._done:
            return
        self._done = True
        reader = self._reader
        if reader.error:
            self.error = reader.error
            print(f"{self._where()}: {reader.error}; stopped reading after {reader.index} "
                  "records", file=sys.stderr)
        if reader.oversize:
            print(f"{self._where()}: {reader.oversize} records were longer than a packet "
                  f"slot ({self.router.pool.slot_size - self.router.pool.headroom} bytes) "
                  "and were cut", file=sys.stderr)
        if self.stop:
            self.active = False
            self.router.stop(1 if reader.error else 0)
        elif self._end_call is not None:
            elem, hname, value = self._end_call
            elem.write(hname, value)
        else:
            self.active = False

    # -- handlers ---------------------------------------------------------------
    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("filename")
    def read_filename(self):
        return self.filename

    @read_handler("filesize")
    def read_filesize(self):
        if self._reader is not None:
            return self._reader.size
        if self._closed_at is not None:
            return self._closed_at[0]
        try:
            return os.path.getsize(self.filename)
        except OSError:
            return ""

    @read_handler("filepos")
    def read_filepos(self):
        if self._reader is not None:
            return self._reader.pos
        return self._closed_at[1] if self._closed_at is not None else 0

    @read_handler("encap")
    def read_encap(self):
        # ToDump's USE_ENCAP_FROM may ask before this element has opened its file.
        if self._encap is None:
            try:
                self._encap = read_file_header(self.filename).encap
            except PcapError as e:
                raise HandlerError(str(e)) from None
        return self._encap

    @read_handler("sampling_prob")
    def read_sampling_prob(self):
        return self.sample

    @read_handler("error")
    def read_error(self):
        return self.error

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        self.active = boolean(value)
        if self.active and self._task is not None:
            self._task.schedule()

    @write_handler("stop")
    def write_stop(self, value):
        self.active = False
        if self.router is not None:
            self.router.stop()
