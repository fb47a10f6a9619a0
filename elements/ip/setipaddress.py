"""SetIPAddress and StripToNetworkHeader: small IP annotation elements."""
from __future__ import annotations

import numpy as np

from vforward.args import ip_address
from vforward.element import AGNOSTIC, Element, read_handler


class SetIPAddress(Element):
    """SetIPAddress(ADDR) -- set the destination address annotation

    Ports: 1 input, 1 output; agnostic.

    Sets every packet's destination IP address annotation (dst_ip, the next
    hop ARPQuerier resolves) to ADDR; the packet's bytes do not change.

    Arguments:
      ADDR (IP address)   the address

    Handlers:
      addr (read)   ADDR
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.addr = args.mandatory("ADDR", ip_address)
        args.finish()

    def process(self, batch):
        batch.pool.dst_ip[batch.idx] = self.addr
        return batch

    @read_handler("addr")
    def read_addr(self):
        import ipaddress
        return str(ipaddress.IPv4Address(self.addr))


class StripToNetworkHeader(Element):
    """StripToNetworkHeader -- strip everything before the network header

    Ports: 1 input, 1 output; agnostic.

    Moves each packet's start to its network header annotation (nh), so an
    Ethernet frame becomes its IP packet; packets whose nh does not lie
    inside them pass unchanged.  No byte moves: the stripped bytes stay in
    the headroom.
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        if not len(idx):
            return batch
        off = pool.off[idx].astype(np.int64)
        nh = pool.nh[idx].astype(np.int64)
        inside = (nh >= off) & (nh <= off + pool.length[idx])
        sel = idx[inside]
        d = (nh - off)[inside]
        pool.length[sel] = pool.length[sel] - d
        pool.off[sel] = nh[inside]
        return batch
