"""HeaderChecker: the base of the elements that check a header packet by packet
and send the packets that fail to output 1.

CheckICMPHeader, CheckUDPHeader, CheckTCPHeader and IPGWOptions differ only in
the check; the ports, the push and pull paths and the drops count are the same,
and live here.
"""
from __future__ import annotations

import sys

import numpy as np

from vforward.element import Element, read_handler
from vforward.packet import Batch


class HeaderChecker(Element):
    """The base of the header-checking elements.  A subclass sets `drops = 0`
    in configure and gives _split(batch) -> (good, bad or None), which ends
    with `_refuse`; if it warns about bad packets on stderr, it sets `verbose`
    in configure and returns the warning from _bad_packet_text()."""
    ABSTRACT = True
    PORTS = "1/1-2"
    PROCESSING = "a/ah"
    verbose = False
    _said = False

    def _split(self, batch: Batch) -> tuple[Batch, Batch | None]:
        raise NotImplementedError

    def _bad_packet_text(self) -> str | None:
        """What a bad packet is, for the warning on stderr; None: no warning."""
        return None

    def _refuse(self, batch: Batch, good: np.ndarray) -> tuple[Batch, Batch | None]:
        """Keep the `good` packets of `batch`; count the others, warn (the first
        time, or every time when VERBOSE), and return them apart."""
        if good.all():
            return batch, None
        batch, bad = batch.split(good)
        self.drops += len(bad.idx)
        text = self._bad_packet_text()
        if text is not None and (self.verbose or not self._said):
            self._said = True
            print(f"{self.class_name()} '{self.name}': {text}", file=sys.stderr)
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
