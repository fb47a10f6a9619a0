"""RadixIPsecLookup: an IP route table whose routes may carry an ESP tunnel's SA."""
from __future__ import annotations

import re

import numpy as np

from vforward.args import ArgumentError, unsigned
from vforward.element import read_handler

from vforward.elements.ip.iproutetable import (DynamicIPRouteTable, IPRoute, RouteError,
                                               RouteTable, parse_route)
from vforward.elements.ipsec.securityassociation import (SAError, SecurityAssociation,
                                                         parse_key)

ESP = 50
IN_TUNNEL, OUT_TUNNEL, TO_HOST = 0, 1, 2
SA_FIELDS = ("SPI", "ENCRYPT_KEY", "AUTH_KEY", "REPLAY", "OOSIZE")
ROUTE_SYNTAX = ("'ADDR/MASK [GATEWAY] OUTPUT [SPI ENCRYPT_KEY AUTH_KEY REPLAY OOSIZE]'")


_WORD = re.compile(r"\"[^\"]*\"|'[^']*'|\\<[^>]*>|\S+")


def parse_ipsec_route(text: str, remove: bool = False) -> tuple[IPRoute, tuple | None]:
    """Click's IPsec route: a route, then optionally the five SA fields.
    Returns (route, (spi, enc_key, auth_key, replay, oosize) or None)."""
    words = _WORD.findall(text)        # a quoted or \<HEX> key may hold spaces
    fields = None
    if len(words) in (7, 8):
        words, sa_words = words[:-5], words[-5:]
        try:
            spi = unsigned(sa_words[0])
            enc = parse_key(sa_words[1], "ENCRYPT_KEY")
            auth = parse_key(sa_words[2], "AUTH_KEY")
            replay, oosize = unsigned(sa_words[3]), unsigned(sa_words[4])
        except (ArgumentError, SAError) as e:
            raise RouteError(f"route '{' '.join(text.split())}': {e}") from None
        fields = (spi, enc, auth, replay, oosize)
    elif len(words) > 3:
        raise RouteError(f"route '{' '.join(words)}': {len(words)} words; expected {ROUTE_SYNTAX}")
    return parse_route(" ".join(words), remove=remove), fields


class RadixIPsecLookup(DynamicIPRouteTable):
    """RadixIPsecLookup(ROUTE, ...) -- IP routing table with ESP tunnels

    Ports: 1 input, any number of outputs; push.

    A route table (as RadixIPLookup: longest-prefix match on the destination
    annotation, the gateway into the annotation, out of the route's output)
    whose routes may name an ESP tunnel's security association (SA), as
    Click's.  A route is 'ADDR/MASK [GATEWAY] OUTPUT', or, for a tunnel,
    'ADDR/MASK [GATEWAY] OUTPUT SPI ENCRYPT_KEY AUTH_KEY REPLAY OOSIZE':

      18.26.8.0/24 18.26.4.1 1 234 ABCDEFFF001DEFD2354550FE40CD708E
                               112233EE556677888877665544332211 300 64

    SPI is the SA's security parameters index (1..2^32-1); ENCRYPT_KEY
    (AES-128) and AUTH_KEY (HMAC-SHA1) are 128-bit keys in 32 hex digits
    (or Click's \\<HEX>); REPLAY is the first sequence number to send (the
    receiver takes lower ones as seen); OOSIZE is the replay window, in
    packets.  Routes giving the same SPI share one SA and must give the
    same fields.  One SA serves both directions of a tunnel, as in Click:
    both gateways configure it alike.

    Outputs 0, 1 and 2 are reserved, as in Click:

    - 0: packets for this router.  An ESP packet (IP protocol 50) whose SPI
      is in the table leaves here with that SA in its ipsec_sa annotation,
      for StripIPHeader -> IPsecAES(0) -> IPsecAuthHMACSHA1(1) ->
      IPsecESPUnencap; one with an unknown SPI, or too short to carry one,
      is dropped and counted.  Any other packet goes to output 2.
    - 1: packets to send through a tunnel: they leave with the route's SA
      in the annotation and the gateway (the far end of the tunnel) in the
      destination annotation, for IPsecESPEncap -> IPsecAuthHMACSHA1(0) ->
      IPsecAES(1) -> IPsecEncap(50), then back into the table.  A route to
      output 1 needs the SA fields; a packet on one without them is dropped
      and counted.
    - 2: packets for this router that are not ESP (to the host stack).
    - 3 and up: ordinary routes.

    The tunnel speaks RFC 4303 ESP in tunnel mode (AES-128-CBC, HMAC-SHA1-96,
    encrypt-then-MAC), which is not what Click's elements send: see IPsecAES
    for where Click departs from the RFCs.  A vforward gateway is meant for
    any RFC 4303 peer given the same SPI, keys and algorithms (on a peer such
    as Linux's ip xfrm, two SAs, one each way; Wireshark decrypts and
    authenticates what it sends), not for a Click gateway.

    Click's RadixIPsecLookup reads the SPI 20 bytes into the packet and
    drops the non-ESP packets for this router whose bytes there match no SA;
    here the IP header's length is used and non-ESP packets always reach
    output 2.

    Handlers:
      table (read)     the routes, one 'ADDR/LEN<tab>GATEWAY<tab>OUTPUT' line each,
                       followed by '<tab>SPI n' for a tunnel's route (keys are
                       not shown)
      lookup (read ADDR)  'OUTPUT GATEWAY' (or 'OUTPUT', or '-1') for ADDR
      sas (read)       one line per SA: 'SPI n next_seq n highest n window n'
      add (write)      add a route, with or without SA fields; fails if the
                       prefix has one
      set (write)      add a route, replacing any route for the same prefix
      remove (write)   remove 'ADDR/MASK'
      ctrl (write)     'add ROUTE', 'set ROUTE', 'remove ROUTE' lines, as one change
      drops (read)     packets without a route
      bad_spi (read)   ESP packets for this router dropped for an unknown SPI
                       or too short
      no_sa (read)     packets routed to output 1 by a route without an SA
    """

    def configure(self, args):
        texts = args.rest()
        args.finish()
        self._init_table()
        self.bad_spi = self.no_sa = 0
        routes, seen = [], {}
        for i, text in enumerate(texts, 1):
            try:
                route, fields = parse_ipsec_route(text)
                if route.key in seen:
                    raise RouteError(f"route '{route}' repeats the prefix {route.prefix_text()} "
                                     f"of argument {seen[route.key]}; give each prefix once")
                seen[route.key] = i
                self._attach(route.key, fields)
            except (RouteError, SAError) as e:
                raise ArgumentError(f"{args.where}: argument {i}: {e}") from None
            routes.append(route)
        try:
            self.table.load(routes)
        except RouteError as e:
            raise ArgumentError(f"{args.where}: {e}") from None
        ports = [r.port for r in routes]
        need = max(ports + [-1]) + 1
        if IN_TUNNEL in ports:
            need = max(need, TO_HOST + 1)      # non-ESP packets for us go to output 2
        self._needed_outputs = need

    def _init_table(self):
        self.table = RouteTable(self.FAMILY)
        self.drops = 0
        self.route_sa: dict[tuple[int, int], SecurityAssociation] = {}
        self.security_associations: dict[int, SecurityAssociation] = {}
        self._parsed: dict[IPRoute, tuple | None] = {}

    # -- SAs --------------------------------------------------------------------
    def _attach(self, key, fields) -> None:
        """Give route `key` the SA of `fields` (None: no SA), sharing one SA per SPI;
        a route that keeps its SA's fields keeps its counters."""
        old = self.route_sa.get(key)
        if fields is not None and old is not None and old.fields() == fields:
            return
        self._detach(key)
        if fields is None:
            return
        spi = fields[0]
        sa = self.security_associations.get(spi)
        if sa is not None and sa.fields() != fields:
            raise SAError(f"SPI {spi} is already an SA with other keys or counters; give "
                          "each tunnel its own SPI, or the same fields")
        if sa is None:
            sa = self.security_associations[spi] = SecurityAssociation(*fields)
        self.route_sa[key] = sa

    def _detach(self, key) -> None:
        sa = self.route_sa.pop(key, None)
        if sa is not None and sa not in self.route_sa.values():
            del self.security_associations[sa.spi]

    def _route_sa(self, dst: int) -> SecurityAssociation | None:
        """The SA of the route dst matches (the longest prefix in the table)."""
        routes = self.table.routes
        for plen in range(32, -1, -1):
            mask = (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
            key = (dst & mask, plen)
            if key in routes:
                return self.route_sa.get(key)
        return None

    # -- packets ----------------------------------------------------------------
    def push(self, port, batch):
        idx = batch.idx
        if not len(idx):
            return
        pool = batch.pool
        n_out = self.n_outputs
        ports = np.empty(len(idx), dtype=np.int64)
        for i, slot in enumerate(idx.tolist()):
            dst = int(pool.dst_ip[slot])
            out, gw = self.table.lookup(dst)
            if out == OUT_TUNNEL:
                sa = self._route_sa(dst)
                if sa is None:
                    self.no_sa += 1
                    out = -1
                else:
                    pool.ipsec_spi[slot] = sa.spi
                    pool.ipsec_sa[slot] = sa.handle
                    pool.ipsec_state[slot] = 0
            elif out == IN_TUNNEL:
                out = self._incoming(pool, slot)
            elif out < 0:
                self.drops += 1
            if gw and out >= 0:
                pool.dst_ip[slot] = gw
            ports[i] = out if 0 <= out < n_out else n_out
        pool.port[idx] = np.minimum(ports, 0xFFFF)
        parts = batch.partition(ports, n_out + 1)
        for p in range(n_out):
            self.emit(p, parts[p])
        if len(parts[n_out].idx):
            parts[n_out].kill()

    def _incoming(self, pool, slot) -> int:
        """Output 0 with the SA for an ESP packet of a known SPI, 2 for a non-ESP one, -1 else."""
        nh = int(pool.nh[slot])
        end = int(pool.off[slot]) + int(pool.length[slot])
        if nh + 20 > end or int(pool.data[slot, nh + 9]) != ESP:
            return TO_HOST
        at = nh + (int(pool.data[slot, nh]) & 0x0F) * 4
        if at + 8 > end:
            self.bad_spi += 1
            return -1
        spi = int.from_bytes(pool.data[slot, at:at + 4].tobytes(), "big")
        sa = self.security_associations.get(spi)
        if sa is None:
            self.bad_spi += 1
            return -1
        pool.ipsec_spi[slot] = spi
        pool.ipsec_sa[slot] = sa.handle
        pool.ipsec_state[slot] = 0
        return IN_TUNNEL

    def fused_push(self, port, resolve):
        return None         # the compiled forwarding path knows nothing of SAs

    # -- handlers -----------------------------------------------------------------
    def _request(self, command, text):
        route, fields = parse_ipsec_route(text, remove=command == "remove")
        if command != "remove":
            self._check_output(route)
            self._parsed[route] = fields
        return route

    def _plan(self, commands):
        self._parsed = {}
        plan = super()._plan(commands)
        # The SA fields are checked against the table before anything changes:
        # an SPI another route uses must come with that SA's fields.
        owners = {spi: {k for k, s in self.route_sa.items() if s is sa}
                  for spi, sa in self.security_associations.items()}
        fields_of = {spi: sa.fields() for spi, sa in self.security_associations.items()}
        for action, route in plan:
            for users in owners.values():
                users.discard(route.key)
            fields = self._parsed.get(route) if action == "set" else None
            if fields is None:
                continue
            try:
                SecurityAssociation(*fields)
            except SAError as e:
                raise RouteError(f"route '{route}': {e}") from None
            spi = fields[0]
            if owners.get(spi) and fields_of[spi] != fields:
                raise RouteError(f"route '{route}': SPI {spi} is already an SA with other "
                                 "keys or counters; give each tunnel its own SPI")
            owners.setdefault(spi, set()).add(route.key)
            fields_of[spi] = fields
        return plan

    def _apply(self, plan):
        super()._apply(plan)
        for action, route in plan:
            if action == "remove":
                self._detach(route.key)
            else:
                self._attach(route.key, self._parsed.get(route))

    @read_handler("table")
    def read_table(self):
        lines = []
        for r in self.table.sorted_routes():
            sa = self.route_sa.get(r.key)
            lines.append(r.table_line() + (f"\tSPI {sa.spi}" if sa else "") + "\n")
        return "".join(lines)

    @read_handler("sas")
    def read_sas(self):
        return "".join(f"SPI {sa.spi} next_seq {sa.next_seq} highest {sa.highest} "
                       f"window {sa.window}\n"
                       for sa in sorted(self.security_associations.values(), key=lambda s: s.spi))

    @read_handler("bad_spi")
    def read_bad_spi(self):
        return self.bad_spi

    @read_handler("no_sa")
    def read_no_sa(self):
        return self.no_sa
