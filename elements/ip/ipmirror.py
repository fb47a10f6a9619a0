"""IPMirror: swap a packet's source and destination."""
from __future__ import annotations

import numpy as np

from vforward.args import boolean
from vforward.element import AGNOSTIC, Element

from vforward.elements.ip.ipfields import ip_header_mask


class IPMirror(Element):
    """IPMirror([DST_ANNO]) -- swap IP source and destination, and ports

    Ports: 1 input, 1 output; agnostic.

    Swaps each IP packet's source and destination addresses (at the network
    header annotation) and, for the first fragment of TCP and UDP, its
    source and destination ports; checksums stay right, since a swap keeps
    the one's-complement sums.  With DST_ANNO (the default) the destination
    annotation becomes the new destination.  Packets without a whole IP
    header pass unchanged.

    Arguments:
      DST_ANNO (boolean, default true)   set the destination annotation
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.dst_anno = args.positional("DST_ANNO", boolean, default=True)
        args.finish()

    def process(self, batch):
        pool = batch.pool
        idx = batch.idx[ip_header_mask(pool, batch.idx)] if len(batch.idx) else batch.idx
        if not len(idx):
            return batch
        nh = pool.nh[idx].astype(np.int64)
        src = nh[:, None] + np.arange(12, 16)
        dst = nh[:, None] + np.arange(16, 20)
        a = pool.data[idx[:, None], src].copy()
        pool.data[idx[:, None], src] = pool.data[idx[:, None], dst]
        pool.data[idx[:, None], dst] = a
        hl = (pool.data[idx, nh] & 0x0F).astype(np.int64) * 4
        proto = pool.data[idx, nh + 9]
        frag = ((pool.data[idx, nh + 6].astype(np.int64) << 8) | pool.data[idx, nh + 7]) & 0x1FFF
        end = pool.off[idx].astype(np.int64) + pool.length[idx]
        ports = ((proto == 6) | (proto == 17)) & (frag == 0) & (nh + hl + 4 <= end)
        if ports.any():
            pi, t = idx[ports], (nh + hl)[ports]
            sp = t[:, None] + np.arange(0, 2)
            dp = t[:, None] + np.arange(2, 4)
            s = pool.data[pi[:, None], sp].copy()
            pool.data[pi[:, None], sp] = pool.data[pi[:, None], dp]
            pool.data[pi[:, None], dp] = s
        if self.dst_anno:
            d = pool.data[idx[:, None], dst].astype(np.uint32)
            pool.dst_ip[idx] = (d[:, 0] << 24) | (d[:, 1] << 16) | (d[:, 2] << 8) | d[:, 3]
        return batch
