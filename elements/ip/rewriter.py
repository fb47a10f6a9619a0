"""Rewriter: Click 1's address-pair rewriter (a fake network for a host's connections)."""
from __future__ import annotations

import struct

import numpy as np

from vforward.args import ArgumentError, integer, ip_address
from vforward.element import PUSH_ONLY, Element, read_handler

from vforward.elements.ip.ipfields import ipheader
from vforward.elements.ip.rewriter_table import ntoa

PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17
FAKE_ADDRESSES = 63             # Click 1's table: fake hosts FAKENET+1 .. FAKENET+63


class Rewriter(Element):
    """Rewriter(FAKENET, LOCALADDR, PERIOD) -- Click 1's rewriter of address pairs

    Ports: 2 inputs, 2 outputs; push.

    Click 1's Rewriter (1999-2000, conf/rewriter.click), since replaced in
    Click by IPRewriter and IPAddrRewriter; kept so that configurations
    of that time run.  It gives each (source, destination) address pair
    seen on input 0 a fake source address in FAKENET and rewrites the
    destination to LOCALADDR, so that a host sees every remote
    conversation as coming from its own fake host:

      input 0 -> output 0   (SRC, DST) becomes (FAKENET+i, LOCALADDR); a new
                            pair takes the next free i, 1 to 63 (Click 1's
                            table); none free: dropped
      input 1 -> output 1   a packet to FAKENET+i goes back as (DST, SRC) of
                            pair i, its destination annotation set to SRC;
                            no pair i: dropped

    Packets start at their IP header (as in Click 1: no CheckIPHeader
    needed); the element sets the network header annotation.  The IP
    checksum and the TCP or UDP checksum (of a first or only fragment; a
    zero UDP checksum stays zero) are updated incrementally (RFC 1624);
    ICMP needs no change.  Other protocols are dropped, as in Click 1.  A
    pair with no packet either way for a whole PERIOD (seconds) is
    forgotten at the end of that period and its fake address freed.  Works
    per packet in Python: a compatibility element, not a fast path; use
    IPRewriter or IPAddrRewriter in new configurations.

    Handlers:
      rewrite_table (read)   one 'SRC/DST -> FAKE/LOCALADDR' line per pair (Click 1's)
      drops (read)           packets dropped (table full, unknown fake address,
                             other protocols, truncated headers)
    """
    PORTS = "2/2"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.fakenet = args.mandatory("FAKENET", ip_address)
        self.localaddr = args.mandatory("LOCALADDR", ip_address)
        self.period = args.mandatory("PERIOD", integer)
        args.finish()
        if self.period <= 0:
            raise ArgumentError(f"{args.where}: argument PERIOD: the cleanup period must be a "
                                f"positive number of seconds, got {self.period}")
        self.by_pair: dict[tuple[int, int], int] = {}     # (src, dst) -> i
        self.pairs: dict[int, tuple[int, int]] = {}       # i -> (src, dst)
        self.used: set[int] = set()
        self.drops = 0
        self._timer = None

    def initialize(self):
        self._timer = self.router.call_later(self.period, self._forget_idle)

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _forget_idle(self):
        for i in [i for i in self.pairs if i not in self.used]:
            del self.by_pair[self.pairs.pop(i)]
        self.used.clear()
        self._timer = self.router.call_later(self.period, self._forget_idle)

    def _fake(self, i: int) -> int:
        return (self.fakenet | i) & 0xFFFFFFFF

    def _pair_for(self, src: int, dst: int) -> int | None:
        i = self.by_pair.get((src, dst))
        if i is None:
            i = next((j for j in range(1, FAKE_ADDRESSES + 1) if j not in self.pairs), None)
            if i is None:
                return None
            self.by_pair[(src, dst)] = i
            self.pairs[i] = (src, dst)
        return i

    def push(self, port, batch):
        pool = batch.pool
        keep = np.zeros(len(batch.idx), dtype=bool)
        for n, pkt in enumerate(batch.packets()):
            keep[n] = self._rewrite(port, pool, pkt)
        self.drops += int((~keep).sum())
        dropped = batch.select(~keep)
        if len(dropped):
            dropped.kill()
        self.emit(port, batch.select(keep))

    def _rewrite(self, port, pool, pkt) -> bool:
        d = pkt.data
        if len(d) < 20 or d[0] >> 4 != 4 or len(d) < (d[0] & 0x0F) * 4:
            return False
        hl = (int(d[0]) & 0x0F) * 4
        proto = int(d[9])
        if proto not in (PROTO_ICMP, PROTO_TCP, PROTO_UDP):
            return False
        src, dst = struct.unpack_from("!II", d, 12)
        if port == 0:
            i = self._pair_for(src, dst)
            if i is None:
                return False
            nsrc, ndst = self._fake(i), self.localaddr
        else:
            i = dst & 0x00FFFFFF
            pair = self.pairs.get(i)
            if pair is None or self._fake(i) != dst:
                return False
            ndst, nsrc = pair
        self.used.add(i)
        first = (int(d[6]) << 8 | int(d[7])) & 0x1FFF == 0
        at = {PROTO_TCP: 16, PROTO_UDP: 6}.get(proto)
        if first and at is not None and len(d) >= hl + at + 2:
            (sum16,) = struct.unpack_from("!H", d, hl + at)
            if not (proto == PROTO_UDP and sum16 == 0):
                sum16 = ipheader.incremental_checksum_update32(sum16, src, nsrc)
                sum16 = ipheader.incremental_checksum_update32(sum16, dst, ndst)
                if proto == PROTO_UDP and sum16 == 0:
                    sum16 = 0xFFFF          # a computed zero is sent as all ones (RFC 768)
                d[hl + at:hl + at + 2] = list(struct.pack("!H", sum16))
        (sum16,) = struct.unpack_from("!H", d, 10)
        sum16 = ipheader.incremental_checksum_update32(sum16, src, nsrc)
        sum16 = ipheader.incremental_checksum_update32(sum16, dst, ndst)
        d[10:20] = list(struct.pack("!HII", sum16, nsrc, ndst))
        pool.nh[pkt.slot] = pkt.offset
        pool.dst_ip[pkt.slot] = ndst
        return True

    @read_handler("rewrite_table")
    def read_rewrite_table(self):
        return "".join(f"{ntoa(s)}/{ntoa(d)} -> {ntoa(self._fake(i))}/{ntoa(self.localaddr)}\n"
                       for i, (s, d) in sorted(self.pairs.items()))

    @read_handler("drops")
    def read_drops(self):
        return self.drops
