"""CheckIP6Header: validate the IPv6 header of each packet, set nh and dst_ip6."""
from __future__ import annotations

import numpy as np

from vforward.args import anything, boolean, unsigned
from vforward.elements.ip.checkipheader import ReasonedHeaderCheck

from .ip6header import ip6header


class CheckIP6Header(ReasonedHeaderCheck):
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
    REASONS = ip6header.REASONS
    HEADER = "IPv6"

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
        return self._refuse(batch, reasons, reasons == ip6header.OK)
