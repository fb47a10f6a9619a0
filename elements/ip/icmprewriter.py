"""ICMPRewriter: ICMP errors translated through other rewriters' mappings."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, boolean
from vforward.element import PUSH_ONLY, Element, ElementError, read_handler

from vforward.elements.ip.rewriter_table import IPRewriterBase, kernels
from vforward.elements.ip.tcp_seq_deltas import shift_batch
from vforward.elements.standard.paint import one_byte_annotation

ICMP_ERROR_TYPES = (3, 4, 5, 11, 12)  # unreachable, source quench, redirect, time exceeded, param


class ICMPRewriter(Element):
    """ICMPRewriter(MAPS [, KEYWORDS]) -- rewrite ICMP errors by other rewriters' mappings

    Ports: 1 input, 1 or 2 outputs; push.

    ICMP errors (destination unreachable, time exceeded, parameter
    problem, source quench, redirect) quote the start of the packet they
    answer.  When that packet went through a rewriter, the error answers
    the rewritten addresses; ICMPRewriter looks the quoted flow up in the
    mappings of MAPS, a space-separated list of IPRewriter-like elements
    (IPRewriter, TCPRewriter, UDPRewriter, ICMPPingRewriter), the first
    that knows it winning, and translates the error back: the quoted
    addresses, ports or echo identifier and their checksums, the outer
    destination (and source, when the error comes from the flow's own end),
    the IP and ICMP checksums.  Translated errors leave on output 0.

    Other packets -- errors quoting no mapped flow, ICMP that is not an
    error, anything not ICMP -- leave on output 1, or are dropped (counted)
    when there is none.

    (vforward's IPRewriter already translates the errors that come back
    through it; ICMPRewriter is for errors that take another path.)

    The translation is the rewriters' own compiled kernel (rewrite_batch),
    run on the errors alone.

    Keyword arguments:
      DST_ANNO (boolean, true)        set the destination address annotation of
                                      translated errors to their new destination
      REPLY_ANNO (annotation, none)   give translated errors the annotation the
                                      flow's first packet had (the rewriter's
                                      REPLY_ANNO keeps it)

    Handlers:
      translated (read)   errors translated
      drops (read)        packets dropped (with one output)
    """
    PORTS = "1/1-2"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        words = args.positional("MAPS", str, default="")
        self.dst_anno = args.keyword("DST_ANNO", boolean, default=True)
        self.reply_anno = args.keyword("REPLY_ANNO", one_byte_annotation, default=None)
        more = args.rest()
        args.finish()
        self.map_names = words.split() + [w for m in more for w in m.split()]
        if not self.map_names:
            raise ArgumentError(f"{args.where}: needs MAPS, the names of the rewriters "
                                "whose mappings translate the errors, e.g. ICMPRewriter(nat)")
        self.maps: list[IPRewriterBase] = []
        self.translated = 0
        self.drops = 0

    def initialize(self):
        for name in self.map_names:
            e = self.router.elements.get(name)
            if not isinstance(e, IPRewriterBase) or e.KERNEL != "rewrite_batch":
                raise ElementError(f"{self.location}: {self.name} :: ICMPRewriter: MAPS names "
                                   f"{name!r}, which is not an IPRewriter-like element; give "
                                   "IPRewriter, TCPRewriter, UDPRewriter or ICMPPingRewriter "
                                   "names")
            self.maps.append(e)

    def _errors(self, pool, idx) -> np.ndarray:
        """Which packets are ICMP errors (by protocol and type; the kernel checks the rest)."""
        nh = pool.nh[idx].astype(np.intp)
        end = pool.off[idx].astype(np.intp) + pool.length[idx]
        data = pool.data
        hl = (data[idx, nh] & 15).astype(np.intp) * 4
        ok = nh + hl + 8 <= end
        proto = data[idx, nh + 9]
        typ = data[idx, np.minimum(nh + hl, data.shape[1] - 1)]
        return ok & (proto == 1) & np.isin(typ, ICMP_ERROR_TYPES)

    def push(self, port, batch):
        pool, idx = batch.pool, batch.idx
        n = len(idx)
        if not n:
            return
        done = np.zeros(n, dtype=bool)
        todo = np.flatnonzero(self._errors(pool, idx))
        for rw in self.maps:
            if not len(todo):
                break
            sub = np.ascontiguousarray(idx[todo])
            m = len(sub)
            codes = np.empty(m, dtype=np.uint8)
            ports = np.empty(m, dtype=np.int32)
            values = np.empty(m, dtype=np.int32)
            keys = np.empty((m, 4), dtype=np.uint32)
            t = rw.table
            rw._kernel(pool, sub, t.flows, rw.now(), t.last_used, t.state, t.packets,
                       self.dst_anno, codes, ports, values, keys)
            hit = (codes & kernels.CODE_MASK) == kernels.ICMP_ERROR
            if hit.any() and self.reply_anno is not None:
                column = getattr(pool, self.reply_anno)
                column[sub[hit]] = t.reply_anno[values[hit] >> 1]
            if t.seq_deltas and hit.any():
                # a quoted segment of a TCPRewriter flow with shifted sequence numbers
                shift_batch(pool, sub, np.where(hit, values, -1), t.shifted, t.seq_deltas)
            done[todo[hit]] = True
            todo = todo[~hit]
        self.translated += int(done.sum())
        if done.all():
            self.emit(0, batch)
            return
        rest = ~done
        if self.n_outputs > 1:
            for p, part in enumerate(batch.partition(rest.astype(np.int32), 2)):
                self.emit(p, part)
            return
        self.drops += int(rest.sum())
        batch.select(rest).kill()
        kept = batch.select(done)
        if len(kept.idx):
            self.emit(0, kept)

    @read_handler("translated")
    def read_translated(self):
        return self.translated

    @read_handler("drops")
    def read_drops(self):
        return self.drops
