"""HostEtherFilter: types frames by destination address and keeps a host's own."""
from __future__ import annotations

import numpy as np

from vforward.args import boolean, mac_address, unsigned
from vforward.element import Element, read_handler, write_handler

from .ethernet import handler_value, unparse_mac

from vforward import kernels

_ether = kernels.load("ether")
# Scratch for a batch of one: read before anything is emitted, so never reused early.
_ONE = np.empty(1, dtype=np.uint8)


class HostEtherFilter(Element):
    """HostEtherFilter(ETHER [, DROP_OWN, DROP_OTHER, KEYWORDS]) -- drop Ethernet frames sent to other machines

    Ports: 1 input, 1 or 2 outputs; input and output 0 agnostic, output 1 push.

    Expects Ethernet frames and acts like the receive side of an Ethernet
    card whose address is ETHER.  It sets each frame's packet type
    annotation (ptype) from the destination address: HOST for ETHER,
    BROADCAST for FF-FF-FF-FF-FF-FF, MULTICAST for other group addresses
    (low bit of the first byte set), OTHERHOST for any other unicast
    address.  Most frames leave by output 0.

    If DROP_OWN is true, frames whose source address is ETHER are filtered
    out (default false).  If DROP_OTHER is true, OTHERHOST frames are
    filtered out (default true).  Filtered frames leave by output 1 when it
    is connected and are dropped otherwise.  A frame too short to hold an
    Ethernet header at OFFSET is filtered out as well.

    The whole batch is classified in one compiled call (cext/ether.pyx).

    Arguments:
      ETHER (Ethernet address)        this host's address
      DROP_OWN (boolean, false)       filter frames sent by ETHER
      DROP_OTHER (boolean, true)      filter frames for other hosts

    Keyword arguments:
      OFFSET (integer, default 0)     where the Ethernet header starts in the packet

    Handlers:
      ether (read/write)   ETHER
      drops (read)         frames filtered out and dropped (output 1 not connected)
    """
    PORTS = "1/1-2"
    PROCESSING = "a/ah"

    @property
    def ether(self) -> bytes:
        return self._ether

    @ether.setter
    def ether(self, value: bytes) -> None:
        self._ether = value
        self._mac = np.frombuffer(value, dtype=np.uint8)
        self.passthrough_changed()      # a fused input path holds the address (fusedinput.py)

    def configure(self, args):
        self.ether = args.mandatory("ETHER", mac_address)
        self.drop_own = args.positional("DROP_OWN", boolean, default=False)
        self.drop_other = args.positional("DROP_OTHER", boolean, default=True)
        self.offset = args.keyword("OFFSET", unsigned, default=0)
        args.finish()
        self.drops = 0

    def process(self, batch):
        idx = batch.idx
        if not len(idx):
            return batch
        # One packet (an idle one) reuses a scratch array: allocating a numpy
        # array costs microseconds when numpy's code is out of the caches.
        filtered = _ONE if len(idx) == 1 else np.empty(len(idx), dtype=np.uint8)
        if not _ether.classify_host(batch.pool, idx, self.offset, self._mac, self.drop_own,
                                    self.drop_other, filtered):
            return batch
        out, kept = batch.split(filtered.view(bool))
        self.drops += self.emit_or_drop(1, out)
        return kept

    def fused_push(self, port, resolve):
        from vforward.elements.ip.fusedinput import fused_input
        return fused_input(self, port, resolve)

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("ether")
    def read_ether(self):
        return unparse_mac(self.ether)

    @write_handler("ether")
    def write_ether(self, value):
        self.ether = handler_value(mac_address, value, "ETHER")
