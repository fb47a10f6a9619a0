"""Clipboard: copy byte ranges from some packets and paste them into others."""
from __future__ import annotations

from vforward.args import ArgumentError
from vforward.element import PUSH_ONLY, Element, read_handler


def _range(text: str) -> tuple[int, int]:
    off, slash, n = text.strip().partition("/")
    if not slash or not off.isdigit() or not n.isdigit() or int(n) == 0:
        raise ArgumentError(f"expected a range OFFSET/LENGTH such as 12/4, got {text.strip()!r}")
    return int(off), int(n)


class Clipboard(Element):
    """Clipboard(RANGE1 [, RANGE2, ...]) -- copy bytes from one packet and paste them into others

    Ports: 2 inputs, 2 outputs; push.

    Each RANGE is OFFSET/LENGTH, bytes of the packet counted from its
    start.  A packet arriving on input 0 has the bytes of every range
    copied to the clipboard and leaves unchanged on output 0.  A packet
    arriving on input 1 has the clipboard's bytes written over the same
    ranges and leaves on output 1.  A packet too short for a range is
    copied from, or pasted into, only as far as it reaches; before anything
    has been copied, pastes leave packets unchanged.

    Arguments:
      RANGE (OFFSET/LENGTH)   a range of bytes, as many as wanted

    Handlers:
      data (read)   the clipboard's bytes, in hexadecimal
    """
    PORTS = "2/2"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.ranges = [_range(t) for t in args.rest()]
        args.finish()
        if not self.ranges:
            raise ArgumentError(f"{args.where}: give at least one range, such as 0/4")
        self._clip: list[bytes] | None = None

    def push(self, port, batch):
        pool = batch.pool
        for slot in batch.idx.tolist():
            off, n = int(pool.off[slot]), int(pool.length[slot])
            if port == 0:
                self._clip = [bytes(pool.data[slot, off + o:off + min(o + k, n)]) if o < n else b""
                              for o, k in self.ranges]
            elif self._clip is not None:
                for (o, k), data in zip(self.ranges, self._clip):
                    m = max(0, min(len(data), n - o))
                    if m:
                        pool.data[slot, off + o:off + o + m] = list(data[:m])
        self.emit(port, batch)

    @read_handler("data")
    def read_data(self):
        return "".join(d.hex() for d in self._clip) if self._clip else ""
