"""IPGWOptions: check a forwarded packet's IP options."""
from __future__ import annotations

import numpy as np

from vforward.args import anything, ip_address
from vforward.elements.ip.headerchecker import HeaderChecker


def options_ok(opts: bytes) -> bool:
    """True if the IP options are well formed (each length inside the header)."""
    i = 0
    while i < len(opts):
        kind = opts[i]
        if kind == 0:
            return True
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opts) or opts[i + 1] < 2 or i + opts[i + 1] > len(opts):
            return False
        if kind in (7, 131, 137) and opts[i + 1] >= 3 and opts[i + 2] < 4:
            return False       # record route, source routes: the pointer starts at 4
        i += opts[i + 1]
    return True


class IPGWOptions(HeaderChecker):
    """IPGWOptions(MYADDR [, OTHERADDRS]) -- check IP options of forwarded packets

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Expects IP packets with the network header annotation set.  Packets
    without options (the rule) pass at once.  A packet whose options are
    malformed -- an option running past the header, a route pointer below
    4 -- leaves on output 1 (Click sends it on to an ICMPError parameter
    problem), or is dropped.  Well-formed options pass unchanged: vforward
    does not fill in record-route and timestamp options with MYADDR as
    Click's gateway does.

    Arguments:
      MYADDR (IP address)          this router's address
      OTHERADDRS (addresses)       accepted for Click compatibility

    Handlers:
      drops (read)   packets with bad options
    """
    def configure(self, args):
        self.myaddr = args.mandatory("MYADDR", ip_address)
        args.positional("OTHERADDRS", anything, default="")
        args.finish()
        self.drops = 0

    def _split(self, batch):
        pool, idx = batch.pool, batch.idx
        if not len(idx):
            return batch, None
        nh = pool.nh[idx].astype(np.int64)
        hl = (pool.data[idx, np.minimum(nh, pool.slot_size - 1)] & 0x0F).astype(np.int64) * 4
        with_options = hl > 20
        if not with_options.any():
            return batch, None
        good = np.ones(len(idx), dtype=bool)
        for k in np.nonzero(with_options)[0].tolist():
            slot, h = int(idx[k]), int(nh[k])
            good[k] = options_ok(pool.data[slot, h + 20:h + int(hl[k])].tobytes())
        return self._refuse(batch, good)
