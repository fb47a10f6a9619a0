"""AddressTranslator: IPv6 address (and port) translation, static and dynamic."""
from __future__ import annotations

import ipaddress
import re
import struct

import numpy as np

from vforward.args import ArgumentError, boolean, configure_warning, integer
from vforward.element import PUSH_ONLY, Element, read_handler

from .icmp6error import pseudo_header_checksum
from .ip6family import ip6_address
from .siit import COMPATIBLE_PREFIX, MAPPED_PREFIX, embedded_ip4

TCP, UDP, ICMP6 = 6, 17, 58
OUTWARD, INWARD = 0, 1


def _addr(text: str, where: str, what: str) -> bytes:
    a = ip6_address(text)
    if a is None:
        raise ArgumentError(f"{where}: {what}: {text!r} is not an IPv6 address; write one such "
                            "as ::ffff:192.0.2.1")
    return a.to_bytes(16, "big")


def _port(text: str, where: str, what: str) -> int:
    try:
        p = integer(text)
    except ArgumentError:
        p = -1
    if not 0 <= p <= 0xFFFF:
        raise ArgumentError(f"{where}: {what}: {text!r} is not a port number (0-65535)")
    return p


def _same(a: bytes) -> bytes:
    """The form an address is matched in: ::a.b.c.d and ::ffff:a.b.c.d name one IPv4
    host, and ProtocolTranslator46 writes the second while Click's configurations
    often map to the first."""
    if a[:12] == COMPATIBLE_PREFIX and embedded_ip4(a) is not None:
        return MAPPED_PREFIX + a[12:]
    return a


def _text(a: bytes) -> str:
    return str(ipaddress.IPv6Address(a))


_FLAGS = re.compile(r"[01](\s+[01]){5}")
_STATIC_FIELDS = {"1 0 1 0 0 0": "0", "1 1 1 1 0 0": "1"}          # -> STATIC_PORTMAPPING
_DYNAMIC_FIELDS = {("1 0 0 0 0 0", "0 0 1 0 0 0"): "0",              # -> DYNAMIC_PORTMAPPING
                   ("1 1 0 0 0 0", "0 0 1 1 0 0"): "1"}


def _modern_form(raw: list[str], where: str) -> list[str]:
    """An older Click's arguments (2000-2001: six-flag field masks) as today's, with a
    warning naming them; today's arguments unchanged.  The older form is

      NSTATIC, STATIC_FIELDS, MAPPING1 ... MAPPINGn, OUTWARD_FIELDS, INWARD_FIELDS,
      DIRECTION, ADDR LOW HIGH ...

    (with NSTATIC 0 the one mask stands for STATIC_FIELDS and OUTWARD_FIELDS); each
    mask flags the fields (inner address, inner port, mapped address, mapped port,
    external address, external port) that identify a mapping."""
    words = [" ".join(r.split()) for r in raw]
    if len(words) < 2 or not _FLAGS.fullmatch(words[1]):
        return raw
    try:
        nstatic = int(words[0])
    except ValueError:
        return raw

    def refuse(why):
        return ArgumentError(f"{where}: an older Click's AddressTranslator arguments (six-flag "
                             f"masks): {why}; write today's form (see 'vforward elements "
                             "AddressTranslator')")
    s = 1 if nstatic == 0 else 2 + nstatic
    if len(words) < s + 3:
        raise refuse(f"expected the outward and inward masks and DIRECTION after "
                     f"{'the static mappings' if nstatic else 'NSTATIC'}")
    modern = [str(nstatic)]
    if nstatic:
        static_ports = _STATIC_FIELDS.get(words[1])
        if static_ports is None:
            raise refuse(f"static mask {words[1]!r} has no equivalent (today's static "
                         "mappings are 'INNER MAPPED' (1 0 1 0 0 0) or 'INNER IPORT MAPPED "
                         "MPORT' (1 1 1 1 0 0))")
        modern += [static_ports] + words[2:2 + nstatic]
    outward, inward, direction, pools = words[s], words[s + 1], words[s + 2], words[s + 3:]
    dynamic_ports = _DYNAMIC_FIELDS.get((outward, inward))
    if dynamic_ports is None:
        raise refuse(f"outward and inward masks {outward!r}, {inward!r} have no equivalent "
                     "(today's are '1 0 0 0 0 0', '0 0 1 0 0 0' for addresses, '1 1 0 0 0 0', "
                     "'0 0 1 1 0 0' for addresses and ports)")
    if not pools:
        modern.append("0")
    elif dynamic_ports == "1":
        if len(pools) != 1:
            raise refuse(f"{len(pools)} 'ADDR LOW HIGH' pools; today's AddressTranslator "
                         "maps ports from one")
        modern += ["1", "1", direction, pools[0]]
    else:
        # address-only mapping: the pool's addresses (the older form gave each a port range)
        modern += ["1", "0", direction] + [p.split()[0] for p in pools]
    configure_warning(f"{where}: an older Click's AddressTranslator arguments (six-flag "
                      f"masks); read as today's AddressTranslator({', '.join(modern)})")
    return modern


class AddressTranslator(Element):
    """AddressTranslator(NSTATIC, [STATIC_PORTMAPPING, MAPPING1 ... MAPPINGn,] DYNAMIC [, DYNAMIC_PORTMAPPING, DIRECTION, ADDRESSES...])
    -- translate IPv6 packets' addresses and ports

    Ports: 2 inputs, 2 outputs; push.

    Translates IPv6 TCP, UDP and ICMPv6 packets between inner addresses
    and mapped addresses, in the manner of a NAT for IPv6 (Click's element
    for the NAT-PT gateway, used with ProtocolTranslator64/46).  Input 0
    takes outward packets: their source (inner address and port) becomes
    the mapped address and port, and they leave on output 0.  Input 1 takes
    inward packets: their destination (mapped address and port) becomes
    the inner address and port, and they leave on output 1.  Checksums are
    recomputed.  Packets start at their IPv6 header.

    The arguments, in Click's order:

    - NSTATIC: how many static mappings follow.  When it is not 0,
      STATIC_PORTMAPPING (boolean) says whether they map ports, and each
      MAPPING is `INNER_ADDR MAPPED_ADDR`, or with ports
      `INNER_ADDR INNER_PORT MAPPED_ADDR MAPPED_PORT`.
    - DYNAMIC (boolean): whether new mappings are made for flows no static
      mapping covers.  When false, nothing follows.
    - DYNAMIC_PORTMAPPING (boolean) and DIRECTION (boolean: 0, flows
      started from the inside get mappings; 1, flows started from outside
      do).  Without port mapping, the rest are the addresses to hand out,
      one per argument: each binds to the first host that needs it and
      stays bound (address-only mapping keeps ports).  With port mapping,
      the last argument is `ADDR LOW HIGH`: every new flow gets ADDR and
      the next free port in LOW..HIGH.

    A packet no mapping covers, and for which none may be made (wrong
    direction, addresses or ports exhausted), is dropped and counted.  An
    ICMPv6 echo's identifier plays the part of the port; other ICMPv6
    messages have none.  Other next headers are dropped.  Mappings never
    expire (as in Click).  An IPv4-compatible address (::a.b.c.d) matches
    the IPv4-mapped one (::ffff:a.b.c.d) of the same IPv4 address: Click's
    configurations map to the first, ProtocolTranslator46 writes the
    second.  Works per packet in Python.

    An older Click's arguments (2000-2001, as in Click's gnat examples),
    with six-flag field masks --
    `NSTATIC, STATIC_FIELDS, MAPPINGS..., OUTWARD_FIELDS, INWARD_FIELDS,
    DIRECTION, ADDR LOW HIGH` (with NSTATIC 0 one mask serves as both
    STATIC_FIELDS and OUTWARD_FIELDS) -- are accepted with a warning that
    prints the same configuration in today's form, when the masks are
    ones today's arguments express: static `1 0 1 0 0 0` (addresses) or
    `1 1 1 1 0 0` (with ports); outward/inward `1 0 0 0 0 0`/`0 0 1 0 0 0`
    (addresses) or `1 1 0 0 0 0`/`0 0 1 1 0 0` (addresses and ports, from
    one `ADDR LOW HIGH` pool).  Other masks are refused, naming them.

    Handlers:
      mappings (read)   one line per mapping: inner -> mapped, with ports
                        where they are mapped
      drops (read)      packets dropped with no mapping
    """
    PORTS = "2/2"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        where = args.where
        raw = _modern_form(args.raw, where)
        if not raw:
            raise ArgumentError(f"{where}: missing argument NSTATIC; give at least "
                                "AddressTranslator(0, 0) (no static mappings, no dynamic ones)")

        def arg(i, what):
            if i >= len(raw):
                raise ArgumentError(f"{where}: missing argument {i + 1} ({what})")
            return raw[i].strip()

        def flag(i, what):
            try:
                return boolean(arg(i, what))
            except ArgumentError:
                raise ArgumentError(f"{where}: argument {i + 1} ({what}): expected a boolean "
                                    f"(0 or 1), got {raw[i]!r}") from None

        try:
            nstatic = integer(arg(0, "NSTATIC"))
        except ArgumentError:
            raise ArgumentError(f"{where}: argument 1 (NSTATIC): expected the number of "
                                f"static mappings, got {raw[0]!r}") from None
        self.static_ports = False
        self.static = []                   # (inner, inner_port | None, mapped, mapped_port | None)
        s = 1
        if nstatic:
            self.static_ports = flag(1, "STATIC_PORTMAPPING")
            for i in range(2, 2 + nstatic):
                words = arg(i, "a static mapping").split()
                what = f"argument {i + 1} (static mapping)"
                if self.static_ports:
                    if len(words) != 4:
                        raise ArgumentError(f"{where}: {what}: expected INNER_ADDR INNER_PORT "
                                            f"MAPPED_ADDR MAPPED_PORT, got {raw[i]!r}")
                    self.static.append((_addr(words[0], where, what), _port(words[1], where, what),
                                        _addr(words[2], where, what), _port(words[3], where, what)))
                else:
                    if len(words) != 2:
                        raise ArgumentError(f"{where}: {what}: expected INNER_ADDR MAPPED_ADDR, "
                                            f"got {raw[i]!r}")
                    self.static.append((_addr(words[0], where, what), None,
                                        _addr(words[1], where, what), None))
            s = 2 + nstatic
        self.dynamic = flag(s, "DYNAMIC")
        self.dynamic_ports = False
        self.direction = OUTWARD
        self.pool_addresses = []           # address-only: [address, bound peer or None]
        self.port_addr = None
        self.port_low = self.port_high = 0
        if not self.dynamic:
            if len(raw) > s + 1:
                raise ArgumentError(f"{where}: too many arguments after DYNAMIC false "
                                    f"({', '.join(map(repr, raw[s + 1:]))})")
        else:
            self.dynamic_ports = flag(s + 1, "DYNAMIC_PORTMAPPING")
            self.direction = INWARD if flag(s + 2, "DIRECTION") else OUTWARD
            rest = raw[s + 3:]
            if not rest:
                raise ArgumentError(f"{where}: missing the addresses of the dynamic mapping "
                                    f"(argument {s + 4})")
            if self.dynamic_ports:
                words = rest[0].split()
                what = f"argument {s + 4} (ADDR LOW HIGH)"
                if len(rest) != 1 or len(words) != 3:
                    raise ArgumentError(f"{where}: {what}: expected one `ADDR LOW HIGH`, got "
                                        f"{', '.join(map(repr, rest))}")
                self.port_addr = _addr(words[0], where, what)
                self.port_low, self.port_high = _port(words[1], where, what), _port(words[2], where, what)
                if not 0 < self.port_low <= self.port_high:
                    raise ArgumentError(f"{where}: {what}: the port range {words[1]}-{words[2]} "
                                        "is empty or starts at 0")
            else:
                self.pool_addresses = [[_addr(w.strip(), where, f"argument {s + 4 + i}"), None]
                                       for i, w in enumerate(rest)]
        args.rest()                        # every argument was read above, from raw
        args.finish()
        self.out_map = {}                  # (inner, iport, ext, eport) -> (mapped, mport)
        self.in_map = {}                   # (ext, eport, mapped, mport) -> (inner, iport)
        self.next_port = self.port_low
        self.used_ports = set()
        self.drops = 0

    # -- lookups -----------------------------------------------------------

    def _outward(self, inner, iport, ext, eport):
        """(mapped, mapped_port) for a packet leaving from (inner, iport), or None."""
        for s_inner, s_iport, s_mapped, s_mport in self.static:
            if s_inner == inner and (s_iport is None or s_iport == iport):
                return s_mapped, (iport if s_mport is None else s_mport)
        if not self.dynamic_ports:
            for entry in self.pool_addresses:
                pool_addr, peer = entry
                if self.direction == OUTWARD and peer == inner:
                    return pool_addr, iport
                if self.direction == INWARD and pool_addr == inner and peer is not None:
                    return peer, iport
            if self.dynamic and self.direction == OUTWARD:
                for entry in self.pool_addresses:
                    if entry[1] is None:
                        entry[1] = inner
                        return entry[0], iport
            return None
        got = self.out_map.get((inner, iport, _same(ext), eport))
        if got is None and self.dynamic and self.direction == OUTWARD:
            mport = self._new_port()
            if mport is None:
                return None
            got = (self.port_addr, mport)
            self.out_map[(inner, iport, _same(ext), eport)] = got
            self.in_map[(_same(ext), eport, _same(self.port_addr), mport)] = (inner, iport)
        return got

    def _inward(self, ext, eport, mapped, mport):
        """(inner, inner_port) for a packet arriving for (mapped, mport), or None."""
        for s_inner, s_iport, s_mapped, s_mport in self.static:
            if _same(s_mapped) == _same(mapped) and (s_mport is None or s_mport == mport):
                return s_inner, (mport if s_iport is None else s_iport)
        if not self.dynamic_ports:
            for entry in self.pool_addresses:
                pool_addr, peer = entry
                if self.direction == OUTWARD and _same(pool_addr) == _same(mapped) and \
                        peer is not None:
                    return peer, mport
                if self.direction == INWARD and peer is not None and _same(peer) == _same(mapped):
                    return pool_addr, mport
            if self.dynamic and self.direction == INWARD:
                for entry in self.pool_addresses:
                    if entry[1] is None:
                        entry[1] = mapped
                        return entry[0], mport
            return None
        got = self.in_map.get((_same(ext), eport, _same(mapped), mport))
        if got is None and self.dynamic and self.direction == INWARD:
            iport = self._new_port()
            if iport is None:
                return None
            got = (self.port_addr, iport)
            self.in_map[(_same(ext), eport, _same(mapped), mport)] = got
            self.out_map[(self.port_addr, iport, _same(ext), eport)] = (mapped, mport)
        return got

    def _new_port(self):
        span = self.port_high - self.port_low + 1
        for _ in range(span):
            p = self.next_port
            self.next_port = self.port_low if p >= self.port_high else p + 1
            if p not in self.used_ports:
                self.used_ports.add(p)
                return p
        return None

    # -- packets -----------------------------------------------------------

    def _translate(self, packet: bytes, port: int) -> bytes | None:
        if len(packet) < 48 or packet[0] >> 4 != 6:
            return None
        nxt = packet[6]
        src, dst = packet[8:24], packet[24:40]
        body = bytearray(packet[40:])
        if nxt in (TCP, UDP):
            sport, dport = struct.unpack_from("!HH", body, 0)
        elif nxt == ICMP6:
            # an echo's identifier is its port, on the host's side only
            ident = struct.unpack_from("!H", body, 4)[0] if body[0] in (128, 129) else 0
            sport, dport = (ident, 0) if port == OUTWARD else (0, ident)
        else:
            return None
        if port == OUTWARD:
            got = self._outward(src, sport, dst, dport)
            if got is None:
                return None
            src, sport = got
        else:
            got = self._inward(src, sport, dst, dport)
            if got is None:
                return None
            dst, dport = got
        if nxt in (TCP, UDP):
            struct.pack_into("!HH", body, 0, sport, dport)
            at = 16 if nxt == TCP else 6
        else:
            if body[0] in (128, 129):
                struct.pack_into("!H", body, 4, sport if port == OUTWARD else dport)
            at = 2
        if len(body) < at + 2:
            return None
        struct.pack_into("!H", body, at, 0)
        cksum = pseudo_header_checksum(src, dst, bytes(body), nxt)
        struct.pack_into("!H", body, at, cksum or (0xFFFF if nxt == UDP else 0))
        return packet[:8] + src + dst + bytes(body)

    def push(self, port, batch):
        pool = batch.pool
        keep = np.zeros(len(batch.idx), dtype=bool)
        for i, pkt in enumerate(batch.packets()):
            out = self._translate(pkt.bytes(), port)
            if out is None:
                continue
            pkt.set_bytes(out)
            if port == INWARD:
                pool.dst_ip6[pkt.slot] = np.frombuffer(out[24:40], dtype=np.uint8)
            keep[i] = True
        self.drops += int((~keep).sum())
        dropped = batch.select(~keep)
        if len(dropped):
            dropped.kill()
        self.emit(port, batch.select(keep))

    @read_handler("mappings")
    def read_mappings(self):
        lines = []
        for inner, iport, mapped, mport in self.static:
            ports = f" {iport} -> {mport}" if iport is not None else ""
            lines.append(f"static {_text(inner)} -> {_text(mapped)}{ports}")
        for pool_addr, peer in self.pool_addresses:
            if peer is not None:
                inner, mapped = (peer, pool_addr) if self.direction == OUTWARD else (pool_addr, peer)
                lines.append(f"dynamic {_text(inner)} -> {_text(mapped)}")
        for (inner, iport, ext, eport), (mapped, mport) in self.out_map.items():
            lines.append(f"dynamic {_text(inner)} {iport} -> {_text(mapped)} {mport} "
                         f"(peer {_text(ext)} {eport})")
        return "\n".join(lines)

    @read_handler("drops")
    def read_drops(self):
        return self.drops
