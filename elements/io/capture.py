"""Capture: copies the packets passing it to a pcap file while started."""
import time

from vforward.args import ArgumentError, string, unsigned
from vforward.element import AGNOSTIC, Element, HandlerError, read_handler, write_handler
from vforward.elements.io.pcapfile import LINKTYPE_ETHERNET, PcapError, PcapWriter


def _stamp(text: str) -> bool:
    """packet (False) or pass (True)."""
    t = text.strip().lower()
    if t not in ("packet", "pass"):
        raise ArgumentError(f"expected packet or pass, got {text!r}")
    return t == "pass"


class Capture(Element):
    """Capture([FILENAME, KEYWORDS]) -- write passing packets to a pcap file on demand

    Ports: any number of inputs, as many outputs; agnostic.

    Packets arriving on input i leave unchanged on output i; while a capture
    is running, a copy of each is written to one pcap file (Ethernet
    frames), so the two directions of an interface land in one capture in
    the order they passed.  A capture starts at initialization when FILENAME
    is given, or later when a file name is written to `start`; `stop`
    flushes and closes the file so that tcpdump and tshark can read it.
    This is how `vforward topo capture` sees transit traffic that never
    reaches the node's kernel.  While no capture runs, the graph skips the
    element: it costs nothing.

    Arguments:
      FILENAME (string)           start capturing into this file at once
      SNAPLEN (integer, default 0)  bytes kept per packet; 0 keeps whole packets
      STAMP (packet or pass, default packet)  each record's time: when the packet
                                  was received (its ts_ns annotation), or when it
                                  passes this element (to time legs of a path)

    Handlers:
      stamp (read/write) packet or pass, as STAMP
      start (write)      start capturing into the file named by the value
      stop (write)       stop and close the file
      active (read)      whether a capture is running
      filename (read)    the current capture file
      count (read)       packets written to the current file
    """
    PORTS = "1-/="
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self._initial = args.positional("FILENAME", string, default=None)
        self.snaplen = args.keyword("SNAPLEN", unsigned, default=0)
        self.stamp_pass = args.keyword("STAMP", _stamp, default=False)
        args.finish()
        self._writer = None
        self.filename = ""

    def initialize(self):
        if self._initial:
            self._start(self._initial)

    def _start(self, path):
        self._stop()
        try:
            self._writer = PcapWriter(path, LINKTYPE_ETHERNET, snaplen=self.snaplen)
        except PcapError as e:
            raise HandlerError(str(e)) from None
        self.filename = path
        self.passthrough_changed()

    def _stop(self):
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            self.passthrough_changed()

    def passthrough(self, port):
        return port if self._writer is None else None

    def push(self, port, batch):
        if self._writer is not None:
            self._writer.write_batch(batch.pool, batch.idx, time.time_ns(), self.stamp_pass)
        self.emit(port, batch)

    def pull(self, port, max_n):
        batch = self.pull_input(port, max_n)
        if batch is not None and self._writer is not None:
            self._writer.write_batch(batch.pool, batch.idx, time.time_ns(), self.stamp_pass)
        return batch

    def cleanup(self):
        self._stop()

    @write_handler("start")
    def write_start(self, value):
        path = string(value)
        if not path:
            raise HandlerError("start needs a file name")
        self._start(path)

    @write_handler("stop")
    def write_stop(self, value):
        self._stop()

    @read_handler("active")
    def read_active(self):
        return self._writer is not None

    @read_handler("filename")
    def read_filename(self):
        return self.filename

    @read_handler("count")
    def read_count(self):
        return self._writer.count if self._writer is not None else 0

    @read_handler("stamp")
    def read_stamp(self):
        return "pass" if self.stamp_pass else "packet"

    @write_handler("stamp")
    def write_stamp(self, value):
        try:
            self.stamp_pass = _stamp(value)
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
