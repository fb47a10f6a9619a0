"""RandomSample: passes each packet with a probability, drops or diverts the rest."""
import numpy as np

from vforward.args import ArgumentError, boolean, integer, real
from vforward.element import Element, HandlerError, read_handler, write_handler


def probability(text: str) -> float:
    p = real(text)
    if not 0.0 <= p <= 1.0:
        raise ArgumentError(f"expected a probability between 0 and 1, got {text!r}")
    return p


class RandomSample(Element):
    """RandomSample([P, KEYWORDS]) -- sample packets with some probability

    Ports: 1 input, 1 or 2 outputs; agnostic, but output 1 is push.

    Sends each packet to output 0 with probability P, independently of the
    others.  The other packets leave on output 1 when it is connected and
    are dropped when it is not.  Give the probability either as P (or
    SAMPLE) or as the drop probability DROP, not both.

    Arguments:
      P (real, 0 to 1)   probability that a packet goes to output 0

    Keyword arguments:
      SAMPLE (real)          same as P
      DROP (real)            probability that a packet does not; 1 - P
      ACTIVE (boolean, default true)   if false, every packet goes to output 0
      SEED (integer)         seed of the random generator, for repeatable runs

    Handlers:
      sampling_prob (read/write)   P
      drop_prob (read/write)       1 - P
      active (read/write)          whether it samples
      drops (read)                 packets not sent to output 0
    """
    PORTS = "1/1-2"
    PROCESSING = "a/ah"

    def configure(self, args):
        p = args.positional("P", probability, default=None)
        sample = args.keyword("SAMPLE", probability, default=None)
        drop = args.keyword("DROP", probability, default=None)
        self.active = args.keyword("ACTIVE", boolean, default=True)
        seed = args.keyword("SEED", integer, default=None)
        args.finish()
        given = [v for v in (p, sample, None if drop is None else 1.0 - drop) if v is not None]
        if len(given) != 1:
            raise ArgumentError(f"{args.where}: give exactly one of P, SAMPLE and DROP "
                                "(the probability of passing, or of dropping)")
        self.p = given[0]
        self.drops = 0
        self._rng = np.random.default_rng(seed)

    def process(self, batch):
        if not self.active or self.p >= 1.0:
            return batch
        keep, rest = batch.split(self._rng.random(len(batch.idx)) < self.p)
        if len(rest.idx):
            self.drops += len(rest.idx)
            self.emit(1, rest)   # an unconnected output 1 drops them
        return keep

    def _set(self, value, invert):
        try:
            p = probability(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        self.p = 1.0 - p if invert else p

    @read_handler("sampling_prob")
    def read_sampling_prob(self):
        return self.p

    @write_handler("sampling_prob")
    def write_sampling_prob(self, value):
        self._set(value, invert=False)

    @read_handler("drop_prob")
    def read_drop_prob(self):
        return 1.0 - self.p

    @write_handler("drop_prob")
    def write_drop_prob(self, value):
        self._set(value, invert=True)

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        try:
            self.active = boolean(value)
        except ArgumentError as e:
            raise HandlerError(str(e)) from None

    @read_handler("drops")
    def read_drops(self):
        return self.drops
