"""ICMPPingResponder: turn ICMP echo requests into echo replies, in place."""
from __future__ import annotations

import numpy as np

from vforward.element import Element, read_handler

from vforward.elements.ip.ipfields import (IP_MF, IP_OFFMASK, PROTO_ICMP, be16, be32,
                                           checksum_update16, gather, header_lengths,
                                           ip_header_mask, ipheader, packet_bounds, put16)

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
    dropped otherwise.  The batch is classified and edited with vectorised
    numpy operations and one call of the compiled set_ip_checksum kernel.

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
        if not len(idx):
            return batch
        pool = batch.pool
        _, end, h = packet_bounds(pool, idx)
        icmp_at = h + header_lengths(pool, idx)
        ip = gather(pool, idx, h, 20)
        icmp = gather(pool, idx, icmp_at, 4)
        echo = (ip_header_mask(pool, idx) & (icmp_at + 8 <= end) & (ip[:, 9] == PROTO_ICMP)
                & ((be16(ip, 6) & (IP_MF | IP_OFFMASK)) == 0) & (icmp[:, 0] == ICMP_ECHO))
        if not echo.all():
            other = batch.select(~echo)
            batch = batch.select(echo)
            self.drops += len(other)
            self.emit_or_drop(1, other)
            if not len(batch.idx):
                return batch
            idx, h, icmp_at, ip, icmp = idx[echo], h[echo], icmp_at[echo], ip[echo], icmp[echo]
        self._reply(pool, idx, h, icmp_at, ip, icmp)
        self.count += len(idx)
        return batch

    @staticmethod
    def _reply(pool, idx, h, icmp_at, ip, icmp):
        data = pool.data
        cols = h[:, None] + np.arange(12, 20)
        data[idx[:, None], cols] = np.concatenate((ip[:, 16:20], ip[:, 12:16]), axis=1)
        data[idx, h + 6] = 0                    # no DF, MF or offset
        data[idx, h + 7] = 0
        data[idx, h + 8] = 255                  # TTL
        pool.dst_ip[idx] = be32(ip, 12)
        ipheader.set_ip_checksum(pool, idx)
        code = icmp[:, 1].astype(np.uint32)
        cksum = checksum_update16(be16(icmp, 2), (ICMP_ECHO << 8) | code,
                                  (ICMP_ECHOREPLY << 8) | code)
        data[idx, icmp_at] = ICMP_ECHOREPLY
        # RFC 1624 eqn. 3 gives 0x0000 where the new message sums to zero; that is
        # right unless every byte is zero, when only 0xFFFF checks.  Rare: look.
        for i in np.flatnonzero(cksum == 0).tolist():
            s, at = int(idx[i]), int(icmp_at[i])
            end = int(pool.off[s]) + int(pool.length[s])
            if not data[s, at:at + 2].any() and not data[s, at + 4:end].any():
                cksum[i] = 0xFFFF
        put16(pool, idx, icmp_at + 2, cksum)

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops
