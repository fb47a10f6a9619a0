"""ICMPErrorLimit: the token bucket a router's ICMP error generators share."""
from __future__ import annotations

from vforward.args import ArgumentError, real
from vforward.element import Element, HandlerError, read_handler, write_handler

from vforward.elements.standard.ratedunqueue import TokenBucket

# Linux's net.ipv4.icmp_msgs_per_sec and icmp_msgs_burst, the host-wide limit
# its ICMP and ICMPv6 errors share.
RATE = 1000.0
BURST = 50.0


def _positive(text: str) -> float:
    v = real(text)
    if v <= 0:
        raise ArgumentError(f"expected a positive number, got {text!r}")
    return v


class ICMPErrorLimit(Element):
    """ICMPErrorLimit([RATE, BURST]) -- limit the rate of a router's ICMP errors

    Ports: none.

    A token bucket that ICMPError and ICMP6Error elements naming it with
    their LIMIT keyword share, as a Linux host's ICMP and ICMPv6 errors
    share one limit: each error takes a token, tokens accrue at RATE per
    second up to BURST (full at start), and an offending packet that finds
    the bucket empty gets no error (it is dropped and counted by its error
    element).  The error elements ask before they build an error, so a
    flood of packets without a route costs little more than their drop.
    ICMPv6 packet too big errors are never limited (path-MTU discovery
    depends on them), as in Linux.

    Arguments:
      RATE (real, default 1000)   errors per second (Linux's icmp_msgs_per_sec)
      BURST (real, default 50)    errors let through at once after a pause
                                  (Linux's icmp_msgs_burst)

    Handlers:
      rate (read/write)   RATE
      burst (read)        BURST
      allowed (read)      errors the bucket let through
      limited (read)      errors it refused
    """
    PORTS = "0/0"

    def configure(self, args):
        self.rate = args.positional("RATE", _positive, default=RATE)
        self.burst = args.positional("BURST", _positive, default=BURST)
        args.finish()
        self.allowed = 0
        self.limited = 0
        self._bucket = None

    def allow(self) -> bool:
        """Take a token for one error; False when there is none."""
        now = self.router.now()
        if self._bucket is None:
            self._bucket = TokenBucket(self.rate, self.burst, now, tokens=self.burst)
        if self._bucket.refill(now) >= 1.0:
            self._bucket.tokens -= 1.0
            self.allowed += 1
            return True
        self.limited += 1
        return False

    @read_handler("rate")
    def read_rate(self):
        return f"{self.rate:g}"

    @write_handler("rate")
    def write_rate(self, value):
        try:
            self.rate = _positive(value.strip())
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        self._bucket = None

    @read_handler("burst")
    def read_burst(self):
        return f"{self.burst:g}"

    @read_handler("allowed")
    def read_allowed(self):
        return self.allowed

    @read_handler("limited")
    def read_limited(self):
        return self.limited
