"""Plain-Python reference for the NAT kernels in cext/rewriter.pyx.

Same names, same signatures, same results, byte for byte: the tests run the
kernel and this module on copies of the same pool and the same mappings and
compare every byte, column and output.  One packet at a time, fields read
and written with `struct`, each checksum patched word by word with RFC 1624
eqn. 3 (`incremental_checksum_update`) for every 16-bit word that changes.

Conventions shared with the kernel:

- A flow key is (proto, saddr, sport, daddr, dport), host-byte-order
  integers.  TCP and UDP use their ports.  An ICMP echo request's key is
  (1, src, identifier, dst, 0) and an echo reply's (1, src, 0, dst,
  identifier), so that the reply of a request has the reverse key, as
  with ports, and a request never matches a reply's mapping (Click's
  ICMPPingRewriter plays the same trick with identifier + 1).
- A mapping entry says: a packet with this key gets the rewritten tuple
  (nsaddr, nsport, ndaddr, ndport) and leaves on `output`; `value` names
  the entry to the caller (2 * flow + direction in the IPRewriter table).
- The datagram is the IP header at nh and ip_len bytes from it; a packet
  whose header or datagram is not whole inside it, or whose slot it
  overruns, is MALFORMED and untouched.  TCP needs 20 bytes of header, UDP
  and ICMP 8.  A fragment other than the first is FRAGMENT (no ports).
- Only words that change enter a checksum update, so a mapping that
  changes nothing changes no byte.  A UDP checksum of 0 ("none") stays 0,
  and one that an update makes 0 is sent as 0xFFFF.
"""
from __future__ import annotations

import struct

from vforward.cext.ipheader_reference import incremental_checksum_update

HIT, ICMP_ERROR, MISS, UNMAPPABLE, FRAGMENT, MALFORMED = range(6)
CODE_MASK = 0x0F
FIRST_FRAGMENT = 0x40

FWD_DONE, REP_DONE, FWD_DATA, REP_DATA, FWD_SEEN, REP_SEEN = 1, 2, 4, 8, 16, 32

PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17
ICMP_ECHOREPLY, ICMP_ECHO = 0, 8
ICMP_ERRORS = (3, 4, 5, 11, 12)      # unreachable, source quench, redirect, time exceeded, param
TH_FIN, TH_SYN, TH_RST = 0x01, 0x02, 0x04


class FlowTable:
    """Flow key -> mapping entry, in a dict (the kernel's is a C hash table)."""

    def __init__(self, capacity: int = 1024):
        self._entries: dict[tuple, tuple] = {}
        self.max_value = -1

    def __len__(self) -> int:
        return len(self._entries)

    def insert(self, proto, saddr, sport, daddr, dport, nsaddr, nsport, ndaddr, ndport,
               output, value) -> bool:
        """Map the key to the rewritten tuple; False (and no change) if the key is present."""
        if value < 0:
            raise ValueError(f"entry value must be 0 or more, not {value}")
        key = (proto, saddr, sport, daddr, dport)
        if key in self._entries:
            return False
        self._entries[key] = (nsaddr, nsport, ndaddr, ndport, output, value)
        self.max_value = max(self.max_value, value)
        return True

    def lookup(self, proto, saddr, sport, daddr, dport) -> int:
        e = self._entries.get((proto, saddr, sport, daddr, dport))
        return -1 if e is None else e[5]

    def get(self, proto, saddr, sport, daddr, dport):
        return self._entries.get((proto, saddr, sport, daddr, dport))

    def remove(self, proto, saddr, sport, daddr, dport) -> bool:
        return self._entries.pop((proto, saddr, sport, daddr, dport), None) is not None

    def clear(self) -> None:
        self._entries.clear()
        self.max_value = -1

    def first_free_port(self, proto, saddr, sport, daddr, base, span, start) -> int:
        """The first v of start, start+1, ... span, 0, 1, ... for which the key
        (proto, saddr, sport, daddr, base + v) is absent; -1 if none is."""
        if base + span > 0xFFFF:
            raise ValueError(f"port range {base}-{base + span} goes past 65535")
        v = start if start <= span else 0
        for _ in range(span + 1):
            if (proto, saddr, sport, daddr, base + v) not in self._entries:
                return v
            v = 0 if v == span else v + 1
        return -1

    def first_free_address(self, proto, saddr, sport, dport, base, span, start) -> int:
        """Like first_free_port, varying the destination address."""
        if base + span > 0xFFFFFFFF:
            raise ValueError("address range goes past 255.255.255.255")
        v = start if start <= span else 0
        for _ in range(span + 1):
            if (proto, saddr, sport, base + v, dport) not in self._entries:
                return v
            v = 0 if v == span else v + 1
        return -1


# -- checksum helpers -------------------------------------------------------------
def _addr_words(a: int):
    return (a >> 16, a & 0xFFFF)


def _changed_words(pairs):
    """[(old, new), ...] of 16-bit words, keeping those that change."""
    return [(o, n) for o, n in pairs if o != n]


def _apply(cksum: int, changes) -> int:
    for o, n in changes:
        cksum = incremental_checksum_update(cksum, o, n)
    return cksum


# -- packet access ------------------------------------------------------------------
class _Datagram:
    """The IP datagram of one slot as a bytearray, written back on `store`."""

    def __init__(self, pool, slot: int, h: int, ip_len: int):
        self.pool, self.slot, self.h = pool, slot, h
        self.b = bytearray(pool.data[slot, h:h + ip_len].tobytes())

    def u16(self, at: int) -> int:
        return struct.unpack_from("!H", self.b, at)[0]

    def u32(self, at: int) -> int:
        return struct.unpack_from("!I", self.b, at)[0]

    def put16(self, at: int, v: int) -> None:
        struct.pack_into("!H", self.b, at, v)

    def put32(self, at: int, v: int) -> None:
        struct.pack_into("!I", self.b, at, v)

    def store(self) -> None:
        self.pool.data[self.slot, self.h:self.h + len(self.b)] = list(self.b)


def _ip_header(pool, slot: int):
    """(nh, header length, ip_len) of a whole IPv4 datagram at nh, or None."""
    o = int(pool.off[slot])
    end = o + int(pool.length[slot])
    h = int(pool.nh[slot])
    if end > pool.data.shape[1] or h < o or h + 20 > end:
        return None
    first = int(pool.data[slot, h])
    if first >> 4 != 4:
        return None
    hl = (first & 0x0F) * 4
    ip_len = (int(pool.data[slot, h + 2]) << 8) | int(pool.data[slot, h + 3])
    if hl < 20 or ip_len < hl or h + ip_len > end:
        return None
    return h, hl, ip_len


def _flow_key(d: _Datagram, hl: int):
    """(code, key): MISS (may start a mapping), HIT (may only follow one: echo
    reply), ICMP_ERROR, or the code that says why there is no key."""
    b = d.b
    tlen = len(b) - hl
    if d.u16(6) & 0x1FFF:
        return FRAGMENT, None
    proto = b[9]
    saddr, daddr = d.u32(12), d.u32(16)
    if proto in (PROTO_TCP, PROTO_UDP):
        if tlen < (20 if proto == PROTO_TCP else 8):
            return MALFORMED, None
        return MISS, (proto, saddr, d.u16(hl), daddr, d.u16(hl + 2))
    if proto != PROTO_ICMP:
        return UNMAPPABLE, None
    if tlen < 8:
        return MALFORMED, None
    icmp_type = b[hl]
    if icmp_type == ICMP_ECHO:
        return MISS, (proto, saddr, d.u16(hl + 4), daddr, 0)
    if icmp_type == ICMP_ECHOREPLY:
        return HIT, (proto, saddr, 0, daddr, d.u16(hl + 4))
    if icmp_type in ICMP_ERRORS:
        return ICMP_ERROR, None
    return UNMAPPABLE, None


# -- rewriting ------------------------------------------------------------------------
def _rewrite_hit(d: _Datagram, hl: int, key, entry) -> None:
    proto, saddr, sport, daddr, dport = key
    nsaddr, nsport, ndaddr, ndport = entry[:4]
    addr_changes = _changed_words(zip(_addr_words(saddr) + _addr_words(daddr),
                                      _addr_words(nsaddr) + _addr_words(ndaddr)))
    port_changes = _changed_words(((sport, nsport), (dport, ndport)))
    if saddr != nsaddr or daddr != ndaddr:
        d.put32(12, nsaddr)
        d.put32(16, ndaddr)
        d.put16(10, _apply(d.u16(10), addr_changes))
    if (saddr, sport, daddr, dport) == (nsaddr, nsport, ndaddr, ndport):
        return
    if proto == PROTO_TCP:
        d.put16(hl, nsport)
        d.put16(hl + 2, ndport)
        d.put16(hl + 16, _apply(d.u16(hl + 16), addr_changes + port_changes))
    elif proto == PROTO_UDP:
        d.put16(hl, nsport)
        d.put16(hl + 2, ndport)
        c = d.u16(hl + 6)
        if c:
            c = _apply(c, addr_changes + port_changes)
            d.put16(hl + 6, c or 0xFFFF)
    elif proto == PROTO_ICMP:
        # Only the identifier is in the message, so the checksum follows that word
        # alone (a request can hit an entry made for replies when both identifiers are 0).
        old, new = d.u16(hl + 4), nsport if d.b[hl] == ICMP_ECHO else ndport
        d.put16(hl + 4, new)
        # A zero result is written 0xFFFF (the same in one's complement, and the
        # only right one for an all-zero message: an echo reply with identifier,
        # sequence and payload all 0)
        c = _apply(d.u16(hl + 2), _changed_words(((old, new),)))
        d.put16(hl + 2, 0xFFFF if c == 0 else c)


def _track(d: _Datagram, hl: int, proto: int, value: int, now: float,
           last_used, state, packets) -> None:
    f, direction = value >> 1, value & 1
    s = int(state[f]) | (FWD_SEEN << direction)
    last_used[f] = now
    if packets[f] != 0xFFFFFFFF:
        packets[f] += 1
    if proto == PROTO_TCP:
        flags = d.b[hl + 13]
        payload = hl + ((d.b[hl + 12] >> 4) << 2) < len(d.b)
        if flags & TH_RST:
            s |= FWD_DONE | REP_DONE
        elif flags & TH_FIN:
            s |= FWD_DONE << direction
        elif flags & TH_SYN or payload:
            s &= ~(FWD_DONE << direction) & 0xFF
        if payload:
            s |= FWD_DATA << direction
    state[f] = s


def _translate_icmp_error(d: _Datagram, hl: int, table: FlowTable):
    """Rewrite an ICMP error quoting a mapped flow; returns its entry, or None."""
    b = d.b
    end = len(b)
    if end - hl < 8 + 20:
        return None
    icmp = hl
    q = hl + 8
    if b[q] >> 4 != 4:
        return None
    qhl = (b[q] & 0x0F) * 4
    if qhl < 20 or q + qhl > end or d.u16(q + 6) & 0x1FFF:
        return None
    qp = b[q + 9]
    qsrc, qdst = d.u32(q + 12), d.u32(q + 16)
    qt = q + qhl
    if qt + 8 > end:
        return None
    qsport = qdport = 0
    ports = echo_request = False
    if qp in (PROTO_TCP, PROTO_UDP):
        qsport, qdport = d.u16(qt), d.u16(qt + 2)
        ports = True
    elif qp == PROTO_ICMP and b[qt] == ICMP_ECHO:
        qsport = d.u16(qt + 4)
        echo_request = True
    elif qp == PROTO_ICMP and b[qt] == ICMP_ECHOREPLY:
        qdport = d.u16(qt + 4)
    else:
        return None
    entry = table.get(qp, qdst, qdport, qsrc, qsport)
    if entry is None:
        return None
    e_nsaddr, e_nsport, e_ndaddr, e_ndport = entry[:4]
    nsrc, ndst, nsport, ndport = e_ndaddr, e_nsaddr, e_ndport, e_nsport

    quoted_addr = _changed_words(zip(_addr_words(qsrc) + _addr_words(qdst),
                                     _addr_words(nsrc) + _addr_words(ndst)))
    outer_icmp = []                  # every changed word inside the quoted datagram
    if ports:
        port_changes = _changed_words(((qsport, nsport), (qdport, ndport)))
        outer_icmp += port_changes
        d.put16(qt, nsport)
        d.put16(qt + 2, ndport)
        if qp == PROTO_TCP and qt + 18 <= end:
            old = d.u16(qt + 16)
            new = _apply(old, quoted_addr + port_changes)
            d.put16(qt + 16, new)
            outer_icmp += _changed_words(((old, new),))
        elif qp == PROTO_UDP and d.u16(qt + 6):
            old = d.u16(qt + 6)
            new = _apply(old, quoted_addr + port_changes) or 0xFFFF
            d.put16(qt + 6, new)
            outer_icmp += _changed_words(((old, new),))
    else:
        old, new = (qsport, nsport) if echo_request else (qdport, ndport)
        if old != new:
            outer_icmp.append((old, new))
            d.put16(qt + 4, new)
            c = d.u16(qt + 2)
            c2 = incremental_checksum_update(c, old, new)
            d.put16(qt + 2, c2)
            outer_icmp += _changed_words(((c, c2),))
    if qsrc != nsrc or qdst != ndst:
        d.put32(q + 12, nsrc)
        d.put32(q + 16, ndst)
        old = d.u16(q + 10)
        new = _apply(old, quoted_addr)
        d.put16(q + 10, new)
        outer_icmp += quoted_addr + _changed_words(((old, new),))
    d.put16(icmp + 2, _apply(d.u16(icmp + 2), outer_icmp))
    outer_ip = []
    old = d.u32(16)
    if old == qsrc and old != nsrc:
        d.put32(16, nsrc)
        outer_ip += _changed_words(zip(_addr_words(old), _addr_words(nsrc)))
    old = d.u32(12)
    if old == qdst and old != ndst:
        d.put32(12, ndst)
        outer_ip += _changed_words(zip(_addr_words(old), _addr_words(ndst)))
    d.put16(10, _apply(d.u16(10), outer_ip))
    return entry


def _check_batch(pool, idx, out_arrays, table, flow_arrays) -> None:
    n = len(idx)
    if min(len(a) for a in out_arrays) < n:
        raise ValueError(f"output arrays have {min(len(a) for a in out_arrays)} entries for a "
                         f"batch of {n} packets")
    if out_arrays[-1].shape[1] < 4:
        raise ValueError("out_key needs 4 columns")
    if n and int(max(idx)) >= pool.data.shape[0]:
        raise IndexError(f"slot {int(max(idx))} is out of range for a pool of "
                         f"{pool.data.shape[0]} slots")
    n_flows = min(len(a) for a in flow_arrays)
    if table.max_value >= 0 and table.max_value >> 1 >= n_flows:
        raise IndexError(f"the flow table names flow {table.max_value >> 1} but the flow "
                         f"arrays hold {n_flows}")


def rewrite_batch(pool, idx, table: FlowTable, now: float, last_used, state, packets,
                  dst_anno: bool, out_code, out_port, out_value, out_key) -> int:
    """Look up and rewrite a batch of IP packets at nh (IPRewriter's hot path).

    For each packet i: out_code[i] is HIT (rewritten; FIRST_FRAGMENT is or-ed
    in for the first fragment of a fragmented datagram), ICMP_ERROR
    (translated), MISS, UNMAPPABLE, FRAGMENT or MALFORMED.  For HIT and
    ICMP_ERROR, out_port[i] is the entry's output and out_value[i] its value;
    otherwise they are -1.  out_key[i] is (saddr, daddr, sport << 16 | dport,
    proto) of the packet's flow for HIT and MISS (zeros otherwise).  A hit
    sets last_used[flow] = now and updates state[flow] and packets[flow]
    (flow = value >> 1, direction = value & 1); with dst_anno, the dst_ip
    annotation of rewritten packets becomes their new destination.  Returns
    the number of HIT and ICMP_ERROR packets.
    """
    _check_batch(pool, idx, (out_code, out_port, out_value, out_key), table,
                 (last_used, state, packets))
    done = 0
    for i, slot in enumerate(idx):
        slot = int(slot)
        out_port[i] = out_value[i] = -1
        out_key[i] = 0
        at = _ip_header(pool, slot)
        if at is None:
            out_code[i] = MALFORMED
            continue
        h, hl, ip_len = at
        d = _Datagram(pool, slot, h, ip_len)
        code, key = _flow_key(d, hl)
        if code == ICMP_ERROR:
            entry = _translate_icmp_error(d, hl, table)
            if entry is None:
                out_code[i] = UNMAPPABLE
                continue
            d.store()
            out_port[i], out_value[i] = entry[4], entry[5]
            if dst_anno:
                pool.dst_ip[slot] = d.u32(16)
            out_code[i] = ICMP_ERROR
            done += 1
            continue
        if code not in (MISS, HIT):
            out_code[i] = code
            continue
        proto, saddr, sport, daddr, dport = key
        out_key[i] = (saddr, daddr, (sport << 16) | dport, proto)
        entry = table.get(*key)
        if entry is None:
            out_code[i] = MISS if code == MISS else UNMAPPABLE
            continue
        _rewrite_hit(d, hl, key, entry)
        _track(d, hl, proto, entry[5], now, last_used, state, packets)
        d.store()
        if dst_anno:
            pool.dst_ip[slot] = entry[2]
        out_port[i], out_value[i] = entry[4], entry[5]
        out_code[i] = HIT | (FIRST_FRAGMENT if d.u16(6) & 0x2000 else 0)
        done += 1
    return done


def rewrite_addr_batch(pool, idx, table: FlowTable, now: float, last_used, state, packets,
                       dst_anno: bool, out_code, out_port, out_value, out_key,
                       pair: bool = False) -> int:
    """Basic NAT (IPAddrRewriter): rewrite addresses only, any IP protocol.

    A packet is looked up by (0, saddr, 0, 0, 0): a hit (direction 0) gets
    its source rewritten; else by (0, 0, 0, daddr, 0): a hit (direction 1)
    gets its destination rewritten.  With `pair` (IPAddrPairRewriter) it is
    looked up by (0, saddr, 0, daddr, 0) alone and a hit sets both addresses
    to the entry's.  The IP checksum is updated, and so is
    the TCP or UDP checksum of a first (or only) fragment long enough to
    hold it (18 bytes of TCP, 8 of UDP; a zero UDP checksum stays zero).
    out_code[i] is HIT, MISS or MALFORMED, out_key[i] (saddr, daddr, 0,
    proto) for HIT and MISS; the rest as rewrite_batch.
    """
    _check_batch(pool, idx, (out_code, out_port, out_value, out_key), table,
                 (last_used, state, packets))
    done = 0
    for i, slot in enumerate(idx):
        slot = int(slot)
        out_port[i] = out_value[i] = -1
        out_key[i] = 0
        at = _ip_header(pool, slot)
        if at is None:
            out_code[i] = MALFORMED
            continue
        h, hl, ip_len = at
        d = _Datagram(pool, slot, h, ip_len)
        saddr, daddr, proto = d.u32(12), d.u32(16), d.b[9]
        out_key[i] = (saddr, daddr, 0, proto)
        if pair:
            entry = table.get(0, saddr, 0, daddr, 0)
            if entry is None:
                out_code[i] = MISS
                continue
            changes = _changed_words(zip(_addr_words(saddr) + _addr_words(daddr),
                                         _addr_words(entry[0]) + _addr_words(entry[2])))
            d.put32(12, entry[0])
            d.put32(16, entry[2])
        else:
            entry = table.get(0, saddr, 0, 0, 0)
            if entry is not None:
                old, new, at_field = saddr, entry[0], 12
            else:
                entry = table.get(0, 0, 0, daddr, 0)
                if entry is None:
                    out_code[i] = MISS
                    continue
                old, new, at_field = daddr, entry[2], 16
            changes = _changed_words(zip(_addr_words(old), _addr_words(new)))
            d.put32(at_field, new)
        d.put16(10, _apply(d.u16(10), changes))
        tlen = ip_len - hl
        if not d.u16(6) & 0x1FFF:
            if proto == PROTO_TCP and tlen >= 18:
                d.put16(hl + 16, _apply(d.u16(hl + 16), changes))
            elif proto == PROTO_UDP and tlen >= 8 and d.u16(hl + 6):
                d.put16(hl + 6, _apply(d.u16(hl + 6), changes) or 0xFFFF)
        _track(d, hl, 0, entry[5], now, last_used, state, packets)
        d.store()
        if dst_anno:
            pool.dst_ip[slot] = d.u32(16)
        out_port[i], out_value[i] = entry[4], entry[5]
        out_code[i] = HIT
        done += 1
    return done
