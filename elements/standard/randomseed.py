"""RandomSeed: make the router's random choices repeatable."""
from __future__ import annotations

import random

import numpy as np

from vforward.args import unsigned
from vforward.element import Element, write_handler


class RandomSeed(Element):
    """RandomSeed([SEED]) -- seed the random number generators

    Ports: none.

    Seeds Python's and numpy's global random number generators with SEED
    when the router initializes, so elements that choose at random
    (IPRewriter's random ports, RandomSample, Script's $(random)) choose
    the same way on every run.  Without SEED, a seed from the system.

    Arguments:
      SEED (integer)   the seed

    Handlers:
      seed (write)     seed again
    """
    PORTS = "0/0"

    def configure(self, args):
        self.seed = args.positional("SEED", unsigned, default=None)
        args.finish()
        self._apply(self.seed)

    @staticmethod
    def _apply(seed):
        random.seed(seed)
        np.random.seed(None if seed is None else seed % (1 << 32))

    def initialize(self):
        self._apply(self.seed)

    @write_handler("seed")
    def write_seed(self, value):
        self._apply(unsigned(value.strip()) if value.strip() else None)
