"""ICMPPingResponder: turn ICMP echo requests into echo replies, in place."""
from __future__ import annotations

import numpy as np

from vforward.element import Element, read_handler

from vforward.elements.ip.ipfields import ipheader

ICMP_ECHO = 8
ICMP_ECHOREPLY = 0


class ICMPPingResponder(Element):
    """ICMPPingResponder -- respond to ICMP echo requests

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Expects IP packets with the network header annotation set.  Each ICMP
    echo request becomes an echo reply in place: source and destination
    addresses are swapped, the fragment field cleared, the TTL set to 255,
    the ICMP type set to echo reply with the ICMP checksum updated
    incrementally (RFC 1624), and the IP checksum recomputed.  The
    destination address annotation is set to the reply's destination.
    Replies leave on output 0.

    Other packets (not ICMP, not an echo request, fragments, no whole IP
    and ICMP header) leave on output 1 when it is connected, and are
    dropped otherwise.  The batch is classified and edited by one call of
    the compiled kernel icmp_echo_reply (cext/ipheader.pyx).

    Handlers:
      count (read)   echo replies sent
      drops (read)   packets that were not echo requests
    """
    PORTS = "1/1-2"
    PROCESSING = "a/ah"

    def configure(self, args):
        args.finish()
        self.count = 0
        self.drops = 0

    def process(self, batch):
        idx = batch.idx
        n = len(idx)
        if not n:
            return batch
        other = np.empty(n, dtype=np.uint8)
        n_other = ipheader.icmp_echo_reply(batch.pool, idx, other)
        self.count += n - n_other
        if not n_other:
            return batch
        self.drops += n_other
        rest, batch = batch.split(other.view(np.bool_))
        self.emit_or_drop(1, rest)
        return batch

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops
