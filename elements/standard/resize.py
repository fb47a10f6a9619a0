"""Resize: add or remove bytes at the head and tail of packets."""
from __future__ import annotations

import numpy as np

from vforward.args import integer
from vforward.element import AGNOSTIC, Element, read_handler
from vforward.packet import Batch


class Resize(Element):
    """Resize([HEAD, TAIL]) -- adjust packet length at both ends

    Ports: 1 input, 1 output; agnostic.

    Adds HEAD bytes in front of each packet and TAIL bytes at its end; a
    negative number removes bytes instead (at most the whole packet).  No
    byte moves: the packet's start and length change within its slot, so
    added bytes are whatever the slot held there (the bytes an earlier
    Strip removed, for instance).  A packet without the room in its slot
    is dropped and counted.

    Arguments:
      HEAD (integer, default 0)   bytes to add in front (negative: remove)
      TAIL (integer, default 0)   bytes to add at the end (negative: remove)

    Handlers:
      head, tail (read)   HEAD and TAIL
      drops (read)        packets dropped for lack of room
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.head = args.positional("HEAD", integer, default=0)
        self.tail = args.positional("TAIL", integer, default=0)
        args.finish()
        self.drops = 0

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        off = pool.off[idx].astype(np.int64)
        length = pool.length[idx].astype(np.int64)
        if self.head < 0:
            cut = np.minimum(length, -self.head)
            off, length = off + cut, length - cut
        else:
            off, length = off - self.head, length + self.head
        if self.tail < 0:
            length = np.maximum(length + self.tail, 0)
        else:
            length = length + self.tail
        keep = (off >= 0) & (off + length <= pool.slot_size) & (length <= 0xFFFF)
        pool.off[idx[keep]] = off[keep]
        pool.length[idx[keep]] = length[keep]
        if not keep.all():
            self.drops += int((~keep).sum())
            Batch(pool, idx[~keep]).kill()
            return Batch(pool, idx[keep])
        return batch

    @read_handler("head")
    def read_head(self):
        return self.head

    @read_handler("tail")
    def read_tail(self):
        return self.tail

    @read_handler("drops")
    def read_drops(self):
        return self.drops
