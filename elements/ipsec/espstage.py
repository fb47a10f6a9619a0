"""ESPStage: what the ESP elements share: finding each packet's SA, dropping and counting.

Each ESP element works packet by packet in Python (the crypto itself runs
in OpenSSL through the `cryptography` package): an ESP tunnel here is for
correctness and experiments, not for line rate.  A packet an element cannot
use (no SA, too short, a wrong ICV or padding, a replay) is dropped and
counted, never passed on half-done; the one exception is a forged packet
that IPsecAES(0) finds in Click's element order: it goes on undecrypted and
marked, and IPsecAuthHMACSHA1(1) drops and counts it.
"""
from __future__ import annotations

import numpy as np

from vforward.element import AGNOSTIC, Element, read_handler
from vforward.packet import Batch, PacketView

from vforward.elements.ipsec.securityassociation import (SecurityAssociation,
                                                         SecurityAssociations, by_handle)


class ESPStage(Element):
    """The base of the ESP elements: `apply(pkt, sa)` edits one packet of
    the SA its ipsec_sa annotation names, and returns False to drop it."""
    ABSTRACT = True
    PORTS = "1/1"
    PROCESSING = AGNOSTIC
    default_spi = 0     # IPsecESPEncap's SPI argument, for packets without the annotation

    def configure(self, args):
        args.finish()
        self.count = self.drops = 0

    def initialize(self):
        self._sas = SecurityAssociations(self.router)

    def apply(self, pkt: PacketView, sa: SecurityAssociation) -> bool:
        raise NotImplementedError

    def process(self, batch):
        if not len(batch.idx):
            return batch
        if getattr(self, "_sas", None) is None:
            self.initialize()
        pool = batch.pool
        keep = np.ones(len(batch.idx), dtype=bool)
        for i, pkt in enumerate(batch.packets()):
            sa = by_handle(int(pool.ipsec_sa[pkt.slot])) or self._sas.find(self.default_spi)
            if sa is None or not self.apply(pkt, sa):
                keep[i] = False
        if not keep.all():
            self.reject(batch.select(~keep))
            batch = batch.select(keep)
        self.count += len(batch.idx)
        return batch

    def reject(self, bad: Batch) -> None:
        self.drops += len(bad.idx)
        bad.kill()

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops
