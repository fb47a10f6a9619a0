"""CheckIP6Header: validate the IPv6 header of each packet, set nh and dst_ip6."""
from __future__ import annotations

import numpy as np

from vforward.args import anything, boolean, unsigned
from vforward.elements.ip.checkipheader import ReasonedHeaderCheck

from vforward.args import ArgumentError
from vforward.elements.ether.ethernet import gather

from .ip6header import ip6header

ALL_ONES = np.full(16, 0xFF, dtype=np.uint8)


def _addresses(text: str) -> list[np.ndarray]:
    import ipaddress
    out = [ALL_ONES] if text.strip() else []
    for word in text.split():
        try:
            packed = ipaddress.IPv6Address(word).packed
        except ValueError:
            raise ArgumentError(f"BADADDRS: expected IPv6 addresses such as 2001:db8::1, got {word!r}") from None
        out.append(np.frombuffer(packed, dtype=np.uint8))
    return out


class CheckIP6Header(ReasonedHeaderCheck):
    """CheckIP6Header([BADADDRS, OFFSET, KEYWORDS]) -- check IPv6 headers

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Expects an IPv6 header OFFSET bytes into each packet.  Checks that the
    packet holds the 40-byte header, that the version is 6, that the payload
    length does not run past the packet, and that the source is not a
    multicast address or one of BADADDRS (a space-separated list; the
    all-ones address is always bad).  A good packet gets its network header annotation
    (nh) set to the header and its dst_ip6 annotation to the destination,
    and is cut to 40 + payload length (link-layer padding goes); it leaves
    on output 0.  There is no header checksum in IPv6.

    Bad packets leave on output 1 when it is connected, and are dropped
    otherwise.  The first bad packet prints a message to standard error
    (every bad packet does with VERBOSE).

    The whole batch is checked by one call of the compiled kernel
    check_ip6_header (cext/ip6header.pyx).

    Arguments:
      BADADDRS (string, default none)   IPv6 source addresses to refuse, space-separated
                                        (Click's order; a lone integer here is taken as OFFSET)
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
        first = args.positional("BADADDRS", anything, default="")
        if first.strip().isdigit():          # CheckIP6Header(OFFSET), as vforward took it
            self.offset = unsigned(first)
            self._bad = []
        else:
            self._bad = _addresses(first)
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
        if ip6header.check_ip6_header(batch.pool, idx, self.offset, reasons) == n and not self._bad:
            return batch
        if self._bad:
            ok = reasons == ip6header.OK
            src = gather(batch.pool, idx[ok], self.offset + 8, 16)
            bad = np.zeros(len(src), dtype=bool)
            for addr in self._bad:
                bad |= (src == addr).all(axis=1)
            if not bad.any() and ok.all():
                return batch
            sub = reasons[ok]
            sub[bad] = self.REASONS.index("bad source address")
            reasons[ok] = sub
        return self._refuse(batch, reasons, reasons == ip6header.OK)
