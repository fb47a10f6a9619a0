"""FixIPSrc: give locally made packets (ICMP errors) the outgoing interface's address."""
from __future__ import annotations

import numpy as np

from vforward.args import ip_address
from vforward.element import AGNOSTIC, Element, read_handler

from vforward.elements.ip.ipfields import ipheader


class FixIPSrc(Element):
    """FixIPSrc(IPADDR) -- set the IP source address of packets that ask for it

    Ports: 1 input, 1 output; agnostic.

    Sets the IP source address of each packet whose Fix IP Source
    annotation is set to IPADDR, recomputes the IP header checksum, and
    clears the annotation; other packets pass untouched.  ICMPError sets the
    annotation on the errors it makes, so that a router's errors leave with
    the address of the interface they leave by, as in Click's IP router
    configurations (one FixIPSrc per output interface).  The IP header is
    found at the network header annotation.

    Arguments:
      IPADDR (IP address)   the source address to set

    Handlers:
      count (read)   packets whose source was set
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.addr = args.mandatory("IPADDR", ip_address)
        args.finish()
        self.count = 0
        self._src = np.frombuffer(int(self.addr).to_bytes(4, "big"), dtype=np.uint8)

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        marked = idx[pool.fix_ip_src[idx] != 0]
        if len(marked):
            pool.fix_ip_src[marked] = 0
            nh = pool.nh[marked].astype(np.intp)
            whole = marked[nh + 20 <= pool.off[marked].astype(np.intp) + pool.length[marked]]
            for slot in whole.tolist():
                at = int(pool.nh[slot])
                pool.data[slot, at + 12:at + 16] = self._src
            ipheader.set_ip_checksum(pool, whole)
            self.count += len(whole)
        return batch

    @read_handler("count")
    def read_count(self):
        return self.count
