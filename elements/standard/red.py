"""RED: random early detection in front of a queue."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, anything, real, unsigned
from vforward.element import AGNOSTIC, Element, read_handler

WEIGHT = 1.0 / 512   # Floyd and Jacobson's queue weight, as Click uses


class RED(Element):
    """RED(MIN_THRESH, MAX_THRESH, MAX_P [, KEYWORDS]) -- drop packets early, at random

    Ports: 1 input, 1 or 2 outputs; agnostic.

    Random Early Detection (Floyd and Jacobson) for the Queues downstream
    of it (or upstream, on a pull path; QUEUES names them instead).  It
    keeps an average of their total length (weight 1/512 per packet);
    below MIN_THRESH every packet passes, from MIN_THRESH to MAX_THRESH a
    packet is dropped with a probability rising linearly to MAX_P, and
    above MAX_THRESH (or at twice it with GENTLE) every packet is dropped.
    Dropped packets leave on output 1 if it is connected.

    Arguments:
      MIN_THRESH, MAX_THRESH (integer)   thresholds in packets
      MAX_P (real 0-1)                   drop probability at MAX_THRESH
      QUEUES (element names)             the queues to watch
      STABILITY (integer, default 9)     accepted: the weight is 2^-9

    Handlers:
      drops (read)     packets dropped
      avg_queue_size (read)   the average
    """
    PORTS = "1/1-2"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.min_thresh = args.mandatory("MIN_THRESH", unsigned)
        self.max_thresh = args.mandatory("MAX_THRESH", unsigned)
        self.max_p = args.mandatory("MAX_P", real)
        self.queue_names = args.keyword("QUEUES", anything, default=None)
        args.keyword("STABILITY", unsigned, default=9)
        args.finish()
        if not self.min_thresh <= self.max_thresh or not 0 <= self.max_p <= 1:
            raise ArgumentError(f"{args.where}: need MIN_THRESH <= MAX_THRESH and 0 <= MAX_P <= 1")
        self.drops = 0
        self.avg = 0.0
        self._queues = None
        self._rng = np.random.default_rng()

    def _find_queues(self):
        if self.queue_names:
            return [self.router.element(n) for n in self.queue_names.replace(",", " ").split()
                    if self.router.element(n) is not None]
        if self.output_processing and self.output_processing[0] == "l":
            return self.router.upstream(self, 0, lambda e: hasattr(e, "add_listener"))
        found, todo, seen = [], [self.name], set()
        conns = self.router.graph.connections
        while todo:
            name = todo.pop()
            for c in conns:
                if c.from_name == name and c.to_name not in seen and \
                        (name != self.name or c.from_port == 0):
                    seen.add(c.to_name)
                    e = self.router.element(c.to_name)
                    if hasattr(e, "add_listener"):
                        found.append(e)
                    elif "a" in e.PROCESSING or e.PROCESSING.startswith("h/h"):
                        todo.append(c.to_name)
        return found

    def _qlen(self) -> int:
        if self._queues is None:
            self._queues = self._find_queues()
        return sum(int(q.read("length")) for q in self._queues)

    def _keep(self, n: int) -> np.ndarray:
        q = self._qlen()
        self.avg += (1 - (1 - WEIGHT) ** n) * (q - self.avg)
        if self.avg < self.min_thresh:
            return np.ones(n, dtype=bool)
        if self.avg >= self.max_thresh:
            return np.zeros(n, dtype=bool)
        p = self.max_p * (self.avg - self.min_thresh) / max(self.max_thresh - self.min_thresh, 1)
        return self._rng.random(n) >= p

    def _filter(self, batch):
        keep = self._keep(len(batch.idx))
        if keep.all():
            return batch
        batch, gone = batch.split(keep)
        self.drops += len(gone.idx)
        self.emit_or_drop(1, gone)
        return batch

    def push(self, port, batch):
        self.emit(0, self._filter(batch))

    def pull(self, port, max_n):
        batch = self.pull_input(0, max_n)
        if batch is None:
            return None
        batch = self._filter(batch)
        return batch if len(batch.idx) else None

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("avg_queue_size")
    def read_avg(self):
        return round(self.avg, 3)
