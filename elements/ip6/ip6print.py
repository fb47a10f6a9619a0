"""IP6Print: print one line about each IPv6 packet."""
from __future__ import annotations

import ipaddress
import sys

from vforward.args import boolean, string, unsigned
from vforward.element import AGNOSTIC, Element


class IP6Print(Element):
    """IP6Print([LABEL, KEYWORDS]) -- print IPv6 packets' addresses and header fields

    Ports: 1 input, 1 output; agnostic.

    Prints a line to standard error for each packet, which passes on
    unchanged: "LABEL: SRC -> DST plen PAYLOAD_LENGTH, next NEXT_HEADER,
    hlim HOP_LIMIT", read from the IPv6 header at the packet's network
    header annotation (set by CheckIP6Header or MarkIP6Header; the packet's
    start when there is none).  With CONTENTS true a hex dump of the
    packet's first NBYTES bytes follows, 24 bytes to a line.

    Arguments:
      LABEL (string, default none)   put before each line

    Keyword arguments:
      CONTENTS (boolean, default false)   dump the packet's bytes too
      NBYTES (integer, default 1500)      at most this many bytes dumped
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.label = args.positional("LABEL", string, default="")
        self.contents = args.keyword("CONTENTS", boolean, default=False)
        self.nbytes = args.keyword("NBYTES", unsigned, default=1500)
        args.finish()

    def process(self, batch):
        pool = batch.pool
        out = []
        for slot in batch.idx.tolist():
            off, n = int(pool.off[slot]), int(pool.length[slot])
            nh = int(pool.nh[slot])
            start = nh if off <= nh < off + n else off
            h = bytes(pool.data[slot, start:off + n])
            line = f"{self.label}: " if self.label else ""
            if len(h) < 40:
                line += f"truncated-ip6 ({len(h)} bytes)"
            else:
                src, dst = ipaddress.IPv6Address(h[8:24]), ipaddress.IPv6Address(h[24:40])
                line += (f"{src} -> {dst} plen {int.from_bytes(h[4:6], 'big')}, next {h[6]}, "
                         f"hlim {h[7]}")
            if self.contents:
                data = bytes(pool.data[slot, off:off + min(n, self.nbytes)])
                rows = [data[i:i + 24] for i in range(0, len(data), 24)]
                line += "\n  " + "\n  ".join(
                    " ".join(r[j:j + 4].hex() for j in range(0, len(r), 4)) for r in rows)
            out.append(line + "\n")
        sys.stderr.write("".join(out))
        return batch
