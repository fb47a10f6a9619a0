"""Pad: extend packets to a minimum length."""
import numpy as np

from vforward.args import boolean, unsigned
from vforward.element import AGNOSTIC, Element


class Pad(Element):
    """Pad([LENGTH, KEYWORDS]) -- extend packet length

    Ports: 1 input, 1 output; agnostic.

    Extends every packet shorter than LENGTH bytes to LENGTH bytes, with
    zero bytes (ZERO true) at its end.  Without LENGTH, an IPv4 packet
    (network header annotation set) is extended to the length its IP
    header states, which is how Click's Pad undoes a Truncate (Click keeps
    an extra-length annotation for this; vforward reads the header).

    Arguments:
      LENGTH (integer, default none)   the length to reach
      ZERO (boolean, default true)     zero the added bytes (false leaves
                                       whatever the slot held)

    Packets that would not fit their slot are extended as far as it allows.
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.length = args.positional("LENGTH", unsigned, default=None)
        self.zero = args.keyword("ZERO", boolean, default=True)
        args.finish()

    def _targets(self, pool, idx):
        if self.length is not None:
            return np.full(len(idx), self.length, dtype=np.int64)
        off = pool.off[idx].astype(np.int64)
        nh = pool.nh[idx].astype(np.int64)
        has_ip = (nh >= off) & (nh + 4 <= off + pool.length[idx])
        pos = np.minimum(nh + 2, pool.slot_size - 2)
        ip_len = (pool.data[idx, pos].astype(np.int64) << 8) | pool.data[idx, pos + 1]
        return np.where(has_ip, nh - off + ip_len, 0)

    def process(self, batch):
        idx = batch.idx
        if not len(idx):
            return batch
        pool = batch.pool
        want = self._targets(pool, idx)
        have = pool.length[idx].astype(np.int64)
        room = pool.slot_size - pool.off[idx].astype(np.int64)
        want = np.minimum(want, room)
        grow = want > have
        if grow.any():
            for slot, start, end in zip(idx[grow].tolist(), have[grow].tolist(), want[grow].tolist()):
                off = int(pool.off[slot])
                if self.zero:
                    pool.data[slot, off + start:off + end] = 0
                pool.length[slot] = end
        return batch
