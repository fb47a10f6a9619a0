"""CheckIP6Header: validate the IPv6 header of each packet, set nh and dst_ip6."""
from __future__ import annotations

import sys

import numpy as np

from vforward.args import anything, boolean, unsigned
from vforward.element import Element, read_handler

from .ip6header import ip6header


class CheckIP6Header(Element):
    """CheckIP6Header([OFFSET, KEYWORDS]) -- check IPv6 headers

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Expects an IPv6 header OFFSET bytes into each packet.  Checks that the
    packet holds the 40-byte header, that the version is 6, that the payload
    length does not run past the packet, and that the source is not a
    multicast address.  A good packet gets its network header annotation
    (nh) set to the header and its dst_ip6 annotation to the destination,
    and is cut to 40 + payload length (link-layer padding goes); it leaves
    on output 0.  There is no header checksum in IPv6.

    Bad packets leave on output 1 when it is connected, and are dropped
    otherwise.  The first bad packet prints a message to standard error
    (every bad packet does with VERBOSE).

    The whole batch is checked by one call of the compiled kernel
    check_ip6_header (cext/ip6header.pyx).

    Arguments:
      OFFSET (integer, default 0)   where the IPv6 header starts in the packet

    Keyword arguments:
      VERBOSE (boolean, default false)   print a message for every bad packet

    Handlers:
      drops (read)          bad packets seen
      drop_details (read)   bad packets per reason, one "COUNT<tab>REASON" line each
    """
    PORTS = "1/1-2"
    PROCESSING = "a/ah"
    REASONS = ip6header.REASONS

    def configure(self, args):
        self.offset = args.positional("OFFSET", unsigned, default=0)
        self.verbose = args.keyword("VERBOSE", boolean, default=False)
        args.finish()
        self.drops = 0
        self.reason_drops = np.zeros(len(self.REASONS), dtype=np.int64)

    def process(self, batch):
        idx = batch.idx
        n = len(idx)
        if n == 0:
            return batch
        reasons = np.empty(n, dtype=np.uint8)
        if ip6header.check_ip6_header(batch.pool, idx, self.offset, reasons) == n:
            return batch
        ok = reasons == ip6header.OK
        good_batch, bad_batch = batch.split(ok)
        bad_reasons = reasons[~ok]
        self.reason_drops += np.bincount(bad_reasons, minlength=len(self.REASONS))
        if self.drops == 0 or self.verbose:
            for r in (bad_reasons if self.verbose else bad_reasons[:1]).tolist():
                print(f"{self.name}: IPv6 header check failed: {self.REASONS[r]}",
                      file=sys.stderr)
        self.drops += len(bad_reasons)
        self.emit_or_drop(1, bad_batch)
        return good_batch

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("drop_details")
    def read_drop_details(self):
        return "".join(f"{int(self.reason_drops[r])}\t{self.REASONS[r]}\n"
                       for r in range(1, len(self.REASONS)))
