"""ToDump: writes the packets it sees to a pcap file (tcpdump -r reads it)."""
from __future__ import annotations

import os
import sys

from vforward.args import ArgumentError, anything, boolean, string, unsigned, word
from vforward.element import AGNOSTIC, Element, ElementError, HandlerError, read_handler
from vforward.elements.io.pcapfile import PcapError, PcapWriter, encap_linktype, encap_name


class ToDump(Element):
    """ToDump(FILENAME [, KEYWORDS]) -- write packets to a pcap file

    Ports: 1 input, 0 or 1 output; agnostic.

    Writes each packet it receives to FILENAME as a pcap record, the format
    of `tcpdump -w`, that tcpdump, tshark and FromDump read.  A record's
    timestamp is the packet's ts_ns annotation, or the current time if that
    is 0; its bytes are the packet's from its current start (put a Strip
    before an ENCAP IP ToDump to drop the link header), at most SNAPLEN of
    them; its wire length is the packet's length.  Each batch becomes one
    write; the file is flushed and closed when the router shuts down.
    A TCP super-frame from a device with offloads is written whole, with
    its checksum unfinished, as tcpdump shows it on such a device.

    On a push input, packets go on to the output if one is connected and
    are freed otherwise.  On a pull input with no output, ToDump pulls
    whenever the Queue upstream has packets (as Discard does); with a pull
    output, it writes what its puller pulls through it.

    FILENAME "-" writes to standard output.  Two ToDumps cannot write the
    same file: the graph check refuses it.

    Arguments:
      FILENAME (string)                   the file to write (truncated first)
      SNAPLEN (integer, default 2000)     most bytes kept per packet; 0 for all
      ENCAP (ETHER or IP, default ETHER)  the link type recorded in the file
                                          (IP writes 101, raw IPv4)
      USE_ENCAP_FROM (element names)      take ENCAP from these elements' `encap`
                                          handlers (FromDumps); they must agree
      NANO (boolean, default false)       nanosecond timestamps instead of microseconds
      UNBUFFERED (boolean, default false) write every batch through to the file at once
      BURST (integer, default 256)        most packets per pull on a pull input

    Handlers:
      filename (read)   FILENAME
      count (read)      packets written
      encap (read)      the encapsulation written
    """
    PORTS = "1/0-1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.filename = args.positional("FILENAME", string)
        self.snaplen = args.keyword("SNAPLEN", unsigned, default=2000)
        encap = args.keyword("ENCAP", word, default=None)
        self.use_encap_from = args.keyword("USE_ENCAP_FROM", anything, default=None)
        self.nano = args.keyword("NANO", boolean, default=False)
        self.unbuffered = args.keyword("UNBUFFERED", boolean, default=False)
        self.burst = max(1, args.keyword("BURST", unsigned, default=256))
        args.finish()
        if encap is not None and self.use_encap_from is not None:
            raise ArgumentError(f"{args.where}: give ENCAP or USE_ENCAP_FROM, not both")
        try:
            self.linktype = encap_linktype(encap or "ETHER")
        except ValueError as e:
            raise ArgumentError(f"{args.where}: argument ENCAP: {e}") from None
        if not self.filename:
            raise ArgumentError(f"{args.where}: argument FILENAME: give a file name")
        self._writer = None
        self._task = None
        self._count = 0
        self._failed = False

    def exclusive_resource(self):
        """One file, one writer: two ToDumps on a file would interleave garbage."""
        if self.filename == "-":
            return ("file", "<standard output>")
        return ("file", os.path.abspath(self.filename))

    def _where(self) -> str:
        loc = f"{self.location}: " if self.location is not None else ""
        return f"{loc}ToDump '{self.name}'"

    def initialize(self):
        if self.use_encap_from is not None:
            self.linktype = self._encap_from(self.use_encap_from)
        stream = sys.stdout.buffer if self.filename == "-" else None
        try:
            self._writer = PcapWriter(self.filename, self.linktype, self.snaplen, self.nano,
                                      self.unbuffered, stream=stream)
        except PcapError as e:
            raise ElementError(f"{self._where()}: {e}") from None
        if self.input_processing[0] == "l" and self.n_outputs == 0:
            self._task = self.router.new_task(self._run, self)
            for q in self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener")):
                q.add_listener(self._task)
            self._task.schedule()

    def _encap_from(self, names: str) -> int:
        found = {}
        for name in names.replace(",", " ").split():
            elem = self.router.element(name)
            if elem is None or "encap" not in elem.handlers():
                what = "is not declared" if elem is None else "has no encap handler"
                raise ElementError(f"{self._where()}: USE_ENCAP_FROM names '{name}', "
                                   f"which {what}")
            try:
                found[name] = elem.read("encap")
            except HandlerError as e:
                raise ElementError(f"{self._where()}: USE_ENCAP_FROM {name}: {e}") from None
        if not found:
            raise ElementError(f"{self._where()}: USE_ENCAP_FROM names no element")
        if len(set(found.values())) > 1:
            listed = ", ".join(f"{n} is {v}" for n, v in found.items())
            raise ElementError(f"{self._where()}: USE_ENCAP_FROM elements disagree "
                               f"({listed}); write each encapsulation to its own file")
        value = next(iter(found.values()))
        try:
            return encap_linktype(value)
        except ValueError as e:
            raise ElementError(f"{self._where()}: USE_ENCAP_FROM: {e}") from None

    def cleanup(self):
        if self._writer is not None:
            writer, self._writer = self._writer, None
            try:
                writer.close()
            except OSError as e:
                if self._failed:
                    return   # already reported when writing failed
                raise ElementError(f"{self._where()}: closing '{self.filename}': {e}") \
                    from None

    # -- packet flow ----------------------------------------------------------
    def _write(self, batch) -> None:
        if self._writer is None or self._failed:
            return
        try:
            self._writer.write_batch(batch.pool, batch.idx)
            self._count += len(batch.idx)
        except PcapError as e:
            # A full disk must not take the router down; say it once and stop writing.
            self._failed = True
            try:
                print(f"{self._where()}: {e}; writing stopped", file=sys.stderr)
            except OSError:
                pass   # stderr shares the broken pipe (ToDump(-) | head)

    def push(self, port, batch):
        self._write(batch)
        if self.n_outputs:
            self.emit(0, batch)
        else:
            batch.kill()

    def pull(self, port, max_n):
        batch = self.pull_input(0, max_n)
        if batch is None:
            return None
        self._write(batch)
        return batch

    def _run(self):
        batch = self.pull_input(0, self.burst)
        if batch is None:
            return False
        self._write(batch)
        batch.kill()
        return True

    # -- handlers ---------------------------------------------------------------
    @read_handler("filename")
    def read_filename(self):
        return self.filename

    @read_handler("count")
    def read_count(self):
        return self._count

    @read_handler("encap")
    def read_encap(self):
        return encap_name(self.linktype)
