"""CheckICMPHeader: check ICMP header length and checksum."""
from __future__ import annotations

import numpy as np

from vforward.args import boolean
from vforward.elements.ip.headerchecker import HeaderChecker


def _sum16(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = int(np.frombuffer(b, dtype=">u2").astype(np.uint64).sum())
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


class CheckICMPHeader(HeaderChecker):
    """CheckICMPHeader([KEYWORDS]) -- check ICMP header and checksum

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Expects IP packets with the network header annotation set (after
    CheckIPHeader).  A packet passes on output 0 if it is ICMP, its first
    fragment holds at least the 8-byte ICMP header, and the ICMP checksum
    over the whole message is right; otherwise it leaves on output 1, or is
    dropped when output 1 is not connected.  Later fragments pass
    unchecked.  (A Python loop per packet: ICMP is control traffic.)

    Keyword arguments:
      VERBOSE (boolean, default false)   report every bad packet, not only the first
      DETAILS (boolean)                  accepted

    Handlers:
      drops (read)   bad packets seen
    """
    def configure(self, args):
        self.verbose = args.keyword("VERBOSE", boolean, default=False)
        args.keyword("DETAILS", boolean, default=False)
        args.finish()
        self.drops = 0
        self._said = False

    def _good(self, pool, slot) -> bool:
        off, nh = int(pool.off[slot]), int(pool.nh[slot])
        end = off + int(pool.length[slot])
        if not off <= nh <= end - 20:
            return False
        ip = pool.data[slot, nh:end].tobytes()
        hl = (ip[0] & 15) * 4
        ip_len = int.from_bytes(ip[2:4], "big")
        if ip[9] != 1 or ip_len > len(ip) or ip_len < hl:
            return False
        if int.from_bytes(ip[6:8], "big") & 0x1FFF:
            return True
        if ip_len - hl < 8:
            return False
        return _sum16(ip[hl:ip_len]) == 0xFFFF

    def _bad_packet_text(self):
        return "bad ICMP packet (not ICMP, too short, or a wrong checksum)"

    def _split(self, batch):
        good = np.array([self._good(batch.pool, s) for s in batch.idx.tolist()], dtype=bool)
        return self._refuse(batch, good)
