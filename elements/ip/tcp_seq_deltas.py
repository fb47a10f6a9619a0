"""TCP sequence-number shifts of a rewritten flow (TCPRewriter's deltas).

An element that changes the length of a TCP segment's payload in flight
(FTPPortMapper rewriting a PORT command) moves every later sequence number
of that direction: the sender counts the bytes it sent, the receiver the
bytes it got.  The rewriter keeps, per flow and direction, the list of
*transitions* (trigger, delta): sequence numbers at or after the trigger are
shifted by delta, the sum of every change made before them.  Packets of
the direction get their sequence numbers shifted forward; packets of the
other direction get their acknowledgement numbers (and SACK block edges)
shifted back, so that neither end ever sees the other's numbering change.

Comparisons are modulo 2**32 (RFC 793's sequence space).  Once a direction's
sequence numbers have moved 2**30 past its newest trigger, the transitions
are folded into one delta for the whole space: old segments can no longer
be in flight, and a trigger left in place would be wrongly matched after
the numbers wrap.
"""
from __future__ import annotations

import struct

import numpy as np

from vforward.elements.ip.ipfields import ipheader

_SEQ_MOD = 1 << 32
_FOLD_DISTANCE = 1 << 30
TCPOPT_EOL, TCPOPT_NOP, TCPOPT_SACK = 0, 1, 5
_WORD, _WORDS, _HALF = struct.Struct("!I"), struct.Struct("!II"), struct.Struct("!H")


def seq_geq(a: int, b: int) -> bool:
    """a >= b in sequence space (RFC 793 / 1982 serial arithmetic)."""
    return ((a - b) & 0xFFFFFFFF) < 0x80000000


class SeqDeltas:
    """One flow's transitions, for its two directions (0: forward, 1: reply)."""

    __slots__ = ("transitions", "base")

    def __init__(self):
        # per direction: [(trigger, delta)], triggers increasing
        self.transitions: tuple[list, list] = ([], [])
        # the delta before the oldest kept trigger (non-zero once folded)
        self.base = [0, 0]

    def delta(self, direction: int) -> int:
        """The newest delta of a direction (what TCPRewriter's table shows)."""
        t = self.transitions[direction]
        return t[-1][1] if t else self.base[direction]

    def update(self, direction: int, trigger: int, change: int) -> bool:
        """Sequence numbers of direction from trigger on move by change more.

        A trigger already recorded with the same change is a retransmitted
        segment rewritten again: nothing moves twice.  A trigger equal to the
        newest one replaces that one's change; an older one is refused
        (returns False): the transitions must grow in sequence order."""
        trigger &= 0xFFFFFFFF
        t = self.transitions[direction]
        for i, (trig, d) in enumerate(t):
            if trig == trigger:
                before = t[i - 1][1] if i else self.base[direction]
                if d - before == change:
                    return True
                if i == len(t) - 1:
                    t[i] = (trig, before + change)
                    return True
                return False
        if t and not seq_geq(trigger, t[-1][0]):
            return False
        # transitions a whole fold distance behind the new one are folded into the base
        while t and seq_geq(trigger, (t[0][0] + _FOLD_DISTANCE) & 0xFFFFFFFF):
            self.base[direction] = t.pop(0)[1]
        t.append((trigger, self.delta(direction) + change))
        return True

    def fold(self, direction: int, seq: int) -> None:
        """A segment of direction with sequence number seq was seen."""
        t = self.transitions[direction]
        if t and seq_geq(seq, (t[-1][0] + _FOLD_DISTANCE) & 0xFFFFFFFF):
            self.base[direction] = t[-1][1]
            t.clear()

    def new_seq(self, direction: int, seq: int) -> int:
        for trigger, d in reversed(self.transitions[direction]):
            if seq_geq(seq, trigger):
                return (seq + d) % _SEQ_MOD
        return (seq + self.base[direction]) % _SEQ_MOD

    def new_ack(self, direction: int, ack: int) -> int:
        """An acknowledgement number carried by a packet of direction, back
        into the numbering of the other direction's sender."""
        other = 1 - direction
        for trigger, d in reversed(self.transitions[other]):
            old = (ack - d) % _SEQ_MOD
            if seq_geq(old, trigger):
                return old
        return (ack - self.base[other]) % _SEQ_MOD

    def shifts(self, direction: int) -> tuple[bool, bool]:
        """(sequence numbers move, acknowledgement numbers move) for direction."""
        return (bool(self.transitions[direction]) or self.base[direction] != 0,
                bool(self.transitions[1 - direction]) or self.base[1 - direction] != 0)


def shift_packet(data, nh: int, end: int, deltas: SeqDeltas, direction: int) -> bool:
    """Shift the sequence, acknowledgement and SACK numbers of the TCP segment
    whose IP header starts at data[nh] (data: the packet's slot row; end: the
    packet's end), updating the TCP checksum incrementally (RFC 1624).
    Returns False, leaving the packet alone, when it is not a whole first
    TCP segment."""
    row = memoryview(data)              # plain ints from here on, not numpy scalars
    if end - nh < 20 or row[nh + 9] != 6 or (row[nh + 6] & 0x1F) or row[nh + 7]:
        return False                    # not TCP, or a later fragment (no TCP header)
    th = nh + (row[nh] & 15) * 4
    if th + 20 > end:
        return False
    doff = (row[th + 12] >> 4) * 4
    if doff < 20 or th + doff > end:
        return False
    # one copy of the header in, edited as bytes, one copy out
    hdr = bytearray(row[th:th + doff])
    seq, ack = _WORDS.unpack_from(hdr, 4)
    deltas.fold(direction, seq)
    move_seq, move_ack = deltas.shifts(direction)
    (cksum,) = _HALF.unpack_from(hdr, 16)
    if move_seq:
        new = deltas.new_seq(direction, seq)
        cksum = ipheader.incremental_checksum_update32(cksum, seq, new)
        _WORD.pack_into(hdr, 4, new)
    if move_ack:
        new = deltas.new_ack(direction, ack)
        cksum = ipheader.incremental_checksum_update32(cksum, ack, new)
        _WORD.pack_into(hdr, 8, new)
        if doff > 20:
            cksum = _shift_sack(hdr, deltas, direction, cksum)
    _HALF.pack_into(hdr, 16, cksum)
    row[th:th + doff] = hdr
    return True


def _shift_sack(hdr: bytearray, deltas: SeqDeltas, direction: int, cksum: int) -> int:
    """SACK blocks (RFC 2018) acknowledge ranges: both edges go back like the ack."""
    at, end = 20, len(hdr)
    while at < end:
        kind = hdr[at]
        if kind == TCPOPT_EOL:
            break
        if kind == TCPOPT_NOP:
            at += 1
            continue
        if at + 1 >= end:
            break
        size = hdr[at + 1]
        if size < 2 or at + size > end:
            break                       # a malformed option list: leave the rest
        if kind == TCPOPT_SACK:
            for edge in range(at + 2, at + size - 3, 4):
                (old,) = _WORD.unpack_from(hdr, edge)
                new = deltas.new_ack(direction, old)
                cksum = ipheader.incremental_checksum_update32(cksum, old, new)
                _WORD.pack_into(hdr, edge, new)
        at += size
    return cksum


def shift_batch(pool, idx, values, shifted, flows: dict) -> None:
    """Shift the packets of a rewritten batch whose flows have deltas (values: the
    kernel's 2 * flow + direction per packet, -1 when unmapped; shifted: the
    table's per-flow flag column, one fancy index for the whole batch)."""
    mapped = np.flatnonzero(values >= 0)
    if not len(mapped):
        return
    hit = mapped[shifted[values[mapped] >> 1]]
    for i in hit.tolist():
        slot, v = int(idx[i]), int(values[i])
        end = int(pool.off[slot]) + int(pool.length[slot])
        row, nh = pool.data[slot], int(pool.nh[slot])
        if row[nh + 9] == 1:
            unshift_icmp_quote(row, nh, end, flows[v >> 1], v & 1)
        else:
            shift_packet(row, nh, end, flows[v >> 1], v & 1)


def unshift_icmp_quote(data, nh: int, end: int, deltas: SeqDeltas, direction: int) -> bool:
    """An ICMP error of direction (translated by the rewriter) quotes a segment of
    the other direction as it left shifted: its sequence (and acknowledgement)
    number go back to the numbering of the host the error is for, which checks
    it (Linux ignores an error quoting a sequence number it never sent).  The
    ICMP checksum, and the quoted TCP checksum when quoted whole, follow."""
    row = memoryview(data)
    icmp = nh + (row[nh] & 15) * 4
    q = icmp + 8
    if q + 20 > end or row[q] >> 4 != 4 or row[q + 9] != 6 or (row[q + 6] & 0x1F) or row[q + 7]:
        return False
    qth = q + (row[q] & 15) * 4
    if qth + 8 > end:
        return False
    cksum_at = qth + 16 if qth + 18 <= end else None
    (icmp_cksum,) = _HALF.unpack_from(row, icmp + 2)
    tcp_cksum = _HALF.unpack_from(row, cksum_at)[0] if cksum_at else 0
    changes = []
    (seq,) = _WORD.unpack_from(row, qth + 4)
    changes.append((qth + 4, seq, deltas.new_ack(direction, seq)))
    if qth + 12 <= end:
        (ack,) = _WORD.unpack_from(row, qth + 8)
        changes.append((qth + 8, ack, deltas.new_seq(direction, ack)))
    for at, old, new in changes:
        if old == new:
            continue
        if cksum_at:
            old_tcp = tcp_cksum
            tcp_cksum = ipheader.incremental_checksum_update32(tcp_cksum, old, new)
            icmp_cksum = ipheader.incremental_checksum_update(icmp_cksum, old_tcp, tcp_cksum)
        icmp_cksum = ipheader.incremental_checksum_update32(icmp_cksum, old, new)
        _WORD.pack_into(row, at, new)
    if cksum_at:
        _HALF.pack_into(row, cksum_at, tcp_cksum)
    _HALF.pack_into(row, icmp + 2, icmp_cksum)
    return True
