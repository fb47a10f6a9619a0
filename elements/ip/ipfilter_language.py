"""The tcpdump-like pattern language of IPFilter and IPClassifier (Click's).

A pattern is parsed once into an expression tree whose leaves are plain
header-field tests; IPFilter and IPClassifier compile the tree into batch
predicates (ipfilter_compile.py), and ipfilter_reference.py evaluates the
same tree packet by packet.  The grammar, as Click's:

    pattern := expr | '-' | 'any' | 'all'
    expr    := orexpr [ '?' expr ':' expr ]        the colon needs spaces around it
    orexpr  := term { ('or' | '||') term }
    term    := factor { ['and' | '&&'] factor }    two factors side by side mean 'and'
    factor  := ('not' | '!') factor | '(' expr ')' | 'true' | 'false' | primitive
    primitive := QUALIFIERS [ '[' POS [':' LEN] ']' ] [ '&' MASK ] [ RELOP ] [ VALUE ]

QUALIFIERS are 'src', 'dst', 'src or dst', 'src and dst', 'ip', 'ip6', a protocol
name ('tcp', 'udp', 'icmp', ...), and one type word ('host', 'net', 'port',
'proto', 'opt', 'vers', 'hl', 'tos', 'dscp', 'ttl', 'id', 'len', 'frag',
'unfrag', 'ect', 'ce', 'win', 'type').  RELOP is one of == = != < > <= >=.
A primitive may leave out its type when its value says it ('10.0.0.1' is a
host, '10.0.0.0/8' a net, 'www' a port, 'syn' a TCP flag, 'echo-reply' an
ICMP type), and a primitive with no qualifiers at all takes its type, its
'src'/'dst' and its protocol from the one before it: 'src port 80 or 81'
is 'src port 80 or src port 81'.

The tree's leaves (see `Compare` and `Present`) read header fields at
fixed offsets from the IP header or from the transport header (the IP
header plus 4 * IHL bytes).  A field that lies past the packet's end is
not there, and a primitive never matches a packet missing a field it
reads; 'not' of such a primitive does.  Port, TCP flag, TCP window, ICMP
type and transport-byte tests hold only on first fragments (fragment
offset 0) of their protocol, as in Click; so 'src tcp port != 5' matches
TCP packets whose source port is not 5, while 'not src tcp port 5' also
matches every packet that is not TCP.

IPv6: 'ip6' alone matches IPv6 packets (version 6), and before another
primitive adds that test to it; 'host' and 'net' take IPv6 addresses and
prefixes ('src host 2001:db8::1', 'dst net 2001:db8::/32'), and 'nxt' is
the IPv6 next header ('ip6 nxt 58', 'nxt tcp'); these read the IPv6
header's fields and hold only for IPv6 packets.  Ports, TCP flags, ICMP
types and 'ip proto' read IPv4 headers.
"""
from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field as dc_field

from vforward.args import ArgumentError, ip_address, ip_prefix, named_address
from vforward.config.errors import did_you_mean

# -- the expression tree -------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """An unsigned header field: `size` bytes (1-4, big-endian) at `offset` from
    the start of the IP header (base 'ip') or the transport header (base
    'transp'), shifted right by `shift` and cut to `bits` bits."""
    base: str
    offset: int
    size: int
    shift: int = 0
    bits: int = 0                              # 0: all 8 * size bits
    name: str = dc_field(default="", compare=False)
    is_address: bool = dc_field(default=False, compare=False)

    @property
    def width(self) -> int:
        return self.bits or 8 * self.size

    @property
    def full_mask(self) -> int:
        return (1 << self.width) - 1

    @property
    def end(self) -> int:
        """Bytes of the base header the packet needs for this field."""
        return self.offset + self.size

    def text(self) -> str:
        if self.name:
            return self.name
        return f"{self.base}[{self.offset}:{self.size}]"


@dataclass(frozen=True)
class Compare:
    """Leaf: the packet holds `field`, and (field & mask) OP value."""
    field: Field
    op: str                                    # == != < <= > >=
    value: int
    mask: int

    def text(self) -> str:
        f = self.field
        if f.is_address:
            def show(v):
                return ".".join(str((v >> s) & 255) for s in (24, 16, 8, 0))
        else:
            show = str
        masked = "" if self.mask == f.full_mask else f" & {show(self.mask) if f.is_address else hex(self.mask)}"
        return f"{f.text()}{masked} {self.op} {show(self.value)}"


@dataclass(frozen=True)
class Present:
    """Leaf: the packet holds the first `end` bytes of its `base` header.  It
    guards a negated test inside a primitive, so that the negation does not
    match packets too short to hold the fields."""
    base: str
    end: int

    def text(self) -> str:
        return f"{self.base} has {self.end} bytes"


@dataclass(frozen=True)
class Const:
    value: bool

    def text(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True)
class Not:
    child: object

    def text(self) -> str:
        return f"!({self.child.text()})"


@dataclass(frozen=True)
class And:
    children: tuple

    def text(self) -> str:
        return " && ".join(_paren(c) for c in self.children)


@dataclass(frozen=True)
class Or:
    children: tuple

    def text(self) -> str:
        return " || ".join(_paren(c) for c in self.children)


def _paren(node) -> str:
    return f"({node.text()})" if isinstance(node, (And, Or)) else node.text()


def _join(kind, unit: bool, nodes):
    """kind (And or Or) of the nodes, flattened, repeats dropped; the unit constant
    (true for And) is dropped and the other one decides."""
    out = []
    for n in nodes:
        for c in (n.children if isinstance(n, kind) else (n,)):
            if isinstance(c, Const):
                if c.value != unit:
                    return c
            elif c is not None and c not in out:
                out.append(c)
    return out[0] if len(out) == 1 else kind(tuple(out)) if out else Const(unit)


def all_of(*nodes):
    """And of the nodes (None ones left out)."""
    return _join(And, True, nodes)


def any_of(*nodes):
    """Or of the nodes (None ones left out)."""
    return _join(Or, False, nodes)


def negate(node):
    if isinstance(node, Const):
        return Const(not node.value)
    if isinstance(node, Not):
        return node.child
    return Not(node)


def leaves(node):
    """Every Compare and Present leaf under node, in order."""
    if isinstance(node, (Compare, Present)):
        yield node
    elif isinstance(node, Not):
        yield from leaves(node.child)
    elif isinstance(node, (And, Or)):
        for c in node.children:
            yield from leaves(c)


# -- header fields and names ----------------------------------------------------

IP_VERS = Field("ip", 0, 1, 4, 4, "ip vers")
IP_HL = Field("ip", 0, 1, 0, 4, "ip hl")
IP_TOS = Field("ip", 1, 1, 0, 0, "ip tos")
IP_DSCP = Field("ip", 1, 1, 2, 6, "ip dscp")
IP_LEN = Field("ip", 2, 2, 0, 0, "ip len")
IP_ID = Field("ip", 4, 2, 0, 0, "ip id")
IP_FRAG = Field("ip", 6, 2, 0, 0, "ip[6:2]")
IP_TTL = Field("ip", 8, 1, 0, 0, "ip ttl")
IP_PROTO = Field("ip", 9, 1, 0, 0, "ip proto")
IP_SRC = Field("ip", 12, 4, 0, 0, "src host", True)
IP_DST = Field("ip", 16, 4, 0, 0, "dst host", True)
SRC_PORT = Field("transp", 0, 2, 0, 0, "src port")
DST_PORT = Field("transp", 2, 2, 0, 0, "dst port")
TCP_FLAGS = Field("transp", 13, 1, 0, 0, "tcp flags")
TCP_WIN = Field("transp", 14, 2, 0, 0, "tcp win")
ICMP_TYPE = Field("transp", 0, 1, 0, 0, "icmp type")
IP6_NXT = Field("ip", 6, 1, 0, 0, "ip6 nxt")
IP6_SRC_AT, IP6_DST_AT = 8, 24            # where the IPv6 addresses start

ICMP, TCP, UDP = 1, 6, 17
TCP_OR_UDP = 256      # the 'tcpudp' qualifier: either protocol
ANY_TRANSPORT = 257   # the 'transp' qualifier of transp[POS:LEN]: no protocol test

IP_PROTOS = {"icmp": ICMP, "igmp": 2, "ipip": 4, "tcp": TCP, "udp": UDP, "dccp": 33,
             "gre": 47, "ospf": 89, "sctp": 132, "tcpudp": TCP_OR_UDP}
_PORT_PROTOS = (TCP, UDP, TCP_OR_UDP, 33, 132)   # tcp, udp, tcpudp, dccp, sctp

# Click's built-in service names (it also reads /etc/services; we do not, so
# that a configuration means the same on every machine), plus http and bgp.
PORT_NAMES = {
    "echo": 7, "discard": 9, "daytime": 13, "chargen": 19, "ftp-data": 20, "ftp": 21,
    "ssh": 22, "telnet": 23, "smtp": 25, "domain": 53, "dns": 53, "bootps": 67,
    "bootpc": 68, "tftp": 69, "finger": 79, "www": 80, "http": 80, "pop3": 110,
    "sunrpc": 111, "auth": 113, "nntp": 119, "ntp": 123, "netbios-ns": 137,
    "netbios-dgm": 138, "netbios-ssn": 139, "snmp": 161, "snmp-trap": 162, "bgp": 179,
    "irc": 194, "imap3": 220, "https": 443, "rip": 520, "route": 520, "imaps": 993,
    "pop3s": 995, "pptp": 1723,
}

ICMP_TYPES = {
    "echo-reply": 0, "unreachable": 3, "sourcequench": 4, "redirect": 5, "echo": 8,
    "routeradvert": 9, "routersolicit": 10, "timeexceeded": 11, "parameterproblem": 12,
    "timestamp": 13, "timestamp-reply": 14, "inforeq": 15, "inforeq-reply": 16,
    "maskreq": 17, "maskreq-reply": 18,
}

TCP_FLAG_NAMES = {"fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10,
                  "urg": 0x20, "ece": 0x40, "cwr": 0x80}

# Type words: word -> (type, implied field, implied protocol).
_TYPE_WORDS = {
    "host": ("host", None, None), "net": ("net", None, None),
    "port": ("port", None, None), "proto": ("proto", None, None),
    "opt": ("tcpopt", None, None), "flags": ("tcpopt", None, None),
    "frag": ("frag", None, None), "unfrag": ("unfrag", None, None),
    "ect": ("ect", None, None), "ce": ("ce", None, None),
    "vers": ("field", IP_VERS, None), "hl": ("field", IP_HL, None),
    "tos": ("field", IP_TOS, None), "dscp": ("field", IP_DSCP, None),
    "ttl": ("field", IP_TTL, None), "id": ("field", IP_ID, None),
    "len": ("field", IP_LEN, None),
    "win": ("field", TCP_WIN, TCP), "type": ("field", ICMP_TYPE, ICMP),
    "nxt": ("field", IP6_NXT, None),
}

_RELOPS = {"=": "==", "==": "==", "!=": "!=", "<": "<", ">": ">", "<=": "<=", ">=": ">="}
_STOP = {"(", ")", "[", "]", "and", "&&", "or", "||", "not", "!", "?", ":", "true", "false"}
KEYWORDS = sorted(set(_TYPE_WORDS) | _STOP | {"src", "dst", "dest", "ip", "ip6", "transp", "mask",
                                              "any", "all"} - set("()[]?:!"))
_ALL_WORDS = sorted(set(KEYWORDS) | set(IP_PROTOS) | set(PORT_NAMES) | set(ICMP_TYPES)
                    | set(TCP_FLAG_NAMES))


# -- errors ---------------------------------------------------------------------

class PatternError(ArgumentError):
    """A bad pattern: the message quotes the pattern and points at the bad word."""

    def __init__(self, message: str, text: str, start: int, end: int):
        self.message, self.text, self.start, self.end = message, text, start, end
        caret = " " * start + "^" * max(1, end - start)
        super().__init__(f"pattern '{text}': {message}\n    {text}\n    {caret}")


# -- words ----------------------------------------------------------------------

@dataclass(frozen=True)
class Token:
    text: str
    start: int
    end: int


_TWO_CHAR = {"&&", "||", "<=", ">=", "!=", "=="}
_ONE_CHAR = set("&|<>!=()[],;?")
_WORD_CHARS = re.compile(r"[A-Za-z0-9\-./@_:]+")


def tokenize(text: str) -> list[Token]:
    """Click's word splitting: operators and brackets stand alone; a word is a
    run of letters, digits and - . / @ _ : (so 'a ? b : c' needs its spaces)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
        elif text[i:i + 2] in _TWO_CHAR:
            out.append(Token(text[i:i + 2], i, i + 2))
            i += 2
        elif c in _ONE_CHAR:
            out.append(Token(c, i, i + 1))
            i += 1
        else:
            m = _WORD_CHARS.match(text, i)
            j = m.end() if m else i + 1
            out.append(Token(text[i:j], i, j))
            i = j
    return out


_INT = re.compile(r"0[xX][0-9a-fA-F]+|[0-9]+")
_ADDR = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


def parse_int(word: str) -> int | None:
    """A decimal or 0x-hex integer, or None."""
    if not _INT.fullmatch(word):
        return None
    return int(word, 16) if word[:2].lower() == "0x" else int(word)


def _name_net(word: str) -> tuple[int, int]:
    """(network, mask) of an AddressInfo NAME:ipnet."""
    net, plen = ip_prefix(word)
    return net, (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF if plen else 0


def parse_address(word: str) -> int | None:
    """A dotted-quad IPv4 address as an integer (host order), or None."""
    m = _ADDR.fullmatch(word)
    if not m or any(int(g) > 255 for g in m.groups()):
        return None
    a, b, c, d = (int(g) for g in m.groups())
    return (a << 24) | (b << 16) | (c << 8) | d


def parse_address6(word: str) -> int | None:
    """An IPv6 address in RFC 4291 text as an integer, or None."""
    if ":" not in word or "/" in word:
        return None
    try:
        return int(ipaddress.IPv6Address(word))
    except ValueError:
        return None


def parse_prefix6(word: str) -> tuple[int, int] | None:
    """ADDR/LEN for IPv6 as (address with host bits cleared, length), or None."""
    addr, slash, rest = word.partition("/")
    a = parse_address6(addr)
    if a is None or not slash or not rest.isdigit() or int(rest) > 128:
        return None
    n = int(rest)
    return a & (((1 << n) - 1) << (128 - n)), n


def parse_prefix(word: str) -> tuple[int, int] | None:
    """ADDR/LEN or ADDR/MASK as (address, mask), or None."""
    addr, slash, rest = word.partition("/")
    a = parse_address(addr)
    if a is None or not slash:
        return None
    n = parse_int(rest)
    if n is not None and 0 <= n <= 32 and rest.isdigit():
        mask = (0xFFFFFFFF << (32 - n)) & 0xFFFFFFFF
    else:
        mask = parse_address(rest)
        if mask is None:
            return None
    return a & mask, mask


# -- the parser -------------------------------------------------------------------

@dataclass
class _Primitive:
    """What one primitive said, while it is being parsed."""
    first: int                       # token index of its first word
    type: str | None = None          # host net port proto tcpopt frag unfrag ect ce field
    type_tok: Token | None = None
    field: Field | None = None
    field_proto: int | None = None   # the protocol 'tcp win' and 'icmp type' belong to
    srcdst: str | None = None        # src dst or and
    srcdst_tok: Token | None = None
    proto: int | None = None
    proto_tok: Token | None = None
    saw_ip: bool = False
    ip6_tok: Token | None = None     # 'ip6' given: an IPv6-only primitive
    mask: int | None = None
    mask_tok: Token | None = None
    op: str = "=="
    op_tok: Token | None = None
    data: str | None = None          # int host net port proto tcpopt icmptype
    value: int = 0
    net_mask: int = 0xFFFFFFFF
    data_tok: Token | None = None
    last: int = 0                    # token index after its last word
    eff_proto: int | None = None     # the protocol it tests, which abbreviations inherit


class _Parser:
    def __init__(self, text: str, tokens: list[Token]):
        self.text = text
        self.tokens = tokens
        self.i = 0
        self.prev: _Primitive | None = None     # for Click's abbreviations

    # -- helpers
    def peek(self, k: int = 0) -> Token | None:
        j = self.i + k
        return self.tokens[j] if j < len(self.tokens) else None

    def peek_text(self, k: int = 0) -> str | None:
        t = self.peek(k)
        return t.text if t else None

    def error(self, message: str, tok: Token | None = None, upto: Token | None = None):
        if tok is None:
            end = len(self.text.rstrip())
            return PatternError(message, self.text, end, end + 1)
        return PatternError(message, self.text, tok.start, (upto or tok).end)

    def span(self, prim: _Primitive) -> str:
        toks = self.tokens[prim.first:max(prim.last, prim.first + 1)]
        return self.text[toks[0].start:toks[-1].end] if toks else ""

    # -- grammar
    def parse(self):
        if not self.tokens:
            raise self.error("empty pattern; write - (or 'true') for one that matches every packet")
        if len(self.tokens) == 1 and self.tokens[0].text in ("-", "any", "all"):
            return Const(True)
        node = self.expr()
        t = self.peek()
        if t is not None:
            if t.text == ")":
                raise self.error("unexpected ')' with no '(' before it", t)
            raise self.error(f"unexpected '{t.text}' after a complete expression", t)
        return node

    def expr(self):
        cond = self.orexpr()
        q = self.peek()
        if q is None or q.text != "?":
            return cond
        self.i += 1
        yes = self.expr()
        colon = self.peek()
        if colon is None or colon.text != ":":
            raise self.error("expected ':' of the '?' here (put spaces around the colon)",
                             colon or None)
        self.i += 1
        no = self.expr()
        return any_of(all_of(cond, yes), all_of(negate(cond), no))

    def orexpr(self):
        terms = [self.term(None)]
        while self.peek_text() in ("or", "||"):
            op = self.peek()
            self.i += 1
            terms.append(self.term(op))
        return any_of(*terms)

    def term(self, after: Token | None):
        factors = [self.factor(after)]
        while True:
            t = self.peek()
            if t is None or t.text in (")", "or", "||", "?", ":"):
                break
            if t.text in ("and", "&&"):
                self.i += 1
                factors.append(self.factor(t))
            else:
                factors.append(self.factor(None))        # side by side: 'and'
        return all_of(*factors)

    def factor(self, after: Token | None):
        t = self.peek()
        if t is None:
            if after is not None:
                raise self.error(f"missing expression after '{after.text}'", after)
            raise self.error("the pattern ends where an expression should be")
        if t.text in ("not", "!"):
            self.i += 1
            return negate(self.factor(t))
        if t.text == "(":
            self.i += 1
            if self.peek_text() == ")":
                raise self.error("empty parentheses", t, self.peek())
            node = self.expr()
            if self.peek_text() != ")":
                raise self.error("this '(' is never closed; expected ')'", t)
            self.i += 1
            return node
        if t.text == "true":
            self.i += 1
            return Const(True)
        if t.text == "false":
            self.i += 1
            return Const(False)
        return self.primitive(after)

    # -- primitives
    def primitive(self, after: Token | None):
        t = self.peek()
        if t.text in _STOP or t.text in (",", ";", "&", "|", "]"):
            where = f" after '{after.text}'" if after is not None else ""
            tip = ("; a mask goes before the value, as in 'ip ttl & 0xf0 == 0x40'"
                   if t.text == "&" else "")
            raise self.error(f"expected a primitive (such as 'tcp' or 'src host 10.0.0.1'){where}, "
                             f"not '{t.text}'{tip}", t)
        prim = _Primitive(first=self.i)
        self._qualifiers(prim)
        had_qualifiers = self.i > prim.first
        if self.peek_text() == "[":
            if not had_qualifiers or prim.type is not None:
                raise self.error("'[POS:LEN]' comes right after ip, transp, tcp, udp or icmp",
                                 self.peek())
            self._brackets(prim)
        elif prim.proto == ANY_TRANSPORT:
            raise self.error("'transp' is only for byte fields, as in 'transp[0:2] == 80'",
                             prim.proto_tok)
        if self.peek_text() == "&":
            self._mask(prim)
        t = self.peek()
        if t is not None and t.text in _RELOPS:
            prim.op, prim.op_tok = _RELOPS[t.text], t
            self.i += 1
        self._data(prim)
        prim.last = self.i
        if prim.data is None and prim.op_tok is not None:
            raise self.error(f"'{prim.op_tok.text}' needs a value after it", self.peek() or None)
        node = self._resolve(prim, None if had_qualifiers else self.prev)
        self.prev = prim
        return node

    def _qualifiers(self, prim: _Primitive) -> None:
        while (t := self.peek()) is not None:
            w = t.text
            if w in _TYPE_WORDS:
                kind, fld, proto = _TYPE_WORDS[w]
                if prim.type is not None:
                    raise self.error(f"'{w}' after '{prim.type_tok.text}': one primitive has one "
                                     "type; join two primitives with 'and' or 'or'", t)
                prim.type, prim.type_tok, prim.field, prim.field_proto = kind, t, fld, proto
            elif w in IP_PROTOS:
                self._set_proto(prim, IP_PROTOS[w], t)
            elif w == "transp":
                self._set_proto(prim, ANY_TRANSPORT, t)
            elif w in ("src", "dst", "dest"):
                kind = "dst" if w != "src" else "src"
                if w == "src" and self.peek_text(1) in ("and", "&&", "or", "||") \
                        and self.peek_text(2) in ("dst", "dest"):
                    kind = "and" if self.peek_text(1) in ("and", "&&") else "or"
                    self.i += 2
                if prim.srcdst is not None:
                    raise self.error(f"'{w}' given twice in one primitive", t)
                prim.srcdst, prim.srcdst_tok = kind, t
            elif w == "ip":
                if prim.saw_ip:
                    break
                prim.saw_ip = True
            elif w == "ip6":
                if prim.ip6_tok is not None:
                    break
                prim.ip6_tok = t
            elif w == "ether":
                raise self.error("'ether' primitives are not supported: IPFilter reads packets "
                                 "from their IP header on", t)
            else:
                break
            self.i += 1

    def _set_proto(self, prim: _Primitive, proto: int, tok: Token) -> None:
        if prim.proto is not None and prim.proto != proto:
            raise self.error(f"two protocols in one primitive: '{prim.proto_tok.text}' and "
                             f"'{tok.text}'", tok)
        prim.proto, prim.proto_tok = proto, tok

    def _brackets(self, prim: _Primitive) -> None:
        open_tok = self.peek()
        j = self.i + 1
        words = []
        while j < len(self.tokens) and self.tokens[j].text != "]":
            words.append(self.tokens[j].text)
            j += 1
        if j >= len(self.tokens):
            raise self.error("this '[' is never closed; expected ']'", open_tok)
        inside = "".join(words)
        m = re.fullmatch(r"(0[xX][0-9a-fA-F]+|\d+)(?:([:,])(0[xX][0-9a-fA-F]+|\d+))?", inside)
        if not m:
            raise self.error("expected '[POS]' or '[POS:LEN]' with numbers", open_tok,
                             self.tokens[j])
        pos = parse_int(m.group(1))
        size = 1 if m.group(3) is None else parse_int(m.group(3))
        if m.group(2) == ",":                                  # Click's [POS1,POS2]
            size = size - pos + 1
        if not 1 <= size <= 4:
            raise self.error(f"LEN in '[POS:LEN]' must be 1 to 4 bytes, not {size}", open_tok,
                             self.tokens[j])
        if pos > 0xFFFF:
            raise self.error(f"POS {pos} is past any packet", open_tok, self.tokens[j])
        base = "ip" if prim.proto is None else "transp"
        prim.type, prim.type_tok = "field", open_tok
        prim.field = Field(base, pos, size, 0, 0, f"{self.text[self.tokens[prim.first].start:self.tokens[j].end]}")
        self.i = j + 1

    def _mask(self, prim: _Primitive) -> None:
        amp = self.peek()
        t = self.peek(1)
        value = None if t is None else parse_int(t.text)
        if value is None and t is not None:
            value = parse_address(t.text)
        if value is None:
            raise self.error("'&' needs a mask after it, such as '& 0x1fff' or '& 255.255.0.0'",
                             t or amp)
        if value == 0:
            raise self.error("a zero mask makes the test meaningless", t)
        prim.mask, prim.mask_tok = value, t
        self.i += 2

    def _data(self, prim: _Primitive) -> None:
        t = self.peek()
        if t is None or t.text in _STOP or t.text in ("(", ")", "&", "|", ",", ";", "]"):
            return
        w = t.text
        named = self._lookup_name(prim, t)
        if named is not None:
            prim.data, prim.value = named
        elif (n := parse_int(w)) is not None:
            prim.data, prim.value = "int", n
        elif (a := parse_address(w)) is not None:
            nxt = self.peek(1)
            if nxt is not None and nxt.text == "mask":
                m = None if self.peek(2) is None else parse_address(self.peek(2).text)
                if m is None:
                    raise self.error("'mask' needs a netmask such as 255.255.255.0 after it",
                                     self.peek(2) or nxt)
                prim.data, prim.value, prim.net_mask = "net", a & m, m
                prim.data_tok = t
                self.i += 3
                return
            prim.data, prim.value = "host", a
        elif (p := parse_prefix(w)) is not None:
            prim.data, (prim.value, prim.net_mask) = "net", p
        elif (a6 := parse_address6(w)) is not None:
            prim.data, prim.value, prim.net_mask = "host6", a6, 128
        elif (p6 := parse_prefix6(w)) is not None:
            prim.data, (prim.value, prim.net_mask) = "net6", p6
        elif w in KEYWORDS:
            return                       # a keyword, not a value: the primitive ends here
        elif (named := named_address(w, ("ip", "ipnet", "bcast"))) is not None:
            # an AddressInfo name: NAME:ipnet is its network, NAME or NAME:ip its address
            if named[0] == "ipnet":
                prim.data, (prim.value, prim.net_mask) = "net", _name_net(w)
            else:
                prim.data, prim.value = "host", ip_address(w)
        else:
            hint = did_you_mean(w, _ALL_WORDS)
            if "/" in w or re.fullmatch(r"-?[\d.]+", w):
                raise self.error(f"bad address or number '{w}'", t)
            tip = f" — did you mean '{hint}'?" if hint else ""
            if ":" in w:
                tip = " (the ':' of 'C ? A : B' needs spaces around it)"
            raise self.error(f"unknown word '{w}'{tip}", t)
        prim.data_tok = t
        self.i += 1

    def _lookup_name(self, prim: _Primitive, tok: Token):
        """(kind, value) when the word is a protocol, port, TCP flag or ICMP type name
        that fits the primitive; None when it is no such name (Click's lookup)."""
        w = tok.text
        t, p = prim.type, prim.proto
        field_icmp = t == "field" and prim.field_proto == ICMP
        got = []
        if w in IP_PROTOS:
            got.append(("proto", IP_PROTOS[w], t in (None, "proto")
                        or (t == "field" and prim.field == IP6_NXT), f"ip proto {w}"))
        if w in PORT_NAMES:
            got.append(("port", PORT_NAMES[w], t in (None, "port") and p in (None, *_PORT_PROTOS),
                        f"port {w}"))
        if w in TCP_FLAG_NAMES:
            got.append(("tcpopt", TCP_FLAG_NAMES[w], t in (None, "tcpopt") and p in (None, TCP),
                        f"tcp opt {w}"))
        if w in ICMP_TYPES:
            got.append(("icmptype", ICMP_TYPES[w], (t is None or field_icmp) and p in (None, ICMP),
                        f"icmp type {w}"))
        if not got:
            return None
        fits = [g for g in got if g[2]]
        if len(fits) == 1:
            return fits[0][0], fits[0][1]
        tries = " or ".join(f"'{g[3]}'" for g in got)
        said = self.text[self.tokens[prim.first].start:tok.end]
        what = "ambiguous" if fits else "meaningless"
        raise self.error(f"'{said}' is {what}; try {tries}", tok)

    # -- from what was said to a tree
    def _resolve(self, prim: _Primitive, prev: _Primitive | None):
        span = self.span(prim)
        first_tok = self.tokens[prim.first] if prim.first < len(self.tokens) else None
        if prim.type is None:
            self._abbreviate(prim, prev, first_tok)
        t = prim.type
        if t == "ip6" or (prim.ip6_tok is not None and t not in ("host", "net", "field")) \
                or (t == "field" and prim.field == IP6_NXT) or prim.data in ("host6", "net6"):
            return self._ip6(prim, span, t)
        if prim.srcdst_tok is not None and t not in ("host", "net", "port"):
            raise self.error(f"'{prim.srcdst_tok.text}' applies to host, net and port, not to "
                             f"'{span}'", prim.srcdst_tok)
        if t == "port":
            return self._port(prim, span)
        if t == "proto":
            return self._proto(prim, span)
        if t == "tcpopt":
            return self._tcpopt(prim, span)
        if t == "field" and prim.field.base == "transp":
            return self._transport_field(prim, span)
        # IP-header tests; a protocol qualifier adds its test, as in Click ('tcp ttl 64').
        prim.eff_proto = prim.proto
        if t in ("host", "net"):
            node = self._host(prim, span)
        elif t == "field":
            node = self._field_test(prim, span)
        else:
            if prim.data is not None or prim.mask_tok is not None or prim.op_tok is not None:
                bad = prim.mask_tok or prim.op_tok or prim.data_tok
                raise self.error(f"'{prim.type_tok.text}' takes no value", bad)
            node = {"frag": Compare(IP_FRAG, "!=", 0, 0x3FFF),
                    "unfrag": Compare(IP_FRAG, "==", 0, 0x3FFF),
                    "ect": Compare(IP_TOS, "!=", 0, 0x03),
                    "ce": Compare(IP_TOS, "==", 3, 0x03)}[t]
        return all_of(_proto_test(prim.proto), node)

    def _abbreviate(self, prim: _Primitive, prev: _Primitive | None, first_tok: Token) -> None:
        """Click's rules for a primitive that names no type."""
        d = prim.data
        if d in ("host6", "net6"):
            d = d[:-1]
        if d in ("host", "net", "tcpopt", "port"):
            prim.type = d
            if prev is not None and prim.srcdst is None:
                prim.srcdst = prev.srcdst
            if d == "port" and prev is not None and prim.proto is None \
                    and prev.eff_proto in _PORT_PROTOS:
                prim.proto = prev.eff_proto          # 'tcp and www' is 'tcp port www'
        elif d == "icmptype":
            prim.type, prim.field, prim.field_proto = "field", ICMP_TYPE, ICMP
        elif d == "proto":
            prim.type = "proto"
        elif d == "int":
            if prev is None or prev.type not in ("field", "proto", "port"):
                raise self.error(f"a bare number needs a header field or 'port' before it, as in "
                                 f"'port {prim.value}' or 'ip ttl {prim.value}'", prim.data_tok)
            prim.type, prim.field, prim.field_proto = prev.type, prev.field, prev.field_proto
            if prev.type == "port" or (prev.type == "field" and prev.field.base == "transp"):
                prim.proto = prev.eff_proto
            if prev.type == "port" and prim.srcdst is None:
                prim.srcdst = prev.srcdst
        elif d is None and prim.ip6_tok is not None and prim.proto is None:
            prim.type = "ip6"                        # 'ip6' alone
        elif d is None and prim.proto is not None and prim.proto != ANY_TRANSPORT:
            prim.type = "proto"
            prim.data, prim.value = "proto", prim.proto
        else:
            span = self.span(prim)
            nxt = self.peek()
            if nxt is not None and prim.last > prim.first:
                raise self.error(f"'{span}' is incomplete: expected a value after it, "
                                 f"not '{nxt.text}'", nxt)
            if prim.last > prim.first:
                raise self.error(f"'{span}' is incomplete: expected a value after it")
            raise self.error(f"expected a primitive (such as 'tcp' or 'src host 10.0.0.1'), "
                             f"not '{first_tok.text}'", first_tok)

    def _need(self, prim: _Primitive, span: str, what: str):
        return self.error(f"'{span}' needs {what} after it", self.peek() or None) \
            if prim.data is None else \
            self.error(f"'{span}' needs {what}, not '{prim.data_tok.text}'", prim.data_tok)

    def _check_value(self, prim: _Primitive, span: str, bound: int) -> None:
        if prim.mask is not None and prim.mask & ~bound:
            raise self.error(f"mask {prim.mask_tok.text} is out of range: '{span}' is at most "
                             f"{hex(bound)}", prim.mask_tok)
        limit = bound if prim.mask is None else prim.mask
        if prim.value > bound:
            raise self.error(f"value {prim.data_tok.text} is out of range: '{span}' is 0 to "
                             f"{bound}", prim.data_tok)
        if prim.op in ("==", "!=") and prim.value & ~limit:
            raise self.error(f"value {prim.data_tok.text} has bits outside the mask "
                             f"{prim.mask_tok.text}, so it can never be equal", prim.data_tok)

    def _srcdst(self, prim: _Primitive, src: Field, dst: Field, value: int, mask: int):
        """Click's SRCORDST: the test on each field combined; a negative relation
        (!= < <=) negates the combination, as Click does ('port != 80' is neither
        port 80; 'port < 1024' is both ports below 1024)."""
        op, negated = {"==": ("==", False), "!=": ("==", True), ">": (">", False),
                       ">=": (">=", False), "<": (">=", True), "<=": (">", True)}[prim.op]
        sd = prim.srcdst or "or"
        if sd in ("src", "dst"):
            return Compare(src if sd == "src" else dst, prim.op, value, mask)
        pair = (Compare(src, op, value, mask), Compare(dst, op, value, mask))
        both = all_of(*pair) if sd == "and" else any_of(*pair)
        if not negated:
            return both
        return all_of(Present(src.base, max(src.end, dst.end)), Not(both))

    def _host(self, prim: _Primitive, span: str):
        if prim.op not in ("==", "!="):
            raise self.error(f"'{span}' compares addresses with == or != only", prim.op_tok)
        if prim.type == "host":
            if prim.data != "host":
                if prim.data == "net":
                    raise self.error(f"'host' takes one address; for a network write "
                                     f"'net {prim.data_tok.text}'", prim.data_tok)
                raise self._need(prim, span, "an IPv4 address such as 10.0.0.1")
            mask = 0xFFFFFFFF if prim.mask is None else prim.mask
        else:
            if prim.data not in ("host", "net"):
                raise self._need(prim, span, "a network such as 10.0.0.0/8")
            if prim.mask is not None:
                raise self.error("give a network's mask once, as ADDR/LEN or ADDR mask MASK",
                                 prim.mask_tok)
            mask = prim.net_mask
        return self._srcdst(prim, IP_SRC, IP_DST, prim.value & mask, mask)

    def _ip6(self, prim: _Primitive, span: str, t: str):
        """The IPv6 primitives: 'ip6', host and net with IPv6 values, 'nxt', and
        'ip6' before a host, net or field test; each holds for IPv6 packets only."""
        version = Compare(IP_VERS, "==", 6, 0xF)
        if t == "ip6":
            if prim.data is not None or prim.op_tok is not None or prim.mask_tok is not None:
                raise self.error("'ip6' alone takes no value; write 'ip6 nxt 58' or "
                                 "'ip6 src host 2001:db8::1'",
                                 prim.data_tok or prim.op_tok or prim.mask_tok)
            return version
        if t == "field":
            if prim.data == "proto":
                prim.data = "int"
            elif prim.data is None and prim.proto not in (None, ANY_TRANSPORT, TCP_OR_UDP) \
                    and prim.field == IP6_NXT:
                prim.data, prim.value, prim.data_tok = "int", prim.proto, prim.proto_tok  # 'nxt tcp'
            return all_of(version, self._field_test(prim, span))
        if t not in ("host", "net"):
            raise self.error(f"'ip6' goes with host, net, nxt or a header field, not "
                             f"'{span}'", prim.ip6_tok)
        if prim.op not in ("==", "!="):
            raise self.error(f"'{span}' compares addresses with == or != only", prim.op_tok)
        if prim.mask_tok is not None:
            raise self.error("an IPv6 network's length goes after a slash, as in "
                             "2001:db8::/32", prim.mask_tok)
        if prim.data not in ("host6", "net6"):
            raise self._need(prim, span, "an IPv6 address such as 2001:db8::1" if t == "host"
                             else "an IPv6 network such as 2001:db8::/32")
        if t == "host" and prim.data == "net6":
            raise self.error(f"'host' takes one address; for a network write "
                             f"'net {prim.data_tok.text}'", prim.data_tok)
        plen = prim.net_mask

        def side(at):
            tests = []
            for k in range(4):                  # one 32-bit word at a time
                bits = min(32, max(0, plen - 32 * k))
                if bits:
                    mask = (0xFFFFFFFF << (32 - bits)) & 0xFFFFFFFF
                    word = (prim.value >> (96 - 32 * k)) & mask
                    tests.append(Compare(Field("ip", at + 4 * k, 4, 0, 0,
                                               f"ip6[{at + 4 * k}:4]", True), "==", word, mask))
            return all_of(*tests) if tests else Const(True)
        src, dst = side(IP6_SRC_AT), side(IP6_DST_AT)
        sd = prim.srcdst or "or"
        both = src if sd == "src" else dst if sd == "dst" else \
            (all_of(src, dst) if sd == "and" else any_of(src, dst))
        if prim.op == "!=":
            return all_of(version, Present("ip", 40), Not(both))
        return all_of(version, both)

    def _port(self, prim: _Primitive, span: str):
        proto = TCP_OR_UDP if prim.proto is None else prim.proto
        prim.eff_proto = proto
        if proto not in _PORT_PROTOS:
            raise self.error(f"ports belong to tcp, udp, dccp and sctp, not "
                             f"'{prim.proto_tok.text}'", prim.proto_tok)
        if prim.data not in ("int", "port"):
            raise self._need(prim, span, "a port number or name")
        self._check_value(prim, span, 0xFFFF)
        mask = 0xFFFF if prim.mask is None else prim.mask
        return all_of(_proto_test(proto), _FIRST_FRAGMENT,
                      self._srcdst(prim, SRC_PORT, DST_PORT, prim.value, mask))

    def _proto(self, prim: _Primitive, span: str):
        if prim.data is None and prim.proto is not None:      # 'ip proto tcp', 'tcp'
            prim.data, prim.value = "proto", prim.proto
        if prim.data not in ("int", "proto"):
            raise self._need(prim, span, "a protocol name or number")
        if prim.proto is not None and prim.data_tok is not None and prim.proto != prim.value:
            raise self.error(f"two protocols in one primitive: '{prim.proto_tok.text}' and "
                             f"'{prim.data_tok.text}'", prim.data_tok)
        if prim.op == "==" and prim.mask is None:
            prim.eff_proto = prim.value
        if prim.value == TCP_OR_UDP:
            if prim.op not in ("==", "!=") or prim.mask is not None:
                raise self.error("'tcpudp' compares with == or != only", prim.op_tok or prim.mask_tok)
            either = _proto_test(TCP_OR_UDP)
            return either if prim.op == "==" else all_of(Present("ip", 10), Not(either))
        self._check_value(prim, span, 0xFF)
        return Compare(IP_PROTO, prim.op, prim.value, 0xFF if prim.mask is None else prim.mask)

    def _tcpopt(self, prim: _Primitive, span: str):
        if prim.proto not in (None, TCP):
            raise self.error(f"TCP flags belong to tcp, not '{prim.proto_tok.text}'",
                             prim.proto_tok)
        if prim.data not in ("int", "tcpopt"):
            raise self._need(prim, span, "a TCP flag (syn, ack, fin, rst, psh, urg)")
        if prim.op_tok is not None or prim.mask_tok is not None:
            raise self.error("'tcp opt' takes no operator or mask: it tests that the flags are set",
                             prim.op_tok or prim.mask_tok)
        if not 1 <= prim.value <= 0xFF:
            raise self.error(f"TCP flags {prim.data_tok.text} out of range 1 to 255", prim.data_tok)
        prim.eff_proto = TCP
        return all_of(_proto_test(TCP), _FIRST_FRAGMENT,
                      Compare(TCP_FLAGS, "==", prim.value, prim.value))

    def _field_test(self, prim: _Primitive, span: str) -> Compare:
        f = prim.field
        if prim.data is None:
            raise self._need(prim, span, "a value")
        if prim.data not in ("int", "icmptype") or (prim.data == "icmptype"
                                                    and prim.field_proto != ICMP):
            raise self._need(prim, span, "a number")
        self._check_value(prim, span, f.full_mask)
        return Compare(f, prim.op, prim.value, f.full_mask if prim.mask is None else prim.mask)

    def _transport_field(self, prim: _Primitive, span: str):
        """tcp win, icmp type, transp[..], tcp[..]: first fragments of the protocol only."""
        implied = prim.field_proto
        if implied is not None and prim.proto not in (None, implied):
            raise self.error(f"'{span}' belongs to {'tcp' if implied == TCP else 'icmp'}, not "
                             f"'{prim.proto_tok.text}'", prim.proto_tok)
        proto = implied or prim.proto
        prim.eff_proto = proto
        test = self._field_test(prim, span)
        return all_of(_proto_test(proto), _FIRST_FRAGMENT, test)


_FIRST_FRAGMENT = Compare(IP_FRAG, "==", 0, 0x1FFF)


def _proto_test(proto: int | None):
    if proto is None or proto == ANY_TRANSPORT:
        return None
    if proto == TCP_OR_UDP:
        return any_of(Compare(IP_PROTO, "==", TCP, 0xFF), Compare(IP_PROTO, "==", UDP, 0xFF))
    return Compare(IP_PROTO, "==", proto, 0xFF)


# -- entry points -------------------------------------------------------------------

def parse_tokens(text: str, tokens: list[Token]):
    """The tree of a pattern already split into words (IPFilter strips its action)."""
    return _Parser(text, tokens).parse()


def parse_pattern(text: str):
    """The expression tree of one pattern; PatternError when it is not valid."""
    return parse_tokens(text, tokenize(text))


def tree_text(node) -> str:
    """The tree in a normalised, readable form (the program handler shows it)."""
    return node.text()
