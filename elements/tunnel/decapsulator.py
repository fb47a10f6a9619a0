"""Decapsulator: the base of the elements that check and remove a tunnel header.

EtherLinkDecap and VXLANDecap match a fixed-size header on a whole batch in
one compiled call (header_kernels.match_header, which also pops it from the
packets that match), let the good packets through on output 0 and send the
rest, with their header put back, to output 1.
"""
from __future__ import annotations

from vforward.element import AGNOSTIC, Element, read_handler, write_handler
from vforward.packet import Batch


class Decapsulator(Element):
    """The base of the decapsulating elements.  A subclass sets HEADER_LEN and
    gives _check(batch) -> (good, bad), which ends with `_split`, and _reset(),
    which zeroes `count` and its own refusal counters.  Decapsulator adds the
    count and reset handlers."""
    ABSTRACT = True
    PORTS = "1/1-2"
    PROCESSING = AGNOSTIC
    HEADER_LEN = 0

    def _check(self, batch: Batch) -> tuple[Batch, Batch]:
        raise NotImplementedError

    def _reset(self) -> None:
        raise NotImplementedError

    def push(self, port, batch):
        good, bad = self._check(batch)
        self.emit(0, good)
        if len(bad.idx):
            self.emit_or_drop(1, bad)

    def pull(self, port, max_n):
        batch = self._in_pull[0](self._in_port[0], max_n)
        if batch is None:
            return None
        good, bad = self._check(batch)
        if len(bad.idx):
            self.emit_or_drop(1, bad)
        return good if len(good.idx) else None

    def _split(self, batch: Batch, matched, keep) -> tuple[Batch, Batch]:
        """Let the `keep` packets through and count them; the others are refused.
        match_header popped the header of every `matched` packet, so refused
        ones among them get it back: they leave as they came."""
        good, bad = batch.split(keep)
        back = matched[~keep]
        if back.any():
            restored = bad.idx[back]
            batch.pool.off[restored] -= self.HEADER_LEN
            batch.pool.length[restored] += self.HEADER_LEN
        self.count += len(good.idx)
        return good, bad

    @read_handler("count")
    def read_count(self):
        return self.count

    @write_handler("reset")
    def write_reset(self, value):
        self._reset()
