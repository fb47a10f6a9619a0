"""IPRouteTable: the route table shared by every IP lookup element, and Click's handlers.

A route is Click's `ADDR/MASK [GATEWAY] OUTPUT`, or, with several equal-cost
next hops, `ADDR/MASK GATEWAY OUTPUT GATEWAY OUTPUT ...` (GATEWAY '-' for
none).  The table keeps the routes themselves in a dict keyed by (prefix,
length), and mirrors them into the compiled longest-prefix-match table
(cext/fib.pyx) as next-hop indices: one index per distinct (gateway, output)
pair, and one per distinct next-hop group (the member pairs of a multipath
route), all reference-counted.  Two numpy arrays map an index to its output
port and its gateway, so a batch is routed with one Fib call and two array
lookups, then partitioned by output port.

A group's index has port GROUP_PORT; `grp_start`/`grp_len` give its slice of
`grp_members`, the pair indices of its members.  Only a batch that hits a
group is hashed: each such packet's flow hash (see flow_hash) picks a member,
so one flow keeps one path and different flows spread over the members.

The lookup elements (StaticIPLookup, RadixIPLookup, DirectIPLookup,
LinearIPLookup, LookupIPRoute in iplookup.py) are this element with Click's
names; they differ only in which handlers they offer.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from vforward.args import (ArgumentError, configure_warning, ip_address, ip_prefix, named_address,
                           unsigned)
from vforward.element import PUSH_ONLY, Element, HandlerError, read_handler, write_handler

from vforward import kernels

_fib = kernels.load("fib")
NO_ROUTE = _fib.NO_ROUTE
Fib = getattr(_fib, "Fib", None) or _fib.FibReference    # the reference has the same API

MAX_NEXT_HOPS = 0xFFFF          # indices 0..65534; 65535 is NO_ROUTE
NO_PORT = 0xFFFF                # nh_port of an unused index and of NO_ROUTE
GROUP_PORT = 0xFFFE             # nh_port of a next-hop group's index
ROUTE_SYNTAX = "'ADDR/MASK [GATEWAY] OUTPUT'"
ECMP_SYNTAX = "'ADDR/MASK GATEWAY OUTPUT GATEWAY OUTPUT ...' for several next hops"
_DIGITS = re.compile(r"[0-9]+")


class RouteError(ValueError):
    """A route text that cannot be used; the message names the route and the fix."""


# -- routes ------------------------------------------------------------------------
def _ntoa(a: int) -> str:
    return f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"


@dataclass(frozen=True)
class IPRoute:
    """prefix/plen via gw (0: none) out of output port (-1: any, in a remove request);
    a multipath route lists its further (gateway, port) next hops in more_hops.
    family is the address family (IPV4, or IPV6 from elements/ip6/ip6family.py)."""
    prefix: int
    plen: int
    gw: int
    port: int
    more_hops: tuple[tuple[int, int], ...] = ()
    family: "AddressFamily" = field(default=None, compare=False, repr=False)

    def _ntoa(self, a: int) -> str:
        return (self.family or IPV4).ntoa(a)

    @property
    def key(self) -> tuple[int, int]:
        return self.prefix, self.plen

    @property
    def hops(self) -> tuple[tuple[int, int], ...]:
        """Every (gateway, port) next hop, the first one first."""
        return ((self.gw, self.port),) + self.more_hops

    def prefix_text(self) -> str:
        return f"{self._ntoa(self.prefix)}/{self.plen}"

    def __str__(self) -> str:
        """Click's one-line form: '10.0.0.0/8 18.26.4.1 1', '-' for no gateway;
        a multipath route goes on with 'GATEWAY OUTPUT' for each further hop."""
        more = "".join(f" {self._ntoa(gw) if gw else '-'} {port}" for gw, port in self.more_hops)
        gw = self._ntoa(self.gw) if self.gw else "-"
        return f"{self.prefix_text()} {gw} {self.port}{more}"

    def table_line(self) -> str:
        """Click's table-handler line: fields separated by tabs, padded to columns;
        a multipath route's further hops follow as '<tab>GATEWAY<tab>OUTPUT'."""
        addr = self.prefix_text() + "\t"
        if len(addr) < 17:
            addr += "\t"
        gw = (self._ntoa(self.gw) if self.gw else "-") + "\t"
        if len(gw) < 9:
            gw += "\t"
        more = "".join(f"\t{self._ntoa(g) if g else '-'}\t{p}" for g, p in self.more_hops)
        return f"{addr}{gw}{self.port}{more}"

    def matches(self, request: "IPRoute") -> bool:
        """Click's IPRoute::match: same prefix, and same next hops unless the request
        gives no port."""
        return self.key == request.key and (request.port < 0 or self.hops == request.hops)


def ip_prefix_of_name(word: str) -> tuple[int, int] | None:
    """An AddressInfo name as a route prefix (NAME, NAME:ip, NAME:ipnet, NAME:bcast)."""
    if named_address(word, ("ip", "ipnet", "bcast")) is None:
        return None
    return ip_prefix(word)


def _address(word: str, partial: bool) -> int | None:
    """An IPv4 address; with partial, Click's short forms too ('18.26.4' is 18.26.4.0)."""
    parts = word.split(".")
    if not (4 if not partial else 1) <= len(parts) <= 4:
        return None
    value = 0
    for p in parts:
        if not _DIGITS.fullmatch(p) or int(p) > 255:
            return None
        value = (value << 8) | int(p)
    return value << (8 * (4 - len(parts)))


def _prefix(word: str, text: str) -> tuple[int, int]:
    if (named := ip_prefix_of_name(word)) is not None:
        return named
    addr_text, slash, mask_text = word.partition("/")
    addr = _address(addr_text, partial=bool(slash))
    if addr is None:
        raise RouteError(f"route '{text}': '{addr_text}' is not an IPv4 address")
    if not slash:
        return addr, 32
    if _DIGITS.fullmatch(mask_text):
        plen = int(mask_text)
        if plen > 32:
            raise RouteError(f"route '{text}': prefix length {plen} is not 0..32")
    else:
        mask = _address(mask_text, partial=False)
        if mask is None:
            raise RouteError(f"route '{text}': '{mask_text}' is neither a prefix length 0..32 "
                             "nor a netmask such as 255.255.255.0")
        plen = 32 - ((~mask & 0xFFFFFFFF).bit_length())
        if mask != (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF:
            raise RouteError(f"route '{text}': netmask {mask_text} is not a prefix mask "
                             "(ones, then zeros); write it as a prefix length such as /24")
    mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
    return addr & mask, plen


def _gateway(word: str, text: str, family: "AddressFamily") -> int:
    if word == "-":
        return 0
    gw = family.address(word, partial=False)
    if gw is None and family.name == "IPv4" and named_address(word, ("ip", "bcast")) is not None:
        gw = ip_address(word)       # an AddressInfo name
    if gw is None:
        raise RouteError(f"route '{text}': gateway '{word}' is not an {family.name} address; "
                         "write '-' for no gateway")
    return gw


def _output(word: str, text: str) -> int:
    if not _DIGITS.fullmatch(word):
        raise RouteError(f"route '{text}': output '{word}' is not an output port number "
                         "(0, 1, ...)")
    return int(word)


def _multipath(prefix: int, plen: int, words: list[str], text: str,
               family: "AddressFamily") -> IPRoute:
    """'GATEWAY OUTPUT GATEWAY OUTPUT ...' (two or more pairs, '-' for no gateway)."""
    hops = []
    for i in range(0, len(words), 2):
        hop = (_gateway(words[i], text, family), _output(words[i + 1], text))
        if hop in hops:
            raise RouteError(f"route '{text}': next hop '{words[i]} {words[i + 1]}' is given "
                             "twice; give each (gateway, output) once")
        hops.append(hop)
    (gw, port), *more = hops
    return IPRoute(prefix, plen, gw, port, tuple(more), family=family)


def parse_route(text: str, remove: bool = False, family: "AddressFamily" = None) -> IPRoute:
    """Click's route syntax 'ADDR/MASK [GATEWAY] OUTPUT' (cp_ip_route), or a
    multipath route 'ADDR/MASK GATEWAY OUTPUT GATEWAY OUTPUT ...'.

    ADDR/MASK is 10.0.0.0/8, 10.0.0.0/255.0.0.0, Click's short 10/8, or a bare
    address (a /32); host bits are cleared.  GATEWAY is an address or '-'; a
    multipath route gives every hop as a GATEWAY OUTPUT pair, so its word count
    (5, 7, ...) tells it apart from Click's forms.  With remove, 'ADDR/MASK'
    alone (any route for that prefix) is accepted too.  family (IPV4 by
    default) says which addresses the words are.
    """
    family = family or IPV4
    words = text.split()
    text = " ".join(words)
    syntax = "'ADDR/MASK [GATEWAY OUTPUT]'" if remove else ROUTE_SYNTAX
    if not words:
        raise RouteError(f"empty route; expected {syntax}")
    if len(words) > 3 and len(words) % 2 == 0:
        raise RouteError(f"route '{text}': {len(words)} words, expected {syntax} "
                         f"or {ECMP_SYNTAX}")
    prefix, plen = family.prefix(words[0], text)
    if len(words) > 3:
        return _multipath(prefix, plen, words[1:], text, family)
    gw, port = 0, None
    rest = words[1:]
    if len(rest) == 2 or (len(rest) == 1 and not re.fullmatch(r"[-+]?[0-9]+", rest[0])):
        gw = _gateway(rest.pop(0), text, family)
    if rest:
        port = _output(rest[0], text)
    if port is None:
        if not remove:
            raise RouteError(f"route '{text}': no OUTPUT port; expected {syntax}")
        port = -1
    return IPRoute(prefix, plen, gw, port, family=family)


# -- flow hashing ------------------------------------------------------------------------
_TCP, _UDP = 6, 17


def flow_hash(pool, slots: np.ndarray) -> np.ndarray:
    """A uint32 hash per packet of its IPv4 5-tuple, read from the packet bytes at
    the nh annotation: source, destination, protocol, and for TCP and UDP the
    ports, except in non-first fragments (which carry no ports: a fragmented
    flow then hashes apart from its first fragment, as in Linux's L4 hash).
    Vectorised over the batch; flow_hash_reference is the same for one packet."""
    data = pool.data
    last = data.shape[1] - 1
    rows = slots.astype(np.intp)
    base = pool.nh[slots].astype(np.intp)

    def byte(k):
        return data[rows, np.minimum(base + k, last)].astype(np.uint64)
    src = byte(12) << 24 | byte(13) << 16 | byte(14) << 8 | byte(15)
    dst = byte(16) << 24 | byte(17) << 16 | byte(18) << 8 | byte(19)
    proto = byte(9)
    first = ((byte(6) & 0x1F) | byte(7)) == 0
    has_ports = first & ((proto == _TCP) | (proto == _UDP))
    l4 = base + (data[rows, np.minimum(base, last)] & 15).astype(np.intp) * 4
    ports = np.zeros(len(rows), dtype=np.uint64)
    sel = np.flatnonzero(has_ports)
    if len(sel):
        r, b = rows[sel], l4[sel]
        p = np.zeros(len(sel), dtype=np.uint64)
        for k in range(4):
            p = p << 8 | data[r, np.minimum(b + k, last)].astype(np.uint64)
        ports[sel] = p
    return _mix(src, dst, proto, ports)


def _mix(src, dst, proto, ports):
    """Multiply-xorshift mixing of the tuple's words (arrays or ints) into 32 bits."""
    m = 0xFFFFFFFFFFFFFFFF
    h = (src * 0x9E3779B97F4A7C15) & m
    h ^= (dst * 0xC2B2AE3D27D4EB4F) & m
    h ^= ((ports << 8 | proto) * 0x165667B19E3779F9) & m
    h ^= h >> 29
    h = (h * 0xBF58476D1CE4E5B9) & m
    h ^= h >> 32
    return h & 0xFFFFFFFF


def flow_hash_reference(ip_header: bytes) -> int:
    """flow_hash for one packet, from its bytes starting at the IP header."""
    b = bytes(ip_header) + bytes(64)
    src, dst, proto = int.from_bytes(b[12:16], "big"), int.from_bytes(b[16:20], "big"), b[9]
    ports = 0
    if proto in (_TCP, _UDP) and ((b[6] & 0x1F) | b[7]) == 0:
        l4 = (b[0] & 15) * 4
        ports = int.from_bytes(b[l4:l4 + 4], "big")
    return _mix(src, dst, proto, ports)


# -- address families ----------------------------------------------------------------
class AddressFamily:
    """What the route table needs to know of IPv4 (here) or IPv6 (elements/ip6/
    ip6family.py): how addresses read and print, the compiled table, the pool
    column a lookup reads and a gateway is written to, and the flow hash."""
    name = "IPv4"
    example = "10.0.0.1"
    fib_class = Fib
    dst_column = "dst_ip"

    @staticmethod
    def address(word: str, partial: bool) -> int | None:
        return _address(word, partial)

    @staticmethod
    def ntoa(a: int) -> str:
        return _ntoa(a)

    @staticmethod
    def prefix(word: str, text: str) -> tuple[int, int]:
        return _prefix(word, text)

    @staticmethod
    def gw_array(n: int) -> np.ndarray:
        return np.zeros(n, dtype=np.uint32)

    @staticmethod
    def gw_store(gw: int):
        return gw

    @staticmethod
    def gw_int(value) -> int:
        return int(value)


    @staticmethod
    def set_dst(pool, slots: np.ndarray, gws: np.ndarray) -> None:
        """Write gateways (rows of nh_gw) into the packets' destination annotation."""
        pool.dst_ip[slots] = gws

    @staticmethod
    def prefix_array(prefixes: list[int]) -> np.ndarray:
        return np.array(prefixes, dtype=np.uint32)

    @staticmethod
    def flow_hash(pool, slots: np.ndarray) -> np.ndarray:
        return flow_hash(pool, slots)


IPV4 = AddressFamily()


# -- the table -------------------------------------------------------------------------
class RouteTable:
    """Routes by prefix, mirrored into a Fib of next-hop indices.

    `nh_port[i]` and `nh_gw[i]` are the output port and gateway of next-hop
    index i, ready for array lookups; index NO_ROUTE holds the default route
    (port NO_PORT when there is none).  An index whose port is GROUP_PORT is a
    next-hop group: its members, pair indices, are
    `grp_members[grp_start[i]:grp_start[i] + grp_len[i]]`.
    """

    def __init__(self, family: AddressFamily = IPV4):
        self.family = family
        self.fib = family.fib_class()
        self.routes: dict[tuple[int, int], IPRoute] = {}
        self.nh_port = np.full(MAX_NEXT_HOPS + 1, NO_PORT, dtype=np.uint16)
        self.nh_gw = family.gw_array(MAX_NEXT_HOPS + 1)
        # nh_via[i]: index i has a gateway; one byte gathered per packet tells which
        # packets need their destination annotation rewritten (usually none or all)
        self.nh_via = np.zeros(MAX_NEXT_HOPS + 1, dtype=np.bool_)
        self.grp_start = np.zeros(MAX_NEXT_HOPS + 1, dtype=np.uint32)
        self.grp_len = np.ones(MAX_NEXT_HOPS + 1, dtype=np.uint32)
        self.grp_members = np.zeros(0, dtype=np.uint16)
        self.has_groups = False
        self._nh_of: dict[tuple[int, int], int] = {}
        self._grp_of: dict[tuple[tuple[int, int], ...], int] = {}
        self._groups: dict[int, tuple[int, ...]] = {}     # index -> member pair indices
        self._nh_refs: dict[int, int] = {}
        self._free_nh: list[int] = []
        self._next_nh = 0
        self._default: IPRoute | None = None
        # Where a packet without a route goes while there is no default route:
        # NO_PORT (dropped), or the lookup element's NOROUTE output.
        self.no_route_port = NO_PORT

    def set_no_route_port(self, port: int) -> None:
        self.no_route_port = port
        if self._default is None:
            self.nh_port[NO_ROUTE] = port

    def __len__(self) -> int:
        return len(self.routes)

    # next-hop indices
    def _new_index(self, route: IPRoute) -> int:
        if self._free_nh:
            return self._free_nh.pop()
        if self._next_nh < MAX_NEXT_HOPS:
            self._next_nh += 1
            return self._next_nh - 1
        raise RouteError(f"route '{route}': the table already has {MAX_NEXT_HOPS} "
                         "different (gateway, output) pairs and next-hop groups, "
                         "the most it can hold")

    def _ref_pair(self, pair: tuple[int, int], route: IPRoute) -> int:
        nh = self._nh_of.get(pair)
        if nh is None:
            nh = self._new_index(route)
            self._nh_of[pair] = nh
            self._nh_refs[nh] = 0
            self.nh_gw[nh] = self.family.gw_store(pair[0])
            self.nh_via[nh] = pair[0] != 0
            self.nh_port[nh] = pair[1]
        self._nh_refs[nh] += 1
        return nh

    def _unref_pair(self, pair: tuple[int, int]) -> None:
        nh = self._nh_of[pair]
        self._nh_refs[nh] -= 1
        if self._nh_refs[nh] == 0:
            del self._nh_of[pair], self._nh_refs[nh]
            self.nh_port[nh] = NO_PORT
            self.nh_gw[nh] = 0
            self.nh_via[nh] = False
            self._free_nh.append(nh)

    def _ref(self, route: IPRoute) -> int:
        hops = route.hops
        if len(hops) == 1:
            return self._ref_pair(hops[0], route)
        nh = self._grp_of.get(hops)
        if nh is None:
            new = 1 + sum(1 for h in hops if h not in self._nh_of)
            if self.indices_in_use() + new > MAX_NEXT_HOPS:
                raise RouteError(f"route '{route}': the table already has "
                                 f"{self.indices_in_use()} of its {MAX_NEXT_HOPS} (gateway, "
                                 "output) pairs and next-hop groups, too many for this route")
            members = tuple(self._ref_pair(h, route) for h in hops)
            nh = self._new_index(route)
            self._grp_of[hops] = nh
            self._groups[nh] = members
            self._nh_refs[nh] = 0
            self.nh_port[nh] = GROUP_PORT
            self.nh_gw[nh] = 0
            self.nh_via[nh] = False
            self._index_groups()
        self._nh_refs[nh] += 1
        return nh

    def _unref(self, route: IPRoute) -> None:
        hops = route.hops
        if len(hops) == 1:
            self._unref_pair(hops[0])
            return
        nh = self._grp_of[hops]
        self._nh_refs[nh] -= 1
        if self._nh_refs[nh] == 0:
            del self._grp_of[hops], self._groups[nh], self._nh_refs[nh]
            for h in hops:
                self._unref_pair(h)
            self.nh_port[nh] = NO_PORT
            self._free_nh.append(nh)
            self._index_groups()

    def _index_groups(self) -> None:
        """Lay the groups' members out in grp_members (groups change rarely)."""
        flat: list[int] = []
        for nh, members in self._groups.items():
            self.grp_start[nh] = len(flat)
            self.grp_len[nh] = len(members)
            flat.extend(members)
        self.grp_members = np.array(flat, dtype=np.uint16)
        self.has_groups = bool(self._groups)

    def pairs_in_use(self) -> int:
        return len(self._nh_of)

    def groups_in_use(self) -> int:
        return len(self._grp_of)

    def indices_in_use(self) -> int:
        return len(self._nh_of) + len(self._grp_of)

    def has_pair(self, gw: int, port: int) -> bool:
        return (gw, port) in self._nh_of

    def has_group(self, hops: tuple[tuple[int, int], ...]) -> bool:
        return hops in self._grp_of

    # changes
    def _set_default(self, route: IPRoute | None) -> None:
        # The default route never enters the Fib: painting a /0 would write all
        # 2^24 tbl24 entries (64 MiB, 0.1 s) per table.  A lookup that finds no
        # route returns NO_ROUTE, and index NO_ROUTE maps to the default instead
        # (a multipath default: NO_ROUTE is a copy of its group).
        old, self._default = self._default, route
        self._groups.pop(NO_ROUTE, None)
        if route is not None and route.more_hops:
            self._groups[NO_ROUTE] = self._groups[self._ref(route)]
            self.nh_port[NO_ROUTE] = GROUP_PORT
            self.nh_gw[NO_ROUTE] = 0
            self.nh_via[NO_ROUTE] = False
        else:
            self.nh_port[NO_ROUTE] = self.no_route_port if route is None else route.port
            self.nh_gw[NO_ROUTE] = 0 if route is None else self.family.gw_store(route.gw)
            self.nh_via[NO_ROUTE] = route is not None and route.gw != 0
        if old is not None and old.more_hops:
            self._unref(old)
        self._index_groups()

    def set(self, route: IPRoute) -> IPRoute | None:
        """Add route, replacing any route for its prefix; returns the replaced one."""
        old = self.routes.get(route.key)
        if route.plen == 0:
            self._set_default(route)
        else:
            nh = self._ref(route)
            self.fib.insert(route.prefix, route.plen, nh)
            if old is not None:
                self._unref(old)
        self.routes[route.key] = route
        return old

    def remove(self, key: tuple[int, int]) -> IPRoute:
        old = self.routes.pop(key)
        if key[1] == 0:
            self._set_default(None)
        else:
            self.fib.delete(key[0], key[1])
            self._unref(old)
        return old

    def load(self, routes: list[IPRoute]) -> None:
        """Replace the whole table (one Fib.load: the fast path for big tables)."""
        self.clear()
        specific = [r for r in routes if r.plen]
        nhs = [self._ref(r) for r in specific]
        self.routes = {r.key: r for r in routes}
        self.fib.load(self.family.prefix_array([r.prefix for r in specific]),
                      np.array([r.plen for r in specific], dtype=np.uint8),
                      np.array(nhs, dtype=np.uint16))
        for r in routes:
            if r.plen == 0:
                self._set_default(r)

    def clear(self) -> None:
        self.fib.clear()
        self.routes.clear()
        self.nh_port.fill(NO_PORT)
        self.nh_port[NO_ROUTE] = self.no_route_port
        self.nh_gw.fill(0)
        self.nh_via.fill(False)
        self._nh_of.clear()
        self._grp_of.clear()
        self._groups.clear()
        self._nh_refs.clear()
        self._free_nh.clear()
        self._next_nh = 0
        self._default = None
        self._index_groups()

    # queries
    def choose_members(self, nhs: np.ndarray, pool, idx: np.ndarray) -> None:
        """Replace, in place, each group index in nhs (looked up for the packets in
        slots idx) by the member its packet's flow hash picks."""
        grouped = np.flatnonzero(self.nh_port[nhs] == GROUP_PORT)
        if not len(grouped):
            return
        g = nhs[grouped]
        pick = self.family.flow_hash(pool, idx[grouped]) % self.grp_len[g]
        nhs[grouped] = self.grp_members[self.grp_start[g] + pick]

    def lookup(self, addr: int) -> tuple[int, int]:
        """(output port or -1, gateway) for one address; a multipath route's first hop."""
        nh = self.fib.lookup(addr)
        if nh == NO_ROUTE and self._default is None:
            return (-1, 0)
        if self.nh_port[nh] == GROUP_PORT:
            nh = self.grp_members[self.grp_start[nh]]
        port = int(self.nh_port[nh])
        return (-1, 0) if port == NO_PORT else (port, self.family.gw_int(self.nh_gw[nh]))

    def sorted_routes(self) -> list[IPRoute]:
        return [self.routes[k] for k in sorted(self.routes)]


# -- the element ------------------------------------------------------------------------
# Batches this short are routed one lookup at a time (see IPRouteTable.push).
SCALAR_BATCH = 4


class IPRouteTable(Element):
    """IPRouteTable -- IP routing table superclass

    The base of the route lookup elements: parses routes, routes batches, and
    offers the table and lookup handlers.  See StaticIPLookup.
    """
    ABSTRACT = True
    PORTS = "1/-"
    PROCESSING = PUSH_ONLY
    FAMILY = IPV4
    scalar_batch = SCALAR_BATCH     # the benchmark sets 0 on an instance to compare

    def configure(self, args):
        texts = args.rest()
        no_route = args.keyword("NOROUTE", unsigned, default=None)
        args.finish()
        if no_route is not None and no_route >= GROUP_PORT:
            raise ArgumentError(f"{args.where}: keyword NOROUTE: {no_route} is not an output "
                                f"number; give 0..{GROUP_PORT - 1}")
        self.table = RouteTable(self.FAMILY)
        if no_route is not None:
            self.table.set_no_route_port(no_route)
        self.drops = 0
        seen: dict[tuple[int, int], tuple[int, IPRoute]] = {}
        routes = []
        for i, text in enumerate(texts, 1):
            try:
                route = parse_route(text, family=self.FAMILY)
            except RouteError as e:
                raise ArgumentError(f"{args.where}: argument {i}: {e}") from None
            if route.key in seen:
                # Click keeps the first route for a prefix and warns
                j, other = seen[route.key]
                configure_warning(f"{args.where}: argument {i}: route '{route}' repeats the "
                                  f"prefix {route.prefix_text()} of argument {j}; the first, "
                                  f"'{other}', is kept and this one ignored, as Click does")
                continue
            seen[route.key] = (i, route)
            routes.append(route)
        try:
            self.table.load(routes)
        except RouteError as e:
            raise ArgumentError(f"{args.where}: {e}") from None
        self._needed_outputs = max([p for r in routes for _, p in r.hops]
                                   + [-1 if no_route is None else no_route]) + 1

    def port_spec(self):
        # Every output a configured route names must be connected: the graph
        # builder then reports a missing one as an unconnected output.
        return f"1/{self._needed_outputs}-"

    # -- packets -------------------------------------------------------------
    def push(self, port, batch):
        idx = batch.idx
        n = len(idx)
        if not n:
            return
        if not idx.flags.c_contiguous:
            idx = batch.idx = np.ascontiguousarray(idx)
        pool = batch.pool
        table = self.table
        if n <= self.scalar_batch:
            # A few packets (an idle ping, a TCP flow's super-frames): scalar
            # lookups cost a fraction of the array calls below.  Packets bound
            # for several outputs, or a multipath route, take the general path.
            slots = idx.tolist()
            lookup = table.fib.lookup
            if self.FAMILY is IPV4:
                dst = pool.dst_ip
                nhs = [lookup(dst.item(slot)) for slot in slots]
            else:       # 16 bytes each, read through a memoryview: no array per packet
                raw = pool.dst_ip6.reshape(-1).data
                nhs = [lookup(raw[slot * 16:slot * 16 + 16]) for slot in slots]
            port = table.nh_port.item(nhs[0])
            if port != GROUP_PORT and all(table.nh_port.item(nh) == port for nh in nhs):
                if self.FAMILY is IPV4:
                    for slot, nh in zip(slots, nhs):
                        gw = table.nh_gw.item(nh)
                        if gw:
                            dst[slot] = gw
                else:
                    for slot, nh in zip(slots, nhs):
                        if table.nh_via.item(nh):
                            pool.dst_ip6.view(np.uint64)[slot] = table.nh_gw[nh]
                if port == NO_PORT:
                    self.drops += n
                    batch.kill()
                else:
                    pool.port[idx] = port
                    self.emit(port, batch)
                return
        nhs = np.empty(n, dtype=np.uint16)
        dst = getattr(pool, self.FAMILY.dst_column)
        table.fib.lookup_indexed(dst, idx, nhs)
        if table.has_groups:
            table.choose_members(nhs, pool, idx)
        ports = table.nh_port[nhs]
        via = table.nh_via[nhs]
        if via.any():
            self.FAMILY.set_dst(pool, idx[via], table.nh_gw[nhs[via]])
        first = ports[0]
        if (ports == first).all():
            if first == NO_PORT:
                self.drops += n
                batch.kill()
            else:
                pool.port[idx] = first
                self.emit(int(first), batch)
            return
        n_out = self.n_outputs
        routed = ports != NO_PORT
        pool.port[idx[routed]] = ports[routed]
        parts = batch.partition(np.minimum(ports, n_out), n_out + 1)
        for p in range(n_out):
            self.emit(p, parts[p])
        if len(parts[n_out].idx):
            self.drops += len(parts[n_out].idx)
            parts[n_out].kill()

    def fused_push(self, port, resolve):
        from vforward.elements.ip.fusedforward import fused_forward
        return fused_forward(self, port, resolve)

    # -- handlers --------------------------------------------------------------
    TABLE_IN_ORDER_GIVEN = False   # list-based classes of Click's print routes as added

    @read_handler("table")
    def read_table(self):
        routes = list(self.table.routes.values()) if self.TABLE_IN_ORDER_GIVEN \
            else self.table.sorted_routes()
        return "".join(r.table_line() + "\n" for r in routes)

    @read_handler("lookup")
    def read_lookup(self, arg=None):
        text = (arg or "").strip()
        family = self.FAMILY
        addr = family.address(text, partial=False)
        if addr is None:
            raise HandlerError(f"expected an {family.name} address such as {family.example}, "
                               f"not '{text}'")
        port, gw = self.table.lookup(addr)
        return f"{port} {family.ntoa(gw)}" if gw else str(port)

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    def _check_output(self, route: IPRoute) -> None:
        for _, port in route.hops:
            if port >= self.n_outputs:
                have = (f"outputs 0..{self.n_outputs - 1}" if self.n_outputs > 1 else
                        "only output 0" if self.n_outputs == 1 else "no outputs")
                raise RouteError(f"route '{route}': output {port} is not connected; "
                                 f"'{self.name}' has {have}")


class DynamicIPRouteTable(IPRouteTable):
    """DynamicIPRouteTable -- an IPRouteTable whose routes handlers can change

    Adds Click's add, set, remove and ctrl write handlers.
    """
    ABSTRACT = True

    def _request(self, command: str, text: str) -> IPRoute:
        route = parse_route(text, remove=command == "remove", family=self.FAMILY)
        if command != "remove":
            self._check_output(route)
        return route

    def _plan(self, commands: list[tuple[str, str, str]]) -> list[tuple[str, IPRoute]]:
        """Check every (command, route text, where) against the table as the earlier
        ones would leave it; the changes to make, or RouteError and nothing changed."""
        pending: dict[tuple[int, int], IPRoute | None] = {}
        new_pairs: set[tuple[int, int]] = set()
        new_groups: set[tuple[tuple[int, int], ...]] = set()
        plan = []

        def current(key):
            return pending[key] if key in pending else self.table.routes.get(key)
        for command, text, where in commands:
            try:
                route = self._request(command, text)
            except RouteError as e:
                raise RouteError(f"{where}{e}") from None
            old = current(route.key)
            if command == "add" and old is not None:
                raise RouteError(f"{where}route '{route}' conflicts with existing route "
                                 f"'{old}'; use set to replace it")
            if command == "remove":
                asked = " ".join(text.split())
                if old is None:
                    raise RouteError(f"{where}route '{asked}' not found; the table has no route "
                                     f"for {route.prefix_text()}")
                if not old.matches(route):
                    raise RouteError(f"{where}route '{asked}' not found; the table has "
                                     f"'{old}' for {route.prefix_text()}")
                pending[route.key] = None
                plan.append(("remove", old))
                continue
            pending[route.key] = route
            new_pairs.update(h for h in route.hops if not self.table.has_pair(*h))
            if route.more_hops and not self.table.has_group(route.hops):
                new_groups.add(route.hops)
            plan.append(("set", route))
        if self.table.indices_in_use() + len(new_pairs) + len(new_groups) > MAX_NEXT_HOPS:
            raise RouteError(f"these routes need more than {MAX_NEXT_HOPS} different "
                             "(gateway, output) pairs and next-hop groups, the most a "
                             "table holds")
        return plan

    def _apply(self, plan) -> None:
        for action, route in plan:
            if action == "remove":
                self.table.remove(route.key)
            else:
                self.table.set(route)

    def _run(self, commands) -> None:
        try:
            plan = self._plan(commands)
        except RouteError as e:
            raise HandlerError(str(e)) from None
        self._apply(plan)

    @write_handler("add")
    def write_add(self, value):
        self._run([("add", value, "")])

    @write_handler("set")
    def write_set(self, value):
        self._run([("set", value, "")])

    @write_handler("remove")
    def write_remove(self, value):
        self._run([("remove", value, "")])

    @write_handler("ctrl")
    def write_ctrl(self, value):
        commands = []
        for n, line in enumerate(value.splitlines(), 1):
            line = re.sub(r"(//|#).*", "", line).strip()
            if not line:
                continue
            command, _, rest = line.partition(" ")
            where = f"ctrl line {n} ('{line}'): "
            if command not in ("add", "set", "remove"):
                raise HandlerError(f"{where}unknown command '{command}'; use add, set or remove; "
                                   "nothing was changed")
            commands.append((command, rest, where))
        try:
            plan = self._plan(commands)
        except RouteError as e:
            raise HandlerError(f"{e}; nothing was changed") from None
        self._apply(plan)
