"""DecIP6HLim: decrement the IPv6 hop limit, send expired packets aside."""
from __future__ import annotations

import numpy as np

from vforward.element import Element, read_handler, write_handler

from .ip6header import ip6header


class DecIP6HLim(Element):
    """DecIP6HLim -- decrement IPv6 hop limit, drop dead packets

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Expects IPv6 packets with the network header annotation set
    (CheckIP6Header).  A packet whose hop limit is 0 or 1 has expired: it
    leaves unchanged on output 1 when that is connected, and is dropped
    otherwise.  Every other packet gets its hop limit decremented (IPv6 has
    no header checksum to patch) and leaves on output 0.

    The whole batch is handled by one call of the compiled kernel
    dec_ip6_hlim (cext/ip6header.pyx).  Ordinarily output 1 goes to
    ICMP6Error(ADDR, timeexceeded).

    Handlers:
      count (read)    packets whose hop limit was decremented
      drops (read)    expired packets (sent to output 1 or dropped)
      reset (write)   set both counts to zero
    """
    PORTS = "1/1-2"
    PROCESSING = "a/ah"

    def configure(self, args):
        args.finish()
        self.count = 0
        self.drops = 0

    def process(self, batch):
        idx = batch.idx
        if not len(idx):
            return batch
        expired = np.empty(len(idx), dtype=np.uint8)
        n_expired = ip6header.dec_ip6_hlim(batch.pool, idx, expired)
        self.count += len(idx) - n_expired
        if not n_expired:
            return batch
        self.drops += n_expired
        dead_batch, alive = batch.split(expired.view(np.bool_))
        self.emit_or_drop(1, dead_batch)
        return alive

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @write_handler("reset")
    def write_reset(self, value):
        self.count = self.drops = 0


class DecIP6HLIM(DecIP6HLim):
    """DecIP6HLIM() -- decrement the IPv6 hop limit

    Ports: 1 input, 1 or 2 outputs; agnostic.

    Click's spelling of DecIP6HLim; see DecIP6HLim for the description and
    handlers.
    """
