"""Unstrip: puts bytes back on the front of packets from their headroom."""
import numpy as np

from vforward.args import unsigned
from vforward.element import AGNOSTIC, Element, read_handler


class Unstrip(Element):
    """Unstrip(LENGTH) -- put bytes back on the front of packets

    Ports: 1 input, 1 output; agnostic.

    Moves each packet's start LENGTH bytes back into its headroom, so that
    the LENGTH bytes before it become part of the packet again: those a
    Strip removed, as in `Strip(14) -> ... -> Unstrip(14)`.  No byte moves.

    A packet with less than LENGTH bytes of headroom (rare: something
    pushed more than the headroom in front of it) is moved towards its
    slot's end first, so the new front bytes are whatever its slot held
    there; one whose slot has no room even so is dropped and counted.

    Arguments:
      LENGTH (integer)   bytes to put back

    Handlers:
      length (read)   LENGTH
      drops (read)    packets dropped because their slot had no room
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.length = args.mandatory("LENGTH", unsigned)
        args.finish()
        self.drops = 0

    def process(self, batch):
        n = self.length
        if not n:
            return batch
        short = batch.pool._slots.unstrip(batch.idx, n)
        if short is not None:
            batch = self._make_headroom(batch, short)
            if batch.pool._slots.unstrip(batch.idx, n) is not None:
                raise AssertionError("Unstrip made headroom but the packets still lack it")
        return batch

    def _make_headroom(self, batch, short):
        """The slow path: shift short-of-headroom packets' bytes in their slot."""
        pool, n = batch.pool, self.length
        keep = np.ones(len(batch.idx), dtype=bool)
        for i in np.flatnonzero(short).tolist():
            slot = int(batch.idx[i])
            off, length = int(pool.off[slot]), int(pool.length[slot])
            if n + length > pool.slot_size or n + length > 0xFFFF:
                keep[i] = False
                continue
            pool.data[slot, n:n + length] = pool.data[slot, off:off + length].copy()
            pool.off[slot] = n
        if keep.all():
            return batch
        dropped = batch.select(~keep)
        self.drops += len(dropped.idx)
        dropped.kill()
        return batch.select(keep)

    @read_handler("length")
    def read_length(self):
        return self.length

    @read_handler("drops")
    def read_drops(self):
        return self.drops
