"""IPRewriter: network address and port translation (NAPT) for TCP, UDP and ICMP echo."""
from __future__ import annotations

import struct
from collections import OrderedDict

import numpy as np

from vforward.args import ArgumentError, boolean, ip_address, seconds
from vforward.element import HandlerError, read_handler, write_handler

from vforward.elements.ip.ipfields import ipheader
from vforward.elements.ip.rewriter_table import (PROTO_ICMP, PROTO_TCP, PROTO_UDP,
                                                 IPRewriterBase, kernels, ntoa)

FRAGMENT_TIMEOUT = 30.0         # how long a first fragment's mapping serves its followers
FRAGMENT_CAPACITY = 4096        # datagrams remembered at once
_PROTOS = {"tcp": PROTO_TCP, "udp": PROTO_UDP, "6": PROTO_TCP, "17": PROTO_UDP}


class IPRewriter(IPRewriterBase):
    """IPRewriter(INPUTSPEC1, ..., INPUTSPECn [, KEYWORDS]) -- rewrite TCP/UDP/ICMP echo addresses and ports

    Ports: one input per INPUTSPEC; outputs 0 to the largest output an
    INPUTSPEC names, all connected (more may be, for mappings added by
    hand); push.

    Network address/port translation (NAPT), as Click's IPRewriter, with
    ICMPPingRewriter and ICMPRewriter folded in.  Input packets need the
    network header annotation (CheckIPHeader).

    A mapping rewrites one flow, identified by (protocol, source address,
    source port, destination address, destination port), into another and
    names an output:

        (SA, SP, DA, DP) => (SA', SP', DA', DP') [*FOUT]

    and comes with its reply mapping, for packets of the reply flow:

        (DA', DP', SA', SP') => (DA, DP, SA, SP) [*ROUT]

    Every packet is first looked up in the table, whatever input it came
    from; a packet with a mapping is rewritten (addresses, ports, IP and
    transport checksums updated incrementally, RFC 1624; a zero UDP
    checksum stays zero) and leaves on the mapping's output.  A packet
    without one is handled by its input's INPUTSPEC:

      drop, discard      dropped (counted in drops)
      pass OUT           sent to output OUT unchanged; no mapping is made
                         (also 'passthrough OUT', 'nochange OUT')
      keep FOUT ROUT     a mapping that keeps the flow as it is
      pattern SADDR SPORT DADDR DPORT FOUT ROUT
                         a mapping made from the pattern: each field is an
                         address or port, or '-' for the packet's own.
                         SPORT may be a range L-H: the packet's own port if
                         free, else a random free one; 'L-H#' takes them in
                         sequence, 'L-H?' at random.  No free port: the
                         packet is dropped, a mapping failure
      pattern NAME FOUT ROUT
                         a pattern named in an IPRewriterPatterns element
      MAPPER             a RoundRobinIPMapper's name: each new flow takes its
                         next pattern, with that pattern's outputs

    So IPRewriter(pattern 198.51.100.1 1024-65535 - - 0 1, drop) is a NAT
    gateway: flows from input 0 leave on output 0 from 198.51.100.1, their
    replies (arriving on input 1) go back to output 1 rewritten to the
    private host, and anything unsolicited on input 1 is dropped.

    ICMP echo requests are mapped like UDP datagrams with the echo
    identifier as their source port (the pattern's DPORT does not apply);
    echo replies only follow a request's mapping.  An ICMP error
    (unreachable, time exceeded, parameter problem, source quench,
    redirect) quoting a datagram of a mapped flow is translated back: the
    quoted addresses, ports or identifier and their checksums, the outer
    destination (and source, when the error comes from the flow's own
    end, as Linux does), the IP and ICMP checksums; it leaves on the
    mapping's output.  Other ICMP, other protocols, ICMP errors that quote
    no mapped flow, and packets too short for their TCP (20 bytes), UDP or
    ICMP (8) header or with a broken IP header go to a 'pass' input's
    output and are dropped on other inputs.

    A fragment after the first carries no ports: it follows the mapping
    of its datagram's first fragment (same protocol, addresses and IP ID,
    first fragment seen in the last 30 seconds) and is otherwise handled
    like an unmappable packet.  (Click drops every such fragment.)

    Expiry: a mapping lives its timeout after the last packet of either
    direction.  Expired mappings are removed every REAP_INTERVAL by a
    timer, never on the packet path.

    Capacity, as Click: a flow is guaranteed for GUARANTEE seconds after
    each of its packets, then best-effort until its timeout.  A new flow
    that finds MAPPING_CAPACITY flows evicts the best-effort flow that
    would expire first -- an idle flow past its guarantee, even one not yet
    expired -- and is refused (a mapping failure) while every flow is still
    guaranteed; a new flow with GUARANTEE 0 is also refused when it would
    itself expire first.  So a flood of new flows can push out idle ones
    but never one that saw a packet in the last GUARANTEE seconds.  Finding
    the flow to evict looks at every flow (a vectorised scan), paid only by
    new flows at capacity.  MAPPING_CAPACITY may name another rewriter:
    both then draw on that one's capacity, and a new flow of either may
    evict an idle flow of the other.

    The hot path is one call per batch of the compiled kernel
    rewrite_batch (cext/rewriter.pyx: lookup in a C hash table, header
    rewrite, checksum updates); new flows are made in Python.

    Keyword arguments:
      TCP_TIMEOUT (time, default 24h)    TCP flows with payload both ways
                                        (TIMEOUT is a synonym)
      TCP_DONE_TIMEOUT (time, 240s)      TCP flows closed (FIN both ways, or RST)
      TCP_NODATA_TIMEOUT (time, 5min)    other TCP flows
      UDP_TIMEOUT (time, 5min)           UDP flows
      UDP_STREAMING_TIMEOUT (time, UDP_TIMEOUT)  UDP flows of 3 packets or more
                                        with packets both ways
      ICMP_TIMEOUT (time, 5min)          ICMP echo flows (a vforward keyword)
      REAP_INTERVAL (time, 15min)        how often expired mappings go; 0: never
      MAPPING_CAPACITY (integer or element, 65536)  most flows at once, so that a flood
                                        of new flows cannot grow memory without end
                                        (CAPACITY: synonym); a rewriter's name: share its
                                        capacity
      DST_ANNO (boolean, true)           set the destination address annotation
                                        of rewritten packets to their new destination
      REPLY_ANNO (annotation, none)      a one-byte annotation (PAINT, PACKET_TYPE):
                                        remember its value on a flow's first packet and
                                        give it to every packet of the flow's replies
      GUARANTEE (time, 5s)               a flow cannot be evicted for this long after
                                        each of its packets (all protocols; Click's
                                        IPRewriter applies it to TCP only)
      TCP_GUARANTEE, UDP_GUARANTEE (time, GUARANTEE)  the same per protocol

    Handlers:
      tcp_table, udp_table (read)   Click's lines, both directions of each flow:
                      '(SA, SP, DA, DP) => (SA', SP', DA', DP') [*FOUT ROUT] iINPUT expSECONDS'
      icmp_table (read)   '(SA, DA, ID) => (SA', DA', ID') [*FOUT ROUT] iINPUT expSECONDS'
      table (read)        all three
      tcp_lookup, udp_lookup (read with 'SADDR SPORT DADDR DPORT')  the flow
                      rewritten as 'SADDR SPORT DADDR DPORT', empty when unmapped
      nmappings, table_size (read)   flows in this element's table
      size (read)         flows held against the capacity (every sharing rewriter's)
      mapping_failures (read)   flows refused: no free port, table full, key taken
      capacity (read/write)     MAPPING_CAPACITY; lowering it evicts flows past the new
                                capacity at once (best-effort ones first, the one that
                                expires first first)
      clear (write)       remove every mapping (but static ones)
      patterns (read)     each input's spec, with its live mapping count
      pattern0, pattern1, ... (read/write)   one input's spec; writing a new one
                          (same forms as INPUTSPEC) removes the flows it made
      add (write)         a static mapping (a port forward; never expires):
                      'PROTO SADDR SPORT DADDR DPORT => NSADDR NSPORT NDADDR NDPORT FOUT ROUT'
                      (PROTO tcp or udp; '->' works for '=>')
      remove (write)      'PROTO SADDR SPORT DADDR DPORT': remove the flow with
                          that key (either direction)
      drops (read)        packets dropped
      drop_details (read) dropped packets per reason, 'COUNT<tab>REASON' lines
    """

    def configure_keywords(self, args):
        t = self.timeouts
        data = args.keyword("TIMEOUT", seconds, default=t.tcp_data)
        t.tcp_data = args.keyword("TCP_TIMEOUT", seconds, default=data)
        t.tcp_done = args.keyword("TCP_DONE_TIMEOUT", seconds, default=t.tcp_done)
        t.tcp_nodata = args.keyword("TCP_NODATA_TIMEOUT", seconds, default=t.tcp_nodata)
        t.udp = args.keyword("UDP_TIMEOUT", seconds, default=t.udp)
        t.udp_streaming = args.keyword("UDP_STREAMING_TIMEOUT", seconds, default=t.udp)
        t.icmp = args.keyword("ICMP_TIMEOUT", seconds, default=t.icmp)
        t.tcp_guarantee = args.keyword("TCP_GUARANTEE", seconds, default=t.tcp_guarantee)
        t.udp_guarantee = args.keyword("UDP_GUARANTEE", seconds, default=t.udp_guarantee)
        self.dst_anno = args.keyword("DST_ANNO", boolean, default=True)
        self._fragments: OrderedDict = OrderedDict()

    # -- fragments ---------------------------------------------------------------------
    def after_rewrite(self, pool, idx, codes, values, now):
        first = np.flatnonzero(codes & kernels.FIRST_FRAGMENT)
        if not len(first):
            return
        t = self.table
        for i in first.tolist():
            slot, value = int(idx[i]), int(values[i])
            f, direction = value >> 1, value & 1
            proto = int(t.proto[f])
            s, sp, d, dp = (int(x) for x in t.key[f])
            ns, nsp, nd, ndp = (int(x) for x in t.new[f])
            entry_key = (proto, s, sp, d, dp) if direction == 0 else (proto, nd, ndp, ns, nsp)
            h = int(pool.nh[slot])
            ip_id = int(pool.data[slot, h + 4]) << 8 | int(pool.data[slot, h + 5])
            self._fragments[(proto, entry_key[1], entry_key[3], ip_id)] = (entry_key, value, now)
            self._fragments.move_to_end((proto, entry_key[1], entry_key[3], ip_id))
        while len(self._fragments) > FRAGMENT_CAPACITY:
            self._fragments.popitem(last=False)

    def fragment(self, pool, slot, ports, values, i):
        h = int(pool.nh[slot])
        head = pool.data[slot, h:h + 20].tobytes()
        ip_id, proto, saddr, daddr = (struct.unpack_from("!H", head, 4)[0], head[9],
                                      *struct.unpack_from("!II", head, 12))
        seen = self._fragments.get((proto, saddr, daddr, ip_id))
        if seen is None:
            return False
        entry_key, value, when = seen
        if self.now() - when > FRAGMENT_TIMEOUT or self.table.flows.lookup(*entry_key) != value:
            del self._fragments[(proto, saddr, daddr, ip_id)]
            return False
        f, direction = value >> 1, value & 1
        t = self.table
        if direction == 0:
            nsrc, ndst, out = int(t.new[f][0]), int(t.new[f][2]), int(t.fout[f])
        else:
            nsrc, ndst, out = int(t.key[f][2]), int(t.key[f][0]), int(t.rout[f])
        (cksum,) = struct.unpack_from("!H", head, 10)
        cksum = ipheader.incremental_checksum_update32(cksum, saddr, nsrc)
        cksum = ipheader.incremental_checksum_update32(cksum, daddr, ndst)
        pool.data[slot, h + 10:h + 20] = list(struct.pack("!HII", cksum, nsrc, ndst))
        if self.dst_anno:
            pool.dst_ip[slot] = ndst
        ports[i], values[i] = out, value
        return True

    # -- handlers ----------------------------------------------------------------------
    def format_flow(self, f, direction, now):
        t = self.table
        proto = int(t.proto[f])
        s, sp, d, dp = (int(x) for x in t.key[f])
        ns, nsp, nd, ndp = (int(x) for x in t.new[f])
        if direction:
            (s, sp, d, dp), (ns, nsp, nd, ndp) = (nd, ndp, ns, nsp), (d, dp, s, sp)
        if proto == PROTO_ICMP:
            ident, nident = (sp, nsp) if direction == 0 else (dp, ndp)
            text = (f"({ntoa(s)}, {ntoa(d)}, {ident}) => "
                    f"({ntoa(ns)}, {ntoa(nd)}, {nident})")
        else:
            text = (f"({ntoa(s)}, {sp}, {ntoa(d)}, {dp}) => "
                    f"({ntoa(ns)}, {nsp}, {ntoa(nd)}, {ndp})")
        return text + self.flow_note(f, direction) + self.ports_text(f, direction, now)

    def flow_note(self, f, direction) -> str:
        """Text between a table line's flows and its ports (TCPRewriter's ' seq +N')."""
        return ""

    @read_handler("tcp_table")
    def read_tcp_table(self):
        return self.flow_lines([PROTO_TCP])

    @read_handler("udp_table")
    def read_udp_table(self):
        return self.flow_lines([PROTO_UDP])

    @read_handler("icmp_table")
    def read_icmp_table(self):
        return self.flow_lines([PROTO_ICMP])

    @read_handler("table")
    def read_table(self):
        return self.flow_lines([PROTO_TCP]) + self.flow_lines([PROTO_UDP]) \
            + self.flow_lines([PROTO_ICMP])

    def _lookup(self, proto, arg):
        s, sp, d, dp = _flow_words(arg or "", "SADDR SPORT DADDR DPORT")
        entry = self.table.flows.get(proto, s, sp, d, dp)
        if entry is None:
            return ""
        ns, nsp, nd, ndp = entry[:4]
        return f"{ntoa(ns)} {nsp} {ntoa(nd)} {ndp}"

    @read_handler("tcp_lookup")
    def read_tcp_lookup(self, arg=None):
        return self._lookup(PROTO_TCP, arg)

    @read_handler("udp_lookup")
    def read_udp_lookup(self, arg=None):
        return self._lookup(PROTO_UDP, arg)

    @write_handler("add")
    def write_add(self, value):
        text = value.replace("->", "=>")
        left, arrow, right = text.partition("=>")
        words, rwords = left.split(), right.split()
        form = ("'PROTO SADDR SPORT DADDR DPORT => NSADDR NSPORT NDADDR NDPORT FOUT ROUT'")
        if not arrow or len(words) != 5 or len(rwords) != 6:
            raise HandlerError(f"expected {form}, not {value.strip()!r}")
        proto = _proto(words[0])
        key = _flow_words(" ".join(words[1:]), "SADDR SPORT DADDR DPORT")
        new = _flow_words(" ".join(rwords[:4]), "NSADDR NSPORT NDADDR NDPORT")
        try:
            fout, rout = int(rwords[4]), int(rwords[5])
        except ValueError:
            raise HandlerError(f"FOUT and ROUT must be output numbers, not {rwords[4]!r} "
                               f"{rwords[5]!r}") from None
        for what, out in (("FOUT", fout), ("ROUT", rout)):
            if not 0 <= out < self.n_outputs:
                raise HandlerError(f"{what} {out} is not an output of '{self.name}' "
                                   f"(it has 0..{self.n_outputs - 1})")
        if self.mapping_capacity.full():
            raise HandlerError(f"the mapping table is full ({self.mapping_capacity.capacity} "
                               "flows); "
                               "raise the capacity or clear it first")
        if self.table.add(proto, key, new, fout, rout, -1, self.now(), static=True) is None:
            raise HandlerError("a mapping for this flow or for its reply already exists; "
                               "remove it first")

    @write_handler("remove")
    def write_remove(self, value):
        words = value.split()
        if len(words) != 5:
            raise HandlerError(f"expected 'PROTO SADDR SPORT DADDR DPORT', not {value.strip()!r}")
        proto = _proto(words[0])
        found = self.table.find(proto, *_flow_words(" ".join(words[1:]),
                                                    "SADDR SPORT DADDR DPORT"))
        if found is None:
            raise HandlerError(f"no mapping for {value.strip()!r}")
        self._forget(self.table.remove(found[0]))


def _proto(word: str) -> int:
    p = _PROTOS.get(word.lower())
    if p is None:
        raise HandlerError(f"PROTO must be tcp or udp, not {word!r}")
    return p


def _flow_words(text: str, form: str):
    words = text.split()
    try:
        if len(words) != 4:
            raise ArgumentError("wrong number of fields")
        s, d = ip_address(words[0]), ip_address(words[2])
        sp, dp = int(words[1]), int(words[3])
        if not (0 <= sp < 65536 and 0 <= dp < 65536):
            raise ArgumentError("port out of range")
    except (ArgumentError, ValueError):
        raise HandlerError(f"expected '{form}' (addresses and ports 0..65535), "
                           f"not {text.strip()!r}") from None
    return s, sp, d, dp
