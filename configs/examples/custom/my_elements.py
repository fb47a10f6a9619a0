"""Two custom elements, loaded with `vforward run --elements my_elements.py`.

SizeHistogram is written over whole batches with numpy (fast); EtherMirror
uses the per-packet view API (simple, slower, never wrong).  Both are plain
Element subclasses: defining the class registers it under its name.
"""
import numpy as np

from vforward.args import unsigned
from vforward.element import AGNOSTIC, Element, read_handler, write_handler


class SizeHistogram(Element):
    """SizeHistogram([BUCKET]) -- count packets by length

    Ports: 1 input, 1 output; agnostic.

    Counts packets into length buckets BUCKET bytes wide and passes them on.

    Arguments:
      BUCKET (integer, default 256)   bucket width in bytes

    Handlers:
      histogram (read)   one line per non-empty bucket: "LOW-HIGH COUNT"
      reset (write)      clear the counts
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.bucket = max(1, args.positional("BUCKET", unsigned, default=256))
        args.finish()
        self.counts = np.zeros(65536 // self.bucket + 1, dtype=np.int64)

    def process(self, batch):
        lengths = batch.pool.length[batch.idx] // self.bucket
        self.counts += np.bincount(lengths, minlength=len(self.counts))
        return batch

    @read_handler("histogram")
    def read_histogram(self):
        return "\n".join(f"{i * self.bucket}-{(i + 1) * self.bucket - 1} {n}"
                         for i, n in enumerate(self.counts) if n)

    @write_handler("reset")
    def write_reset(self, value):
        self.counts[:] = 0


class EtherMirror(Element):
    """EtherMirror -- swap Ethernet source and destination addresses

    Ports: 1 input, 1 output; agnostic.

    Swaps the two addresses of every Ethernet frame, so a frame can be sent
    back where it came from.  Frames shorter than 14 bytes are dropped.
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def process(self, batch):
        keep = np.ones(len(batch), dtype=bool)
        for i, pkt in enumerate(batch.packets()):
            if pkt.length < 14:
                keep[i] = False
                continue
            d = pkt.data
            d[0:6], d[6:12] = d[6:12].copy(), d[0:6].copy()
        good, bad = batch.split(keep)
        bad.kill()
        return good
