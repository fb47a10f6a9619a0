"""One graph under fuzz: frames in by its devices, what leaves captured, the ledger kept.

    run = GraphRun(text, path, devices=["if1", "if2"])
    run.push("if1", frames)            # as if device if1 had received them
    run.sent["if2"]                    # the frames that left by if2, in order
    run.drain(); run.balance()         # everything held dropped; where every slot went

The config's devices are replaced by in-memory entries and sinks
(devices.without_devices); the graph is the real one, built and initialized
as `vforward run` builds it, with no event loop turning: pushes run to
completion, so every packet has left, been dropped or been held (ARP
queues) when push returns.  The router's clock is the run's own, advanced
a millisecond per push, so that two runs of the same frames (compiled and
reference kernels) see the same times whatever their speed.
"""
from __future__ import annotations

import random

from vforward.element import Element
from vforward.fuzz.devices import without_devices
from vforward.fuzz.ledger import PacketLedger
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router


class GraphRun:
    def __init__(self, text: str, path: str, devices: list[str], defines=None,
                 n_slots: int = 4096, capture: bool = True):
        from vforward.catalogue import load_builtin
        load_builtin()
        self.devices = list(devices)
        graph = build_graph(without_devices(text, self.devices), path, defines)
        self.router = Router(graph, PacketPool(n_slots))
        self.clock = 1000.0
        self.router.now = lambda: self.clock        # instance attribute: a clock of our own
        self.router.initialize()
        self.pool = self.router.pool
        self.sent: dict[str, list[bytes]] = {d: [] for d in self.devices}
        if capture:
            for dev in self.devices:
                self._capture(dev)
        self.ledger = PacketLedger(self.router, self.devices)
        self.seed_randomness(0)

    def seed_randomness(self, seed: int) -> None:
        """Seed every random source the elements hold (NAT port choice, IP IDs), so
        that two runs of the same frames choose alike."""
        random.seed(seed)
        seen = set()

        def visit(obj, depth):
            if id(obj) in seen or depth > 6 or isinstance(obj, (Element, Router, PacketPool)):
                return      # other elements are visited from the top, each once
            seen.add(id(obj))
            if isinstance(obj, random.Random):
                obj.seed(seed)
            elif isinstance(obj, (list, tuple)):
                for x in obj:
                    visit(x, depth + 1)
            elif isinstance(obj, dict):
                for x in obj.values():
                    visit(x, depth + 1)
            elif hasattr(obj, "__dict__") and not isinstance(obj, type):
                for x in vars(obj).values():
                    visit(x, depth + 1)
        for element in self.router.elements.values():
            for value in vars(element).values():
                visit(value, 1)

    def _capture(self, dev: str) -> None:
        """Record what reaches sink `dev`, by wrapping its push (the graph's
        outputs are pointed at it again, past pass-throughs)."""
        sink = self.router.element(dev)
        record = self.sent[dev]
        push = sink.push

        def wrapped(p, batch):
            record.extend(batch.to_bytes())
            push(p, batch)
        sink.push = wrapped
        sink.passthrough_changed()

    def push(self, dev: str, frames, annotations=None) -> None:
        """Frames (bytes) in by device `dev`, in one batch; annotations: per frame
        None or {column: value} (offload state a device would set)."""
        entry = self.router.element(f"{dev}_in")
        self.clock += 0.001
        self.ledger.epoch += 1
        batch = self.pool.from_bytes(frames)
        if annotations:
            for slot, anno in zip(batch.idx, annotations):
                for col, value in (anno or {}).items():
                    getattr(self.pool, col)[slot] = value
        entry._out_push[0](entry._out_port[0], batch)

    def drain(self) -> None:
        """Drop what the graph still holds (packets waiting for ARP), counted as drops."""
        for element in self.router.elements.values():
            table = getattr(element, "table", None)
            if table is not None and hasattr(table, "clear") and hasattr(table, "n_held"):
                table.clear()

    def balance(self):
        return self.ledger.balance()

    def close(self) -> None:
        self.router.close()

