"""DecIPTTL: decrement the IP time-to-live, send expired packets aside."""
from __future__ import annotations

import numpy as np

from vforward.args import boolean
from vforward.element import Element, read_handler, write_handler

from vforward.elements.ip.ipfields import gather, ipheader

_ONE = np.empty(1, dtype=np.uint8)   # allocating costs microseconds on an idle packet


class DecIPTTL(Element):
    """DecIPTTL([KEYWORDS]) -- decrement IP time-to-live, drop dead packets

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Expects IP packets with the network header annotation set (CheckIPHeader
    or MarkIPHeader).  A packet whose TTL is 0 or 1 has expired: it leaves
    unchanged on output 1 when that is connected, and is dropped otherwise.
    Every other packet gets its TTL decremented and its header checksum
    updated incrementally (RFC 1624), and leaves on output 0.

    The whole batch is handled by one call of the compiled kernel
    dec_ip_ttl (cext/ipheader.pyx).  Ordinarily output 1 goes to
    ICMPError(ADDR, timeexceeded).  In a router's forwarding chain
    (DecIPTTL, a route table, IPFragmenter, ARPQuerier, in either order of
    the first two) the graph forwards a batch that needs none of the
    elements' special cases in one compiled pass (elements/ip/fusedforward.py),
    counted here as usual.

    Keyword arguments:
      MULTICAST (boolean, default true)   if false, packets to multicast
                    destinations pass on output 0 untouched

    Handlers:
      count (read)    packets whose TTL was decremented
      drops (read)    expired packets (sent to output 1 or dropped)
      reset (write)   set both counts to zero
    """
    PORTS = "1/1-2"
    PROCESSING = "a/ah"

    def configure(self, args):
        self.multicast = args.keyword("MULTICAST", boolean, default=True)
        args.finish()
        self.count = 0
        self.drops = 0

    def process(self, batch):
        idx = batch.idx
        if not len(idx):
            return batch
        pool = batch.pool
        at = None                       # positions in the batch the kernel works on (None: all)
        if not self.multicast:
            dst_first = gather(pool, idx, pool.nh[idx].astype(np.int64) + 16, 1)[:, 0]
            unicast = (dst_first >> 4) != 0xE
            if not unicast.all():
                at = np.flatnonzero(unicast)
                idx = idx[at]
        # One packet (an idle one) reuses a scratch array, read before any emit.
        expired = _ONE if len(idx) == 1 else np.empty(len(idx), dtype=np.uint8)
        n_expired = ipheader.dec_ip_ttl(pool, idx, expired)
        self.count += len(idx) - n_expired
        if not n_expired:
            return batch
        self.drops += n_expired
        dead = expired.view(np.bool_)
        if at is not None:
            dead = np.zeros(len(batch.idx), dtype=np.bool_)
            dead[at] = expired.view(np.bool_)
        dead_batch, alive = batch.split(dead)
        self.emit_or_drop(1, dead_batch)
        return alive

    def fused_push(self, port, resolve):
        from vforward.elements.ip.fusedforward import fused_forward
        return fused_forward(self, port, resolve)

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @write_handler("reset")
    def write_reset(self, value):
        self.count = self.drops = 0
