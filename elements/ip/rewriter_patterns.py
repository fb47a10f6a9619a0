"""Click's IPRewriter input specifications, patterns, and IPRewriterPatterns.

An IPRewriter-like element has one INPUTSPEC per input; it decides what
happens to a packet that no mapping knows:

    drop | discard                   drop it
    pass OUT | passthrough OUT | nochange OUT
                                     send it to output OUT, unchanged, no mapping
    keep FOUT ROUT                   map the flow to itself
    pattern SADDR SPORT DADDR DPORT FOUT ROUT
                                     map it as the pattern says (NAPT)
    pattern SADDR DADDR FOUT ROUT    the same for addresses only (Basic NAT)
    pattern NAME FOUT ROUT           a pattern named in an IPRewriterPatterns

A pattern field '-' keeps the packet's own value.  SPORT may be a range
L-H: a free port is chosen so that the new mapping collides with no
existing one, preferring the packet's own source port, else at random;
'L-H#' allocates sequentially, 'L-H?' at random without the preference.
Basic NAT's SADDR may be a range A-B or a prefix A/LEN (without its .0
and broadcast addresses), with '#' or '?' likewise; addresses are chosen
at random unless '#'.
"""
from __future__ import annotations

import ipaddress
import random

from vforward.args import ArgumentError, ip_address
from vforward.element import Element, ElementError, read_handler

DROP, PASS, KEEP, PATTERN, MAPPER = "drop", "pass", "keep", "pattern", "mapper"
PROTO_ICMP = 1


def _ntoa(a: int) -> str:
    return str(ipaddress.IPv4Address(a))


class Pattern:
    """SADDR SPORT DADDR DPORT (NAPT) or SADDR DADDR (Basic NAT), ranges allowed.

    Fields are None for '-'.  `variation` is the width of SADDR's range
    (Basic NAT) or SPORT's (NAPT) minus one; 0 means a single value.
    """

    def __init__(self, saddr=None, sport=None, daddr=None, dport=None, is_napt=True,
                 variation=0, sequential=False, same_first=True, name=None):
        self.saddr, self.sport, self.daddr, self.dport = saddr, sport, daddr, dport
        self.is_napt = is_napt
        self.variation = variation
        self.sequential = sequential
        self.same_first = same_first
        self.name = name
        self.next_variation = 0
        self.rng = random.Random()

    # -- parsing ----------------------------------------------------------------
    @classmethod
    def parse(cls, words: list[str], name: str | None = None) -> "Pattern":
        """From 4 words (NAPT), 3 ('SADDR DADDR SPORT', Click's short NAPT form,
        the destination port kept) or 2 (Basic NAT); ArgumentError on a bad one."""
        if len(words) == 3:
            words = [words[0], words[2], words[1], "-"]
        if len(words) not in (2, 4):
            raise ArgumentError(f"a pattern has 4 fields 'SADDR SPORT DADDR DPORT' (or 2, "
                                f"'SADDR DADDR', for IPAddrRewriter), not {len(words)}: "
                                f"{' '.join(words)!r}")
        p = cls(is_napt=len(words) == 4, name=name)
        if p.is_napt:
            s, sp, d, dp = words
            p.saddr = _address_field(s, "source address")
            p.sport, p.variation, p.sequential, p.same_first = _port_field(sp, "source port",
                                                                           range_ok=True)
            p.daddr = _address_field(d, "destination address")
            p.dport = _port_field(dp, "destination port", range_ok=False)[0]
        else:
            s, d = words
            p.saddr, p.variation, p.sequential = _address_range(s)
            p.same_first = False
            p.daddr = _address_field(d, "destination address")
        return p

    def unparse(self) -> str:
        def addr(a):
            return "-" if a is None else _ntoa(a)
        if not self.is_napt:
            src = (f"{_ntoa(self.saddr)}-{_ntoa(self.saddr + self.variation)}"
                   if self.variation else addr(self.saddr))
            return f"{src} {addr(self.daddr)}"
        if self.sport is None:
            sport = "-"
        elif self.variation:
            sport = f"{self.sport}-{self.sport + self.variation}"
        else:
            sport = str(self.sport)
        if self.variation and self.sequential:
            sport += "#"
        elif self.variation and not self.same_first:
            sport += "?"
        dport = "-" if self.dport is None else str(self.dport)
        return f"{addr(self.saddr)} {sport} {addr(self.daddr)} {dport}"

    # -- applying -----------------------------------------------------------------
    def rewrite(self, flows, proto: int, saddr: int, sport: int, daddr: int, dport: int):
        """The rewritten (saddr, sport, daddr, dport) of a new flow, or None when
        every choice in the range would collide with a mapping in `flows`.

        A choice collides when the new flow's reply key is taken: the reply
        of the rewritten flow would be ambiguous.
        """
        ns = saddr if self.saddr is None else self.saddr
        nsp = sport if self.sport is None else self.sport
        nd = daddr if self.daddr is None else self.daddr
        ndp = dport if self.dport is None else self.dport
        if proto == PROTO_ICMP:
            ndp = 0                 # an echo request's key has no destination "port"
        if not self.variation:
            return ns, nsp, nd, ndp
        span = self.variation
        if self.is_napt:
            base = self.sport
            if (self.same_first and 0 <= sport - base <= span
                    and flows.lookup(proto, nd, ndp, ns, sport) < 0):
                v = sport - base
            else:
                v = flows.first_free_port(proto, nd, ndp, ns, base, span, self._start())
            if v < 0:
                return None
            self.next_variation = v + 1
            return ns, base + v, nd, ndp
        base = self.saddr
        v = flows.first_free_address(proto, nd, ndp, nsp, base, span, self._start())
        if v < 0:
            return None
        self.next_variation = v + 1
        return base + v, nsp, nd, ndp

    def _start(self) -> int:
        if self.sequential:
            return 0 if self.next_variation > self.variation else self.next_variation
        return self.rng.randint(0, self.variation)


def _bad(what: str, detail: str) -> ArgumentError:
    """ArgumentError 'bad WHAT DETAIL', carrying Click's short wording ('bad WHAT')
    for the click command, which prints errors as Click does."""
    e = ArgumentError(f"bad {what} {detail}")
    e.click_reason = f"bad {what}"
    return e


def _address_field(text: str, what: str):
    if text == "-":
        return None
    try:
        return ip_address(text)
    except ArgumentError:
        raise _bad(what, f"{text!r}: expected an IPv4 address or '-'") from None


def _strip_suffix(text: str):
    """(text without '#'/'?', sequential, same_first)."""
    if text.endswith("#"):
        return text[:-1], True, False
    if text.endswith("?"):
        return text[:-1], False, False
    return text, False, True


def _port_field(text: str, what: str, range_ok: bool):
    """(port or None, variation, sequential, same_first)."""
    if text == "-":
        return None, 0, False, True
    body, sequential, same_first = _strip_suffix(text) if range_ok else (text, False, True)
    lo_text, dash, hi_text = body.partition("-")
    try:
        lo = int(lo_text)
        hi = int(hi_text) if dash else lo
    except ValueError:
        lo = hi = -1
    if dash and not range_ok:
        raise _bad(what, f"{text!r}: only the source port may be a range")
    # a range may start at 0 (ICMP echo identifiers do), a single port may not (Click's rule)
    if not ((0 if dash else 1) <= lo <= hi < 65536) or (not dash and body != text):
        raise _bad(what, f"{text!r}: expected a port 1..65535, '-'"
                   + (", or a range such as 1024-65535 (with '#' for sequential "
                      "or '?' for random choice)" if range_ok else ""))
    return lo, hi - lo, sequential, same_first


def _address_range(text: str):
    """Basic NAT source: (address or None, variation, sequential)."""
    if text == "-":
        return None, 0, False
    body, sequential, _ = _strip_suffix(text)
    try:
        if "-" in body:
            lo_text, _, hi_text = body.partition("-")
            lo, hi = ip_address(lo_text), ip_address(hi_text)
            if hi < lo:
                raise ArgumentError("range ends below its start")
            return lo, hi - lo, sequential
        if "/" in body:
            net = ipaddress.IPv4Network(body, strict=False)
            if net.prefixlen == 32:
                return int(net.network_address), 0, sequential
            if net.prefixlen == 31:
                return int(net.network_address), 1, sequential
            # not the network's .0 nor its broadcast address, as Click
            return int(net.network_address) + 1, net.num_addresses - 3, sequential
        if body != text:
            raise ArgumentError("'#' and '?' go after a range")
        return ip_address(body), 0, False
    except (ArgumentError, ValueError) as e:
        raise _bad("source address", f"{text!r} ({e}): expected an address, a range "
                   "A-B or a prefix A/LEN, or '-'") from None


# -- input specifications ----------------------------------------------------------------
class InputSpec:
    """What one input does with packets no mapping knows (Click's IPRewriterInput)."""

    def __init__(self, kind: str, foutput: int = -1, routput: int = -1,
                 pattern: Pattern | None = None, pattern_name: str | None = None,
                 text: str = ""):
        self.kind = kind
        self.foutput = foutput
        self.routput = routput
        self.pattern = pattern
        self.pattern_name = pattern_name      # resolved at initialize
        self.mapper = None      # a MAPPER spec's element (RoundRobinIPMapper), at initialize
        self.text = text
        self.count = 0          # live mappings made by this input
        self.failures = 0       # mappings it could not make

    def max_output(self) -> int:
        return max(self.foutput, self.routput)

    def unparse(self) -> str:
        """As Click's patterns handler shows it."""
        if self.kind == DROP:
            s = "<drop>"
        elif self.kind == PASS:
            s = "<nochange>"
        elif self.kind == KEEP:
            s = "<keep>"
        elif self.kind == MAPPER:
            s = f"<mapper {self.pattern_name}>"
        elif self.pattern is not None:
            # Click's form: the range without its '#' or '?' choice
            s = self.pattern.unparse().replace("# ", " ").replace("? ", " ")
        else:
            s = f"<pattern {self.pattern_name}>"
        return s + (f" [{self.count}]" if self.count else "")


def _output(text: str, what: str) -> int:
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise ArgumentError(f"bad {what} {text!r}: expected an output port number")
    return v


def parse_input_spec(text: str, napt: bool = True) -> InputSpec:
    """One INPUTSPEC; ArgumentError names what is wrong.  `napt` says whether
    unnamed patterns have 4 fields (IPRewriter) or 2 (IPAddrRewriter)."""
    words = text.split()
    if not words:
        raise ArgumentError("empty input specification; give drop, pass OUT, keep FOUT ROUT "
                            "or pattern ...")
    word, rest = words[0], words[1:]
    if word in ("drop", "discard"):
        if rest:
            raise ArgumentError(f"syntax error, expected '{word}' alone")
        return InputSpec(DROP, text=text)
    if word in ("pass", "passthrough", "nochange"):
        if len(rest) > 1:
            raise ArgumentError(f"syntax error, expected '{word} [OUTPUT]'")
        return InputSpec(PASS, _output(rest[0], "output") if rest else 0, text=text)
    if word == "keep":
        if len(rest) != 2:
            raise ArgumentError("syntax error, expected 'keep FOUTPUT ROUTPUT'")
        return InputSpec(KEEP, _output(rest[0], "forward port"),
                         _output(rest[1], "reply port"), text=text)
    if word in ("pattern", "xpattern"):
        if len(rest) < 3:
            raise ArgumentError("syntax error, expected 'pattern SADDR SPORT DADDR DPORT "
                                "FOUTPUT ROUTPUT' or 'pattern NAME FOUTPUT ROUTPUT'")
        fields, fout, rout = rest[:-2], rest[-2], rest[-1]
        fo, ro = _output(fout, "forward port"), _output(rout, "reply port")
        if len(fields) == 1 and not _looks_like_field(fields[0]):
            return InputSpec(PATTERN, fo, ro, pattern_name=fields[0], text=text)
        if not napt and len(fields) == 4:
            # Click's IPAddrRewriter takes a 4-field pattern too: its ports are
            # checked and then ignored (only addresses are rewritten)
            Pattern.parse(fields)
            fields = [fields[0], fields[2]]
        want = (3, 4) if napt else (2,)
        if len(fields) not in want:
            form = ("'SADDR SPORT DADDR DPORT'" if napt else "'SADDR DADDR'")
            raise ArgumentError(f"a pattern here is {form}, not {' '.join(fields)!r}")
        return InputSpec(PATTERN, fo, ro, pattern=Pattern.parse(fields), text=text)
    if word.isidentifier() and not rest:
        # an element that chooses the pattern of each new flow (RoundRobinIPMapper)
        return InputSpec(MAPPER, pattern_name=word, text=text)
    if word.isidentifier() or "/" in word:
        raise ArgumentError(f"{word!r} is not an input specification (drop, pass OUT, keep "
                            "FOUT ROUT, pattern ..., or a mapper element's name alone)")
    raise ArgumentError(f"unknown specification {word!r}; expected drop, pass OUT, "
                        "keep FOUT ROUT or pattern ...")


def _looks_like_field(word: str) -> bool:
    return word == "-" or word[:1].isdigit()


# -- named patterns --------------------------------------------------------------------
class IPRewriterPatterns(Element):
    """IPRewriterPatterns(NAME PATTERN, ...) -- specify shared IPRewriter patterns

    Ports: none.

    Defines named patterns that IPRewriter-like elements refer to with
    'pattern NAME FOUTPUT ROUTPUT'.  Each argument is a NAME followed by
    a pattern, 'SADDR SPORT DADDR DPORT' (for IPRewriter) or 'SADDR DADDR'
    (for IPAddrRewriter).  Inputs that share a named pattern share its
    port (or address) range and its sequential position.

    Example:
      IPRewriterPatterns(to_world 198.51.100.1 50000-65535 - -);
      rw :: IPRewriter(pattern to_world 0 1, drop);

    Handlers:
      patterns (read)   one 'NAME PATTERN' line per pattern
    """
    PORTS = "0/0"

    def configure(self, args):
        self.patterns: dict[str, Pattern] = {}
        for i, arg in enumerate(args.raw, 1):
            words = arg.split()
            if len(words) not in (3, 5):
                raise ArgumentError(f"{args.where}: argument {i}: expected 'NAME SADDR SPORT "
                                    f"DADDR DPORT' or 'NAME SADDR DADDR', not {arg!r}")
            name = words[0]
            if name in self.patterns:
                raise ArgumentError(f"{args.where}: argument {i}: pattern {name!r} is defined "
                                    "twice")
            try:
                self.patterns[name] = Pattern.parse(words[1:], name=name)
            except ArgumentError as e:
                raise ArgumentError(f"{args.where}: argument {i}: {e}") from None

    def patterns_text(self) -> str:
        return "".join(f"{n} {p.unparse()}\n" for n, p in self.patterns.items())

    @read_handler("patterns")
    def read_patterns(self):
        return self.patterns_text()


def resolve_named_patterns(element, specs: list[InputSpec], napt: bool) -> None:
    """Bind every 'pattern NAME' spec of element to its IPRewriterPatterns entry,
    and every mapper spec to its mapper element."""
    for s in specs:
        if s.kind == MAPPER:
            mapper = element.router.elements.get(s.pattern_name)
            if not hasattr(mapper, "map_pattern"):
                raise ElementError(f"{element.location}: {element.name} :: "
                                   f"{element.class_name()}: input spec {s.text!r}: no mapper "
                                   f"element named {s.pattern_name!r}; give a "
                                   "RoundRobinIPMapper's name, or drop, pass OUT, keep "
                                   "FOUT ROUT, pattern ...")
            s.mapper = mapper
    wanted = [s for s in specs if s.kind == PATTERN and s.pattern is None]
    if not wanted:
        return
    known: dict[str, Pattern] = {}
    for e in element.router.elements.values():
        if isinstance(e, IPRewriterPatterns):
            known.update(e.patterns)
    for s in wanted:
        p = known.get(s.pattern_name)
        if p is None:
            names = ", ".join(sorted(known)) or "none defined"
            raise ElementError(f"{element.location}: {element.name} :: {element.class_name()}: "
                               f"no pattern named {s.pattern_name!r} (known: {names}); define "
                               "it in an IPRewriterPatterns element")
        if p.is_napt != napt:
            raise ElementError(f"{element.location}: {element.name} :: {element.class_name()}: "
                               f"pattern {s.pattern_name!r} has "
                               f"{'4' if p.is_napt else '2'} fields; this element needs "
                               f"{'4 (SADDR SPORT DADDR DPORT)' if napt else '2 (SADDR DADDR)'}")
        s.pattern = p
