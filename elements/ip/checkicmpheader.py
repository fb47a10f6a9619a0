"""CheckICMPHeader: check ICMP header length and checksum."""
from __future__ import annotations

import sys

import numpy as np

from vforward.args import boolean
from vforward.element import Element, read_handler


def _sum16(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = int(np.frombuffer(b, dtype=">u2").astype(np.uint64).sum())
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


class CheckICMPHeader(Element):
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
    PORTS = "1/1-2"
    PROCESSING = "a/ah"

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

    def _split(self, batch):
        good = np.array([self._good(batch.pool, s) for s in batch.idx.tolist()], dtype=bool)
        if good.all():
            return batch, None
        batch, bad = batch.split(good)
        self.drops += len(bad.idx)
        if self.verbose or not self._said:
            self._said = True
            print(f"CheckICMPHeader '{self.name}': bad ICMP packet (not ICMP, too short, or "
                  "a wrong checksum)", file=sys.stderr)
        return batch, bad

    def push(self, port, batch):
        batch, bad = self._split(batch)
        if bad is not None:
            self.emit_or_drop(1, bad)
        self.emit(0, batch)

    def pull(self, port, max_n):
        batch = self.pull_input(0, max_n)
        if batch is None:
            return None
        batch, bad = self._split(batch)
        if bad is not None:
            self.emit_or_drop(1, bad)
        return batch if len(batch.idx) else None

    @read_handler("drops")
    def read_drops(self):
        return self.drops
