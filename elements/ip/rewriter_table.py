"""The mapping table of IPRewriter-like elements, and the element base they share.

A *flow* is a pair of mappings: the forward one, from the flow's key
(proto, saddr, sport, daddr, dport) to its rewritten tuple, and the reply
one, from the rewritten tuple's reverse back to the key's reverse.  The
compiled `FlowTable` (cext/rewriter.pyx) holds both as entries whose value
is 2 * flow + direction; `RewriterTable` keeps everything else about a flow
in numpy columns indexed by flow: its tuples, outputs, owning input, last
use, TCP/UDP state and packet count (the last three written by the kernel
on every hit).

Expiry follows Click: a flow lives its timeout after its last packet, the
timeout depending on its protocol and state (TCP: done, bidirectional data,
or neither; UDP: streaming or not).  Expired flows are reaped by a loop
timer every REAP_INTERVAL, never on the packet path.  At the mapping
capacity a new flow evicts the best-effort flow that expires first (one past
its GUARANTEE) or is refused (rewriter_capacity.py).
"""
from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass

import numpy as np

from vforward.args import ArgumentError, seconds, unsigned
from vforward.element import (PUSH_ONLY, Element, ElementError, Handler, HandlerError,
                              read_handler, write_handler)
from vforward.offload import software_offload

from vforward.elements.ip.rewriter_capacity import MappingCapacity
from vforward.elements.ip.tcp_seq_deltas import shift_batch
from vforward.elements.standard.paint import one_byte_annotation
from vforward.elements.ip.rewriter_patterns import (DROP, KEEP, MAPPER, PASS,
                                                    parse_input_spec, resolve_named_patterns)

from vforward import kernels as _kernels

kernels = _kernels.load("rewriter")

UNLIMITED = 0x7FFFFFFF
# The default bound on mappings: a flood of new flows (a SYN flood, a scan)
# meets a full table and fails, counted, instead of growing memory without
# end; Linux's conntrack bounds its table the same way (nf_conntrack_max).
DEFAULT_CAPACITY = 65536
PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17
_BOTH_DONE = kernels.FWD_DONE | kernels.REP_DONE
_BOTH_DATA = kernels.FWD_DATA | kernels.REP_DATA
_BOTH_SEEN = kernels.FWD_SEEN | kernels.REP_SEEN


def ntoa(a: int) -> str:
    return str(ipaddress.IPv4Address(int(a)))


@dataclass
class Timeouts:
    """Seconds a flow lives after its last packet (Click's defaults)."""
    tcp_data: float = 86400.0       # TCP_TIMEOUT: payload seen both ways
    tcp_done: float = 240.0         # TCP_DONE_TIMEOUT: FIN both ways, or RST
    tcp_nodata: float = 300.0       # TCP_NODATA_TIMEOUT: the rest
    udp: float = 300.0              # UDP_TIMEOUT
    udp_streaming: float = 300.0    # UDP_STREAMING_TIMEOUT: 3+ packets, both ways
    icmp: float = 300.0             # ICMP echo mappings (ICMPPingRewriter's default)
    other: float = 7200.0           # address-only mappings (IPAddrRewriter's TIMEOUT)
    # GUARANTEE: seconds after each packet during which a flow cannot be evicted
    tcp_guarantee: float = 5.0
    udp_guarantee: float = 5.0
    icmp_guarantee: float = 5.0
    other_guarantee: float = 5.0
    tcp_as_udp: bool = False        # UDPRewriter: TCP flows follow the UDP rules (as Click)

    def guarantee_all(self, seconds: float) -> None:
        self.tcp_guarantee = self.udp_guarantee = seconds
        self.icmp_guarantee = self.other_guarantee = seconds


class RewriterTable:
    """Flows and their mappings: the compiled FlowTable plus per-flow columns."""

    def __init__(self, impl=None):
        self.impl = impl or kernels
        self.flows = self.impl.FlowTable()
        self.size = 0               # live flows
        self._top = 0               # flow indices [0, _top) have been handed out
        self._free: list[int] = []
        self._n = 0
        self._grow(64)
        # flow -> SeqDeltas, for the few TCP flows whose payload lengths an element
        # changed (FTPPortMapper); empty for every other flow and rewriter
        self.seq_deltas: dict = {}

    # name, dtype, columns (0: a vector)
    COLUMNS = (("proto", np.uint8, 0),
               ("key", np.uint32, 4),          # saddr, sport, daddr, dport
               ("new", np.uint32, 4),          # the rewritten tuple, same order
               ("fout", np.int32, 0),
               ("rout", np.int32, 0),
               ("owner", np.int16, 0),         # input whose spec made it (-1: added by hand)
               ("live", np.bool_, 0),
               ("static", np.bool_, 0),        # never expires, survives clear
               ("last_used", np.float64, 0),   # written by the kernel on every hit
               ("state", np.uint8, 0),         # written by the kernel: FWD_DONE ... REP_SEEN
               ("packets", np.uint32, 0),      # written by the kernel
               ("reply_anno", np.uint8, 0),    # REPLY_ANNO: the first packet's annotation
               ("shifted", np.bool_, 0))       # has sequence shifts (in seq_deltas)

    def _grow(self, n: int) -> None:
        """Make room for n flows.  The kernel is handed the columns at each call,
        so replacing them between calls is safe."""
        for name, dtype, cols in self.COLUMNS:
            new = np.zeros((n, cols) if cols else n, dtype=dtype)
            old = getattr(self, name, None)
            if old is not None:
                new[:len(old)] = old
            setattr(self, name, new)
        self._n = n

    def add(self, proto: int, key, new, fout: int, rout: int, owner: int, now: float,
            static: bool = False) -> int | None:
        """Install the flow key -> new (to fout) and its reply (to rout); returns the
        flow index, or None when either direction's key is taken."""
        s, sp, d, dp = key
        ns, nsp, nd, ndp = new
        f = self._free.pop() if self._free else self._top
        if f == self._top:
            if f >= self._n:
                self._grow(2 * self._n)
            self._top += 1
        # A flow rewritten onto the reverse of itself (its reply key is its own
        # key) has one entry, both directions rewriting to the same tuple.  As in
        # Click the reply's entry is the one kept: such packets leave on ROUT
        # (but the flow's first packet, see IPRewriterBase._unmapped).
        if self.self_mapped(key, new):
            if not self.flows.insert(proto, s, sp, d, dp, ns, nsp, nd, ndp, rout, 2 * f + 1):
                self._release(f)
                return None
        elif not self.flows.insert(proto, s, sp, d, dp, ns, nsp, nd, ndp, fout, 2 * f):
            self._release(f)
            return None
        elif not self.flows.insert(proto, nd, ndp, ns, nsp, d, dp, s, sp, rout, 2 * f + 1):
            self.flows.remove(proto, s, sp, d, dp)
            self._release(f)
            return None
        self.proto[f] = proto
        self.key[f] = key
        self.new[f] = new
        self.fout[f], self.rout[f], self.owner[f] = fout, rout, owner
        self.live[f], self.static[f] = True, static
        self.last_used[f] = now
        self.state[f] = 0
        self.packets[f] = 0
        self.reply_anno[f] = 0
        self.shifted[f] = False
        self.size += 1
        return f

    @staticmethod
    def self_mapped(key, new) -> bool:
        s, sp, d, dp = key
        ns, nsp, nd, ndp = new
        return (int(nd), int(ndp), int(ns), int(nsp)) == (int(s), int(sp), int(d), int(dp))

    def _release(self, f: int) -> None:
        if f == self._top - 1:
            self._top -= 1
        else:
            self._free.append(f)

    def remove(self, f: int) -> int:
        """Delete flow f (both directions); returns its owner input."""
        proto = int(self.proto[f])
        s, sp, d, dp = (int(x) for x in self.key[f])
        ns, nsp, nd, ndp = (int(x) for x in self.new[f])
        self.flows.remove(proto, s, sp, d, dp)
        if not self.self_mapped((s, sp, d, dp), (ns, nsp, nd, ndp)):
            self.flows.remove(proto, nd, ndp, ns, nsp)
        self.live[f] = False
        self.seq_deltas.pop(f, None)
        self.shifted[f] = False
        self.size -= 1
        self._free.append(f)
        return int(self.owner[f])

    def find(self, proto: int, saddr: int, sport: int, daddr: int, dport: int):
        """(flow, direction) of the mapping with this key, or None."""
        v = self.flows.lookup(proto, saddr, sport, daddr, dport)
        return None if v < 0 else (v >> 1, v & 1)

    def live_flows(self) -> np.ndarray:
        return np.flatnonzero(self.live[:self._top])

    def timeouts_of(self, flows: np.ndarray, t: Timeouts) -> np.ndarray:
        """Each flow's timeout, from its protocol and state (vectorised)."""
        proto = self.proto[flows]
        state = self.state[flows]
        out = np.full(len(flows), t.other, dtype=np.float64)
        tcp = proto == PROTO_TCP
        udp = proto == PROTO_UDP
        if t.tcp_as_udp:
            tcp, udp = tcp & False, udp | tcp
        if tcp.any():
            st = state[tcp]
            out[tcp] = np.where((st & _BOTH_DONE) == _BOTH_DONE, t.tcp_done,
                                np.where((st & _BOTH_DATA) == _BOTH_DATA, t.tcp_data,
                                         t.tcp_nodata))
        if udp.any():
            streaming = (self.packets[flows][udp] >= 3) & ((state[udp] & _BOTH_SEEN) == _BOTH_SEEN)
            out[udp] = np.where(streaming, t.udp_streaming, t.udp)
        out[proto == PROTO_ICMP] = t.icmp
        return out

    def guarantees_of(self, flows: np.ndarray, t: Timeouts) -> np.ndarray:
        proto = self.proto[flows]
        out = np.full(len(flows), t.other_guarantee, dtype=np.float64)
        out[proto == PROTO_TCP] = t.udp_guarantee if t.tcp_as_udp else t.tcp_guarantee
        out[proto == PROTO_UDP] = t.udp_guarantee
        out[proto == PROTO_ICMP] = t.icmp_guarantee
        return out

    def deadlines(self, t: Timeouts):
        """(flows, guarantee end, expiry) of the live flows that may be evicted
        (not static)."""
        flows = self.live_flows()
        flows = flows[~self.static[flows]]
        last = self.last_used[flows]
        return flows, last + self.guarantees_of(flows, t), last + self.timeouts_of(flows, t)

    def expired(self, now: float, t: Timeouts) -> np.ndarray:
        """Live, non-static flows whose timeout has passed."""
        flows = self.live_flows()
        flows = flows[~self.static[flows]]
        if not len(flows):
            return flows
        deadline = self.last_used[flows] + self.timeouts_of(flows, t)
        return flows[deadline <= now]

    def clear(self, keep_static: bool = True) -> list[int]:
        """Remove every flow (but static ones, with keep_static); returns their owners."""
        flows = self.live_flows()
        if keep_static:
            flows = flows[~self.static[flows]]
        return [self.remove(int(f)) for f in flows]


# -- the element base ------------------------------------------------------------------
DROP_REASONS = ("no mapping", "mapping failure", "no ports to map by", "fragment",
                "malformed header")
_NO_MAPPING, _FAILURE, _UNMAPPABLE, _FRAGMENT, _MALFORMED = range(5)
_REASON_OF_CODE = {kernels.UNMAPPABLE: _UNMAPPABLE, kernels.FRAGMENT: _FRAGMENT,
                   kernels.MALFORMED: _MALFORMED}


class IPRewriterBase(Element):
    """IPRewriterBase -- the input specifications, table, expiry and handlers
    that IPRewriter and IPAddrRewriter share (Click's IPRewriterBase)."""
    ABSTRACT = True
    PROCESSING = PUSH_ONLY
    NAPT = True                 # patterns have 4 fields (else 2: Basic NAT)
    KERNEL = "rewrite_batch"

    # -- configuration --------------------------------------------------------------
    def configure(self, args):
        self.timeouts = Timeouts()
        self.timeouts.guarantee_all(args.keyword("GUARANTEE", seconds, default=5.0))
        self.dst_anno = True
        self.reply_anno = args.keyword("REPLY_ANNO", one_byte_annotation, default=None)
        self.configure_keywords(args)
        capacity = args.keyword("MAPPING_CAPACITY", default=None)
        capacity_old = args.keyword("CAPACITY", default=None)
        reap_old = args.keyword("REAP_TIME", seconds, default=None)
        self.reap_interval = args.keyword("REAP_INTERVAL", seconds,
                                          default=900.0 if reap_old is None else reap_old)
        texts = args.rest()
        args.finish()
        if not texts:
            raise ArgumentError(f"{args.where}: needs one INPUTSPEC per input, such as "
                                "'pattern 198.51.100.1 1024-65535 - - 0 1, drop'")
        self.specs = []
        errors, click_lines = [], []      # every bad spec is named, as Click does
        for i, text in enumerate(texts):
            try:
                self.specs.append(parse_input_spec(text, napt=self.NAPT))
            except ArgumentError as e:
                errors.append(f"{args.where}: input spec {i} ({text!r}): {e}")
                click_lines.append(f"  input spec {i}: {getattr(e, 'click_reason', e)}")
        if errors:
            e = ArgumentError("\n".join(errors))
            e.click_lines = click_lines     # Click's wording, for the click command
            raise e
        if capacity is None:
            capacity = capacity_old
        self._capacity_of = None        # a rewriter's name, whose capacity this one shares
        if capacity is not None and not capacity.strip().isdigit():
            if not capacity.strip() or len(capacity.split()) != 1:
                raise ArgumentError(f"{args.where}: MAPPING_CAPACITY {capacity!r}: give a "
                                    "number of flows or the name of another rewriter")
            self._capacity_of = capacity.strip()
            capacity = None
        self.mapping_capacity = MappingCapacity(DEFAULT_CAPACITY if capacity is None
                                                else int(capacity))
        self.mapping_capacity.members.append(self)
        self.table = RewriterTable()
        self._kernel = getattr(self.table.impl, self.KERNEL)
        self._clock = time.monotonic
        self._timer = None
        self._buffer_size = 0
        self._bufs = None
        self.mapping_failures = 0
        self.drops = 0
        self.drop_counts = [0] * len(DROP_REASONS)

    def configure_keywords(self, args) -> None:
        """Subclasses read their own keywords (timeouts, DST_ANNO) here."""

    def port_spec(self):
        need = max([s.max_output() for s in self.specs] + [0]) + 1
        return f"{len(self.specs)}/{need}-"

    def use_kernels(self, impl) -> None:
        """Run on another kernel module (the reference, in tests), before any packet."""
        self.table = RewriterTable(impl)
        self._kernel = getattr(impl, self.KERNEL)

    # -- life cycle --------------------------------------------------------------------
    def initialize(self):
        resolve_named_patterns(self, self.specs, self.NAPT)
        if self._capacity_of is not None:
            self._share_capacity(self._capacity_of)
        self._clock = self.router.now
        if self.reap_interval > 0:
            self._timer = self.router.call_later(self.reap_interval, self._reap_tick)

    def cleanup(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def now(self) -> float:
        return self._clock()

    def _share_capacity(self, name: str) -> None:
        """Draw on the MAPPING_CAPACITY of the rewriter called name (Click's
        shared mapping heap): one bound, and evictions across both."""
        other = self.router.elements.get(name)
        if not isinstance(other, IPRewriterBase):
            raise ElementError(f"{self.location}: {self.name} :: {self.class_name()}: "
                               f"MAPPING_CAPACITY {name!r} is not a rewriter's name; give a "
                               "number of flows or another IPRewriter-like element's name")
        mine, theirs = self.mapping_capacity, other.mapping_capacity
        if theirs is mine:
            return
        for m in mine.members:
            m.mapping_capacity = theirs
            theirs.members.append(m)

    def evict(self, f: int) -> None:
        """Remove flow f to make room (the shared capacity chose it)."""
        self._forget(self.table.remove(f))

    def _reap_tick(self) -> None:
        self.reap()
        self._timer = self.router.call_later(self.reap_interval, self._reap_tick)

    def reap(self, now: float | None = None) -> int:
        """Remove the flows whose timeout has passed; returns how many."""
        now = self.now() if now is None else now
        dead = self.table.expired(now, self.timeouts)
        for f in dead.tolist():
            self._forget(self.table.remove(f))
        return len(dead)

    def _forget(self, owner: int) -> None:
        if 0 <= owner < len(self.specs):
            self.specs[owner].count -= 1

    # -- packets ---------------------------------------------------------------------
    def _buffers(self, n: int):
        """Kernel output arrays for n packets, reused from batch to batch (every
        use of them ends before the batch is emitted, so re-entry is safe)."""
        if n > self._buffer_size:
            self._buffer_size = max(n, 256)
            m = self._buffer_size
            self._bufs = (np.empty(m, dtype=np.uint8), np.empty(m, dtype=np.int32),
                          np.empty(m, dtype=np.int32), np.empty((m, 4), dtype=np.uint32))
        codes, ports, values, keys = self._bufs
        return codes[:n], ports[:n], values[:n], keys[:n]

    def push(self, port, batch):
        # Partial checksums and super-frames from a device with offloads are
        # finished and segmented first: the incremental updates need whole checksums.
        batch, dropped = software_offload(batch)
        self.drops += dropped
        idx = batch.idx
        n = len(idx)
        if not n:
            return
        pool = batch.pool
        now = self.now()
        codes, ports, values, keys = self._buffers(n)
        t = self.table
        done = self._kernel(pool, idx, t.flows, now, t.last_used, t.state, t.packets,
                            self.dst_anno, codes, ports, values, keys)
        if done < n:
            self._unmapped(port, pool, idx, codes, ports, values, keys, now)
            if t.seq_deltas:
                shift_batch(pool, idx, values, t.shifted, t.seq_deltas)
            if self.reply_anno is not None:
                self._set_reply_anno(pool, idx, values)
            self._send(batch, ports, True)
            return
        if codes.max() >= kernels.FIRST_FRAGMENT:
            self.after_rewrite(pool, idx, codes, values, now)
        if t.seq_deltas:
            shift_batch(pool, idx, values, t.shifted, t.seq_deltas)
        if self.reply_anno is not None:
            self._set_reply_anno(pool, idx, values)
        self._send(batch, ports, False)

    def _set_reply_anno(self, pool, idx, values) -> None:
        """REPLY_ANNO: packets of reply directions get the annotation the flow's
        first packet had."""
        reply = (values >= 0) & ((values & 1) == 1)
        if reply.any():
            column = getattr(pool, self.reply_anno)
            column[idx[reply]] = self.table.reply_anno[values[reply] >> 1]

    def after_rewrite(self, pool, idx, codes, values, now) -> None:
        """Subclasses look at what the kernel did (IPRewriter's fragment cache)."""

    def _send(self, batch, ports, some_dropped: bool):
        if some_dropped:
            drop = ports < 0
            if drop.any():
                batch.select(drop).kill()
                keep = ~drop
                batch = batch.select(keep)
                ports = ports[keep]
                if not len(ports):
                    return
        first = int(ports[0])
        if self.n_outputs == 1 or (ports == first).all():
            self.emit(first, batch)
            return
        for p, part in enumerate(batch.partition(ports.copy(), self.n_outputs)):
            self.emit(p, part)

    def _drop(self, reason: int, n: int = 1) -> None:
        self.drops += n
        self.drop_counts[reason] += n

    def _unmapped(self, port, pool, idx, codes, ports, values, keys, now) -> None:
        """Packets the kernel did not rewrite: the input's spec decides (Python;
        new flows and oddities only).  Sets ports[i] to an output or -1 (drop)."""
        spec = self.specs[port]
        plain = codes & kernels.CODE_MASK
        retry = []
        first_of = {}           # i -> the flow packet i made
        for i in np.flatnonzero(plain == kernels.MISS).tolist():
            key = self.miss_key(keys[i])
            if self.table.flows.lookup(*key) >= 0:
                retry.append(i)             # mapped by an earlier packet of this batch
            elif spec.kind == PASS:
                ports[i] = spec.foutput
            elif spec.kind == DROP:
                self._drop(_NO_MAPPING)
            elif (f := self._new_flow(port, spec, key, now)) is not None:
                first_of[i] = f
                if self.reply_anno is not None:
                    self.table.reply_anno[f] = getattr(pool, self.reply_anno)[idx[i]]
                retry.append(i)
            else:
                self._drop(_FAILURE)
        if retry:
            at = np.array(retry, dtype=np.intp)
            sub = np.ascontiguousarray(idx[at])
            n = len(sub)
            sub_codes = np.empty(n, dtype=np.uint8)
            sub_ports = np.empty(n, dtype=np.int32)
            sub_values = np.empty(n, dtype=np.int32)
            sub_keys = np.empty((n, 4), dtype=np.uint32)
            t = self.table
            self._kernel(pool, sub, t.flows, now, t.last_used, t.state, t.packets,
                         self.dst_anno, sub_codes, sub_ports, sub_values, sub_keys)
            codes[at], ports[at], values[at] = sub_codes, sub_ports, sub_values
            t = self.table
            for i, f in first_of.items():
                # a self-mapped flow's first packet leaves on FOUT all the same
                if t.self_mapped(t.key[f], t.new[f]):
                    ports[i] = int(t.fout[f])
        # first fragments are known now, so later fragments of this batch can follow
        self.after_rewrite(pool, idx, codes, values, now)
        for i in np.flatnonzero(plain > kernels.MISS).tolist():
            code = int(plain[i])
            if code == kernels.FRAGMENT and self.fragment(pool, int(idx[i]), ports, values, i):
                continue
            if spec.kind == PASS:
                ports[i] = spec.foutput
            else:
                self._drop(_REASON_OF_CODE[code])

    def fragment(self, pool, slot, ports, values, i) -> bool:
        """A non-first fragment: True when a subclass handled it (set ports[i])."""
        return False

    def miss_key(self, row) -> tuple:
        """The flow key (proto, saddr, sport, daddr, dport) of a MISS row of out_key."""
        saddr, daddr, ports, proto = (int(x) for x in row)
        return proto, saddr, ports >> 16, daddr, ports & 0xFFFF

    def _new_flow(self, port, spec, key, now) -> int | None:
        """Make the mapping spec asks for; None (a mapping failure) if it cannot."""
        table = self.table
        proto, s, sp, d, dp = key
        fout, rout = spec.foutput, spec.routput
        if spec.kind == KEEP:
            new = (s, sp, d, dp)
        else:
            pattern = spec.pattern
            if spec.kind == MAPPER:
                pattern, fout, rout = spec.mapper.map_pattern()
            new = pattern.rewrite(table.flows, proto, s, sp, d, dp)
            if new is None:
                return self._failed(spec)
        # The port was chosen first (a sequential pattern moves on even when the
        # flow is then refused, as in Click).
        if not self.mapping_capacity.admit(now, self._new_flow_expiry(proto, now)):
            return self._failed(spec)
        f = table.add(proto, (s, sp, d, dp), new, fout, rout, port, now)
        if f is None:
            return self._failed(spec)
        spec.count += 1
        return f

    def get_entry(self, proto: int, key, input: int):
        """(flow, direction) of the mapping of key = (saddr, sport, daddr, dport),
        made as if a packet of it had come in on input when there is none
        (Click's get_entry, for FTPPortMapper); None when input's spec makes
        no mapping (pass, drop) or the mapping fails."""
        s, sp, d, dp = key
        found = self.table.find(proto, s, sp, d, dp)
        if found is not None or not 0 <= input < len(self.specs):
            return found
        spec = self.specs[input]
        if spec.kind in (PASS, DROP):
            return None
        f = self._new_flow(input, spec, (proto, s, sp, d, dp), self.now())
        return None if f is None else (f, 0)

    def rewritten_flow(self, f: int, direction: int) -> tuple:
        """(saddr, sport, daddr, dport) that packets of flow f's direction leave with."""
        t = self.table
        if direction == 0:
            return tuple(int(x) for x in t.new[f])
        s, sp, d, dp = (int(x) for x in t.key[f])
        return d, dp, s, sp

    def _new_flow_expiry(self, proto: int, now: float) -> float | None:
        """When a new flow of proto expires if it starts best-effort (no
        guarantee); None when it starts guaranteed."""
        t = self.timeouts
        if t.tcp_as_udp and proto == PROTO_TCP:
            proto = PROTO_UDP
        g, timeout = {PROTO_TCP: (t.tcp_guarantee, t.tcp_nodata),
                      PROTO_UDP: (t.udp_guarantee, t.udp),
                      PROTO_ICMP: (t.icmp_guarantee, t.icmp)}.get(
                          proto, (t.other_guarantee, t.other))
        return None if g > 0 else now + timeout

    def _failed(self, spec):
        spec.failures += 1
        self.mapping_failures += 1
        return None

    # -- handlers ---------------------------------------------------------------------
    def format_flow(self, f: int, direction: int, now: float) -> str:
        raise NotImplementedError

    def flow_lines(self, protos=None) -> str:
        """Click's table lines (both directions of each flow), for the given protocols."""
        now = self.now()
        flows = self.table.live_flows()
        if protos is not None:
            flows = flows[np.isin(self.table.proto[flows], protos)]
        return "".join(self.format_flow(int(f), d, now) + "\n"
                       for f in flows for d in (0, 1))

    def ports_text(self, f: int, direction: int, now: float) -> str:
        """Click's ' [*FOUT ROUT] iINPUT expSECONDS' (the starred output is this entry's)."""
        t = self.table
        fo, ro = int(t.fout[f]), int(t.rout[f])
        outs = f"*{fo} {ro}" if direction == 0 else f"{fo} *{ro}"
        owner = int(t.owner[f])
        who = f"i{owner}" if owner >= 0 else "static"
        if t.static[f]:
            return f" [{outs}] {who}"
        left = float(t.last_used[f] + t.timeouts_of(np.array([f]), self.timeouts)[0] - now)
        return f" [{outs}] {who} exp{int(left + 0.5)}"

    @read_handler("table")
    def read_table(self):
        return self.flow_lines()

    @read_handler("nmappings")
    def read_nmappings(self):
        return self.table.size

    @read_handler("table_size")
    def read_table_size(self):
        return self.table.size

    @read_handler("size")
    def read_size(self):
        """Flows held against the capacity: with a shared MAPPING_CAPACITY, those
        of every rewriter sharing it (Click's heap size)."""
        return self.mapping_capacity.size()

    @read_handler("mapping_failures")
    def read_mapping_failures(self):
        return self.mapping_failures

    @read_handler("capacity")
    def read_capacity(self):
        return self.mapping_capacity.capacity

    @write_handler("capacity")
    def write_capacity(self, value):
        try:
            cap = unsigned(value.strip())
        except ArgumentError:
            raise HandlerError(f"expected a mapping capacity (a number of flows), not "
                               f"{value.strip()!r}") from None
        self.mapping_capacity.capacity = cap
        self.reap()
        # as Click: flows past the new capacity go, best-effort ones first
        self.mapping_capacity.shrink(self.now())

    @write_handler("clear")
    def write_clear(self, value):
        for owner in self.table.clear(keep_static=True):
            self._forget(owner)

    @read_handler("patterns")
    def read_patterns(self):
        return "".join(s.unparse() + "\n" for s in self.specs)

    # -- patternN: one input's spec, read and replaced (Click's pattern handlers) ----------
    def handlers(self):
        own = self.__dict__.get("_with_pattern_handlers")
        if own is None:
            if "specs" not in self.__dict__:
                return self._handler_table      # not configured yet
            own = dict(self._handler_table)
            for i in range(len(getattr(self, "specs", ()))):
                h = Handler(f"pattern{i}")
                h.read = lambda self, i=i: self.specs[i].unparse()
                h.write = lambda self, value, i=i: self.replace_spec(i, value)
                own[h.name] = h
            self._with_pattern_handlers = own
        return own

    def replace_spec(self, i: int, text: str) -> None:
        """Input i takes a new INPUTSPEC; the flows it made go (as Click)."""
        try:
            spec = parse_input_spec(text.strip(), napt=self.NAPT)
        except ArgumentError as e:
            raise HandlerError(f"input spec {i}: {e}") from None
        if spec.max_output() >= self.n_outputs:
            raise HandlerError(f"input spec {i} ({text.strip()!r}) names output "
                               f"{spec.max_output()}; '{self.name}' has outputs "
                               f"0..{self.n_outputs - 1}")
        resolve_named_patterns(self, [spec], self.NAPT)
        t = self.table
        flows = t.live_flows()
        for f in flows[(t.owner[flows] == i) & ~t.static[flows]].tolist():
            t.remove(int(f))
        self.specs[i] = spec

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("drop_details")
    def read_drop_details(self):
        return "".join(f"{c}\t{r}\n" for c, r in zip(self.drop_counts, DROP_REASONS))
