"""ICMPError: answer an offending IP packet with an ICMP error message."""
from __future__ import annotations

import struct

import numpy as np

from vforward.args import ArgumentError, anything, ip_address, unquote, unsigned, word
from vforward.element import AGNOSTIC, Element, ElementError, read_handler
from vforward.packet import BROADCAST, MULTICAST, Batch, PoolExhausted

from vforward.elements.ip.checkipheader import address_list
from vforward.elements.ip.ipfields import PROTO_ICMP, ipheader
from vforward.elements.ip.iproutetable import IPV4, IPRouteTable

# Click's mnemonic names (NameInfo T_ICMP_TYPE and T_ICMP_CODE).
ICMP_TYPES = {"unreachable": 3, "sourcequench": 4, "redirect": 5, "timeexceeded": 11,
              "parameterproblem": 12}
ERROR_TYPES = frozenset(ICMP_TYPES.values())
ICMP_CODES = {
    3: {"net": 0, "host": 1, "protocol": 2, "proto": 2, "port": 3, "needfrag": 4,
        "srcroutefail": 5, "netunknown": 6, "hostunknown": 7, "isolated": 8,
        "netprohibited": 9, "hostprohibited": 10, "tosnet": 11, "toshost": 12,
        "filterprohibited": 13, "hostprecedence": 14, "precedencecutoff": 15},
    4: {},
    5: {"net": 0, "host": 1, "tosnet": 2, "toshost": 3},
    11: {"transit": 0, "reassembly": 1},
    12: {"erroratptr": 0, "missingopt": 1, "length": 2},
}
UNREACH, REDIRECT, PARAMPROB = 3, 5, 12
NEEDFRAG = 4
IPOPT_EOL, IPOPT_NOP, IPOPT_LSRR, IPOPT_SSRR = 0, 1, 131, 137
DEFAULT_TTL = 255
MIN_MTU = 68                       # RFC 791: every IPv4 link carries 68-byte packets


def answer_offending(element, batch: Batch) -> Batch | None:
    """The error packets `element` (ICMPError, ICMP6Error) makes for `batch`,
    which it consumes: element._offending(pool, slot) gives the bytes to quote
    or None when no error may be sent, element._build(pool, new, slot, quote)
    writes the error into a fresh slot.  Counts element.count and
    element.drops (no answer, or no free slot)."""
    pool = batch.pool
    out = []
    limit = element.limit
    for slot in batch.idx.tolist():
        quote = element._offending(pool, slot)
        if quote is None or (limit is not None and not limit.allow()):
            element.drops += 1
            continue
        try:
            new = int(pool.alloc(1).idx[0])
        except PoolExhausted:
            element.drops += 1
            continue
        element._build(pool, new, slot, quote)
        out.append(new)
    batch.kill()
    if not out:
        return None
    element.count += len(out)
    return Batch(pool, np.array(out, dtype=np.uint32))


# -- where an error comes from, and how many may leave (ICMPError, ICMP6Error) --------------
ERROR_KEYWORDS_DOC = """\
      ROUTES (element)   a route lookup element of this router: with SOURCES,
                    an error comes from the address of the interface it will
                    leave by, as Linux chooses (the route back to the offending
                    packet's source, usually the interface it came in on)
      SOURCES "ADDR ..."   the address of each output of ROUTES, in order
                    ('-' for an output without one); SRC where the route
                    back leaves by such an output or there is none
      LIMIT (element)   an ICMPErrorLimit whose token bucket the router's error
                    elements share; an error it refuses is not sent"""


def configure_error_source(element, args, address) -> None:
    """Reads ROUTES, SOURCES and LIMIT; `address` converts one SOURCES word."""
    element.routes_name = args.keyword("ROUTES", word, default=None)
    sources = args.keyword("SOURCES", anything, default=None)
    element.limit_name = args.keyword("LIMIT", word, default=None)
    if (element.routes_name is None) != (sources is None):
        raise ArgumentError(f"{args.where}: keywords ROUTES and SOURCES go together: ROUTES "
                            "names the route table, SOURCES the address of each of its outputs")
    element.sources = []
    for i, text in enumerate(unquote(sources or "").split()):
        try:
            element.sources.append(None if text == "-" else address(text))
        except ArgumentError as e:
            raise ArgumentError(f"{args.where}: keyword SOURCES: output {i}: {e}") from None
    element.routes = None
    element.limit = None


def resolve_error_source(element, family) -> None:
    """At initialize: the ROUTES and LIMIT elements, checked."""
    from vforward.elements.ip.icmperrorlimit import ICMPErrorLimit
    where = f"{element.location}: {element.name} :: {element.class_name()}"
    if element.routes_name is not None:
        rt = element.router.element(element.routes_name)
        if not isinstance(rt, IPRouteTable) or rt.FAMILY is not family:
            raise ElementError(f"{where}: keyword ROUTES: '{element.routes_name}' is not an "
                               f"{family.name} route lookup element of this router; name one "
                               f"(such as rt :: RadixIP{'6' if family is not IPV4 else ''}Lookup)")
        element.routes = rt
    if element.limit_name is not None:
        limit = element.router.element(element.limit_name)
        if not isinstance(limit, ICMPErrorLimit):
            raise ElementError(f"{where}: keyword LIMIT: '{element.limit_name}' is not an "
                               "ICMPErrorLimit of this router; add one, such as "
                               f"{element.limit_name} :: ICMPErrorLimit")
        element.limit = limit


def error_source(element, offender_src: int, default):
    """The source of an error to offender_src: SOURCES[the output of the route
    back], else default."""
    if element.routes is None:
        return default
    port, _ = element.routes.table.lookup(offender_src)
    if 0 <= port < len(element.sources) and element.sources[port] is not None:
        return element.sources[port]
    return default


def _number(text: str, names: dict, what: str) -> int:
    t = unquote(text).strip()
    if t.lower() in names:
        return names[t.lower()]
    try:
        v = int(t, 0)
    except ValueError:
        v = -1
    if not 0 <= v <= 255:
        listed = ", ".join(sorted(names, key=names.get)) or "no names"
        raise ArgumentError(f"{t!r} is not {what}; use a number 0..255 or one of {listed}")
    return v


def icmp_type(text: str) -> int:
    return _number(text, ICMP_TYPES, "an ICMP error type")


def _checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _unicast(addr: int) -> bool:
    """Not limited broadcast and not multicast (directed broadcast cannot be told here)."""
    return addr != 0xFFFFFFFF and addr >> 28 != 0xE


def _valid_source(addr: int) -> bool:
    """RFC 1812 5.3.7 and 4.2.2.11: unicast, not net 0, not loopback, not class E."""
    net = addr >> 24
    return _unicast(addr) and net != 0 and net != 127 and net < 240


def _has_source_route(options: bytes) -> bool:
    i = 0
    while i < len(options):
        opt = options[i]
        if opt == IPOPT_EOL:
            return False
        if opt in (IPOPT_LSRR, IPOPT_SSRR):
            return True
        if opt == IPOPT_NOP:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2:
            return False                # malformed: stop, as a router would
        i += options[i + 1]
    return False


class ICMPError(Element):
    __doc__ = """ICMPError(SRC, TYPE [, CODE, KEYWORDS]) -- generate ICMP error packets

    Ports: 1 input, 1 output; agnostic.

    Answers each incoming IP packet (network header annotation set) with a
    new ICMP error packet of type TYPE and code CODE, built in a fresh pool
    slot: an IP header from SRC to the offending packet's source, TTL 255,
    and an ICMP message that quotes as much of the offending packet as
    fits in MTU bytes (RFC 1812 4.3.2.3; Linux and Click do the same;
    RFC 792 asks for the IP header and 8 bytes of payload at least), both
    checksums right.  The new
    packet's destination address annotation is its destination, so it can
    go straight to a route lookup.  The offending packet is freed.

    TYPE and CODE are numbers 0..255 or Click's names.  TYPEs:
    unreachable (3), sourcequench (4), redirect (5), timeexceeded (11),
    parameterproblem (12); other types are not errors and are refused.
    CODEs: for unreachable net (0), host (1), protocol (2), port (3),
    needfrag (4), srcroutefail (5) ...; for redirect net, host, tosnet,
    toshost; for timeexceeded transit (0), reassembly (1); for
    parameterproblem erroratptr (0), missingopt (1), length (2).  CODE
    defaults to 0.

    As RFC 1812 4.3.2.7 asks, no error is sent about an ICMP error, a
    fragment other than the first, a packet to a broadcast or multicast
    destination, a link-level broadcast or multicast (packet type
    annotation), a packet from an invalid source (broadcast, multicast,
    net 0, 127/8, class E), a packet with an address in BADADDRS, or, for
    redirects, a source-routed packet.  Such packets are dropped and counted.

    A redirect names the destination address annotation as the better
    gateway.  A needfrag error reports the next-hop MTU: PMTU if given,
    otherwise the MTU of the IPFragmenter that feeds this element (found
    in the graph, as Click finds notifiers), otherwise 0.  A parameter
    problem's pointer is 0 (there is no pointer annotation).

    Ordinarily ICMPError follows output 1 of DecIPTTL (timeexceeded),
    IPFragmenter (unreachable, needfrag) or a route table's default or
    NOROUTE output (unreachable, net: what Linux sends for a packet without
    a route), and is followed by the route lookup.  LIMIT shares one rate
    limit among a router's error elements.  This element works per packet
    in Python: errors are rare.

    Arguments:
      SRC (IP address)   source address of the error packets
      TYPE (ICMP type)   an error type, by number or name
      CODE (ICMP code, default 0)   by number or name

    Keyword arguments:
      BADADDRS "ADDR ..."   never answer packets from or to these addresses
      MTU (integer, default 576)   largest error packet; the quoted bytes are
                    cut to fit
      PMTU (integer)   next-hop MTU to report in needfrag errors
""" + ERROR_KEYWORDS_DOC + """

    Handlers:
      count (read)   error packets generated
      drops (read)   offending packets that got no answer (and pool exhaustion)
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.src = args.mandatory("SRC", ip_address)
        self.type = args.mandatory("TYPE", icmp_type)
        code_text = args.positional("CODE", anything, default="0")
        bad = args.keyword("BADADDRS", address_list, default=None)
        self.mtu = args.keyword("MTU", unsigned, default=576)
        self.pmtu = args.keyword("PMTU", unsigned, default=None)
        configure_error_source(self, args, ip_address)
        args.finish()
        if self.type not in ERROR_TYPES:
            raise ArgumentError(f"{args.where}: argument TYPE: ICMP type {self.type} is not an "
                                "error type; use unreachable, sourcequench, redirect, "
                                "timeexceeded or parameterproblem")
        try:
            self.code = _number(code_text, ICMP_CODES[self.type],
                                f"a code of ICMP type {self.type}")
        except ArgumentError as e:
            raise ArgumentError(f"{args.where}: argument CODE: {e}") from None
        if self.mtu < MIN_MTU:
            raise ArgumentError(f"{args.where}: argument MTU: {self.mtu} is below the IPv4 "
                                f"minimum of {MIN_MTU}")
        if self.pmtu is not None and self.pmtu > 0xFFFF:
            raise ArgumentError(f"{args.where}: argument PMTU: {self.pmtu} does not fit the "
                                "16-bit next-hop MTU field; give 0..65535")
        self.bad_addrs = frozenset(bad.tolist()) if bad is not None else frozenset()
        self.count = 0
        self.drops = 0
        self._ip_id = 0
        self._next_hop_mtu = self.pmtu or 0

    def initialize(self):
        resolve_error_source(self, IPV4)
        if self.type == UNREACH and self.code == NEEDFRAG and self.pmtu is None:
            self._next_hop_mtu = self._upstream_mtu()

    def _upstream_mtu(self) -> int:
        from vforward.elements.ip.ipfragmenter import IPFragmenter
        found = self.router.upstream(self, 0, lambda e: isinstance(e, IPFragmenter))
        mtus = sorted({f.mtu for f in found})
        if len(mtus) > 1:
            raise ElementError(
                f"{self.location}: {self.name} :: ICMPError: needfrag errors for IPFragmenters "
                f"with different MTUs ({', '.join(map(str, mtus))}); give PMTU or use one "
                "ICMPError per IPFragmenter")
        return mtus[0] if mtus else 0

    # -- packets ------------------------------------------------------------
    def process(self, batch):
        made = answer_offending(self, batch)
        if made is not None:
            ipheader.set_ip_checksum(made.pool, made.idx)
        return made

    def _offending(self, pool, slot: int) -> bytes | None:
        """The bytes to quote (as many as fit in MTU), or None when no error may be sent."""
        start = int(pool.off[slot])
        end = start + int(pool.length[slot])
        h = int(pool.nh[slot])
        if end > pool.slot_size or h < start or h + 20 > end:
            return None
        ip = pool.data[slot, h:end].tobytes()
        hlen = (ip[0] & 0x0F) * 4
        if hlen < 20 or hlen > len(ip):
            return None
        frag, proto = struct.unpack_from("!HxB", ip, 6)
        src, dst = struct.unpack_from("!II", ip, 12)
        if proto == PROTO_ICMP and (hlen + 4 > len(ip) or ip[hlen] in ERROR_TYPES):
            return None                     # never an error about an error
        if not _unicast(dst) or dst in self.bad_addrs:
            return None
        if pool.ptype[slot] in (BROADCAST, MULTICAST):
            return None
        if not _valid_source(src) or src in self.bad_addrs:
            return None
        if frag & 0x1FFF:
            return None                     # not the first fragment
        if self.type == REDIRECT and _has_source_route(ip[20:hlen]):
            return None
        return ip[:self.mtu - 28]

    def _build(self, pool, new: int, slot: int, quote: bytes) -> None:
        offender_src = struct.unpack_from("!I", quote, 12)[0]
        if self.type == PARAMPROB:
            rest = 0                        # pointer (no parameter-problem annotation)
        elif self.type == REDIRECT:
            rest = int(pool.dst_ip[slot])   # the better gateway
        elif self.type == UNREACH and self.code == NEEDFRAG:
            rest = self._next_hop_mtu
        else:
            rest = 0
        icmp = struct.pack("!BBHI", self.type, self.code, 0, rest) + quote
        icmp = icmp[:2] + struct.pack("!H", _checksum(icmp)) + icmp[4:]
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(icmp), self._ip_id, 0, DEFAULT_TTL,
                         PROTO_ICMP, 0, error_source(self, offender_src, self.src), offender_src)
        o = int(pool.off[new])
        n = len(ip) + len(icmp)
        pool.data[new, o:o + n] = np.frombuffer(ip + icmp, dtype=np.uint8)
        pool.length[new] = n
        pool.nh[new] = o
        pool.dst_ip[new] = offender_src
        pool.ts_ns[new] = pool.ts_ns[slot]
        pool.fix_ip_src[new] = 1     # FixIPSrc may give it the outgoing interface's address

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops
