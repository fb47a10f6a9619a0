"""SetTimestamp: stores the current (or a given) time in the timestamp annotation."""
import decimal
import time

from vforward.args import ArgumentError
from vforward.element import AGNOSTIC, Element


def _epoch_ns(text: str) -> int:
    """Seconds since 1970 as nanoseconds, exactly (a float would round 1700000000.25)."""
    try:
        t = decimal.Decimal(text.strip())
    except decimal.InvalidOperation:
        t = None
    if t is None or not t.is_finite() or t < 0:
        raise ArgumentError(f"expected seconds since 1970 such as 1700000000.25, got {text!r}")
    return int(t * 1_000_000_000)


class SetTimestamp(Element):
    """SetTimestamp([TIMESTAMP]) -- store the time in the packet's timestamp annotation

    Ports: 1 input, 1 output; agnostic.

    Sets each packet's timestamp annotation (ts_ns) to TIMESTAMP, or, when
    TIMESTAMP is not given, to the system time at which the packet reaches
    SetTimestamp.  DelayUnqueue and DelayShaper delay packets from this
    timestamp, so a SetTimestamp in front of their Queue makes the delay
    count from the moment a packet was queued.  Unlike Click, there is no
    "first timestamp" annotation, so the FIRST keyword is not taken.

    Arguments:
      TIMESTAMP (real)   seconds since 1970, e.g. 1700000000.25; default: now
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.fixed_ns = args.positional("TIMESTAMP", _epoch_ns, default=None)
        args.finish()

    def process(self, batch):
        batch.pool.ts_ns[batch.idx] = time.time_ns() if self.fixed_ns is None else self.fixed_ns
        return batch
