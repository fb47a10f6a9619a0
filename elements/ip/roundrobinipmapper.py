"""RoundRobinIPMapper: hand IPRewriter's new flows to patterns in turn."""
from __future__ import annotations

from vforward.args import ArgumentError
from vforward.element import Element, read_handler

from vforward.elements.ip.rewriter_patterns import Pattern, _output


class RoundRobinIPMapper(Element):
    """RoundRobinIPMapper(PATTERN1, ..., PATTERNn) -- round-robin mapper for IPRewriter

    Ports: none.

    An IPRewriter (or TCPRewriter, UDPRewriter) input spec that is just this
    element's name makes each new flow of that input take the next of these
    patterns in turn, as Click's RoundRobinIPMapper: a simple load balancer
    over servers, one pattern per server.  Each PATTERN is
    'SADDR SPORT DADDR DPORT FOUTPUT ROUTPUT', as an IPRewriter 'pattern'
    input spec without its keyword; the flow's packets leave on FOUTPUT and
    its replies on ROUTPUT.  A pattern that finds no free port is a mapping
    failure of the rewriter, and the turn still moves on.

    Example:
      servers :: RoundRobinIPMapper(- - 192.0.2.10 80 0 1, - - 192.0.2.11 80 0 1);
      rw :: IPRewriter(servers, drop);

    Handlers:
      patterns (read)   one line per pattern, 'PATTERN FOUTPUT ROUTPUT'
    """
    PORTS = "0/0"

    def configure(self, args):
        self.choices: list[tuple[Pattern, int, int]] = []
        for i, arg in enumerate(args.raw, 1):
            words = arg.split()
            if len(words) != 6:
                raise ArgumentError(f"{args.where}: argument {i}: expected 'SADDR SPORT DADDR "
                                    f"DPORT FOUTPUT ROUTPUT', not {arg!r}")
            try:
                self.choices.append((Pattern.parse(words[:4]), _output(words[4], "forward port"),
                                     _output(words[5], "reply port")))
            except ArgumentError as e:
                raise ArgumentError(f"{args.where}: argument {i}: {e}") from None
        if not self.choices:
            raise ArgumentError(f"{args.where}: needs at least one pattern, such as "
                                "'- - 192.0.2.10 80 0 1'")
        self.next = 0

    def map_pattern(self) -> tuple[Pattern, int, int]:
        """The (pattern, forward output, reply output) for the next new flow."""
        choice = self.choices[self.next]
        self.next = (self.next + 1) % len(self.choices)
        return choice

    @read_handler("patterns")
    def read_patterns(self):
        return "".join(f"{p.unparse()} {fo} {ro}\n" for p, fo, ro in self.choices)
