"""Align and Click's information elements that vforward accepts and does not need."""
from vforward.args import ArgumentError, unsigned
from vforward.element import AGNOSTIC, Element


class Align(Element):
    """Align(MODULUS, OFFSET) -- align packet data (a no-op here)

    Ports: 1 input, 1 output; agnostic.

    In Click, Align copies a packet so that its first byte sits OFFSET bytes
    past a MODULUS-byte boundary, for machines that cannot read unaligned
    words.  vforward reads headers byte by byte (numpy and Cython kernels),
    so Align passes packets on untouched; it exists so that Click
    configurations written by click-align load unchanged.

    Arguments:
      MODULUS (2, 4 or 8)   the boundary
      OFFSET (integer)      bytes past the boundary, less than MODULUS
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.modulus = args.positional("MODULUS", unsigned)
        self.offset = args.positional("OFFSET", unsigned)
        args.finish()
        if self.modulus not in (2, 4, 8):
            raise ArgumentError(f"{args.where}: MODULUS must be 2, 4 or 8, not {self.modulus}")
        if self.offset >= self.modulus:
            raise ArgumentError(f"{args.where}: OFFSET must be less than MODULUS")


class AlignmentInfo(Element):
    """AlignmentInfo(ELEMENT [MODULUS OFFSET ...], ...) -- alignment facts (ignored here)

    Ports: none.

    click-align writes AlignmentInfo to tell elements how their input
    packets are aligned.  vforward does not depend on alignment, so the
    information is accepted and ignored.
    """
    PORTS = "0/0"

    def configure(self, args):
        args.rest()


class ScheduleInfo(Element):
    """ScheduleInfo(ELEMENT PARAM, ...) -- task scheduling shares (ignored here)

    Ports: none.

    In Click, ScheduleInfo sets the stride-scheduling tickets of element
    tasks.  vforward runs its tasks round robin on one event loop and
    takes no tickets, so the information is accepted and ignored.
    """
    PORTS = "0/0"

    def configure(self, args):
        args.rest()


class ClickyInfo(Element):
    """ClickyInfo(KEYWORDS) -- display hints for the Clicky GUI (ignored here)

    Ports: none.

    Holds style sheets and other hints for Click's graphical browser,
    Clicky; vforward draws graphs with `vforward graph` instead, so the
    hints are accepted and ignored.
    """
    PORTS = "0/0"

    def configure(self, args):
        pass
