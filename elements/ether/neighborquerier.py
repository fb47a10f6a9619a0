"""NeighborQuerier: the base of ARPQuerier and IP6NDSolicitor.

Both put packets in Ethernet frames for their next hop and hold the ones
whose next hop is unknown in a table (their own, or an ARPTable or
NeighborTable a TABLE keyword names) while they ask for it.  Finding that
table, the two inputs and the table's handlers are the same for both and
live here; the address family's work (the lookup, the query frames, what
input 1 learns from) stays in each element.
"""
from __future__ import annotations

import numpy as np

from vforward.element import PUSH_ONLY, Element, ElementError, read_handler, write_handler
from vforward.packet import Batch

from .arptable import ARPTable


class NeighborQuerier(Element):
    """The base of the neighbour-resolving elements.  A subclass sets
    TABLE_CLASS, and in configure `table_name`, `_own_table` and `table` (None
    when TABLE names a shared one) and the counters queries, responses and
    drops; it gives _send(batch) for the packets of input 0 and _learn(batch)
    for the frames of input 1."""
    ABSTRACT = True
    PORTS = "2/1-2"
    PROCESSING = PUSH_ONLY
    TABLE_CLASS = ARPTable
    TABLE_ARTICLE = "an"            # "not an ARPTable"

    def _send(self, batch: Batch) -> None:
        raise NotImplementedError

    def _learn(self, batch: Batch) -> None:
        raise NotImplementedError

    def initialize(self):
        if self.table is None:
            table = self.router.element(self.table_name)
            kind = self.TABLE_CLASS.__name__
            if not isinstance(table, self.TABLE_CLASS):
                what = ("names no element" if table is None
                        else f"is a {table.class_name()}, not {self.TABLE_ARTICLE} {kind}")
                raise ElementError(f"{self.location}: {self.name} :: {self.class_name()}: TABLE "
                                   f"{self.table_name!r} {what}; declare {self.table_name} :: "
                                   f"{kind} and name it in TABLE")
            self.table = table
        else:
            self.table.router = self.router
            self.table.initialize()
        self.table.add_user(self)

    def cleanup(self):
        if self._own_table:
            self.table.cleanup()

    def push(self, port, batch):
        if port == 0:
            self._send(batch)
        else:
            self._learn(batch)

    def send_released(self, slots: list[int]) -> None:
        """Send packets a table has released (from a handler's insert)."""
        self._send(Batch(self.router.pool, np.array(slots, dtype=np.uint32)))

    # -- handlers -----------------------------------------------------------------
    @read_handler("table")
    def read_table(self):
        return self.table.table_text()

    @read_handler("count")
    def read_count(self):
        return self.table.entry_count()

    @read_handler("length")
    def read_length(self):
        return self.table.n_held

    @read_handler("queries")
    def read_queries(self):
        return self.queries

    @read_handler("responses")
    def read_responses(self):
        return self.responses

    @read_handler("drops")
    def read_drops(self):
        return self.drops + self.table.drops

    @write_handler("insert")
    def write_insert(self, value):
        ip, eth = self.table.parse_insert(value)
        held = self.table.insert(ip, eth, self.router.now())
        if held:
            self.send_released(held)
