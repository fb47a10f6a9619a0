"""Plain-Python reference for the IPFilter decision-program kernel in cext/ipfilter.pyx.

Same class, same methods, same results: the tests run both on the same
random packets and programs.  One packet at a time, one instruction at a
time, meant to be read.

The program is an int64 array with one row per instruction:

    KIND   0: compare a field; 1: only "the packet holds NEED bytes of BASE"
    BASE   0: offsets count from the IP header (nh); 1: from the transport
           header, 4 * IHL bytes after it; 2: from the packet's first byte
    OFFSET, SIZE    the field's bytes (SIZE 1-4, big-endian)
    SHIFT, WIDTH    value = (bytes >> SHIFT) & WIDTH
    MASK, OP, VALUE the test: (value & MASK) OP VALUE, OP 0-5 for == != < <= > >=
    NEED   the test is false unless the packet holds NEED bytes of BASE
    YES, NO         the next instruction; a negative one ends the run with
                    rule -1 - jump (the number of rules: no rule matched)

Conventions: a packet's bytes are pool.data[slot, off:off + length]; its IP
bytes run from nh to that end, and it has none when nh lies before off or
the recorded length runs past the slot.  The transport header needs the
IHL, so a packet with no IP bytes has no transport header either.
"""
from __future__ import annotations

import operator

KIND, BASE, OFFSET, SIZE, SHIFT, WIDTH, MASK, OP, VALUE, NEED, YES, NO = range(12)
OPS = (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge)


class Matcher:
    """A decision program bound to one pool's arrays (the kernel's twin)."""

    def __init__(self, data, off, length, nh, prog, entry):
        self.data, self.off, self.length, self.nh = data, off, length, nh
        self.prog, self.entry = prog, entry

    def first_match(self, idx, out) -> None:
        """out[i] = the first rule packet idx[i] matches (the number of rules for none)."""
        _run(self.data, self.off, self.length, self.nh, idx, self.prog, self.entry, out)


def _run(data, off, length, nh, idx, prog, entry, out) -> None:
    slot_size = data.shape[1]
    for i, row in enumerate(idx):
        row = int(row)
        start = int(off[row])
        out[i] = first_rule(data[row], slot_size, start, start + int(length[row]), int(nh[row]),
                            prog, entry)


def first_rule(row, slot_size: int, start: int, end: int, h: int, prog, entry: int) -> int:
    """The first rule one packet matches (the number of rules for none): the
    packet is row[start:end] of its slot, its IP header at h (the kernels
    share this step through cext/decisionprogram.pxd)."""
    have_ip = 0 if h < start or end > slot_size else end - h
    if have_ip >= 1:
        tstart = h + 4 * (int(row[h]) & 0x0F)
        have_t = end - tstart
    else:
        tstart, have_t = 0, -1
    have_pkt = end - start if end <= slot_size else 0
    pc = entry
    while pc >= 0:
        ins = [int(x) for x in prog[pc]]
        base_start, have = ((h, have_ip) if ins[BASE] == 0 else
                            (tstart, have_t) if ins[BASE] == 1 else (start, have_pkt))
        if have < ins[NEED]:
            matched = False
        elif ins[KIND] == 1:
            matched = True
        else:
            pos = base_start + ins[OFFSET]
            raw = int.from_bytes(bytes(row[pos:pos + ins[SIZE]]), "big")
            v = ((raw >> ins[SHIFT]) & ins[WIDTH]) & ins[MASK]
            matched = OPS[ins[OP]](v, ins[VALUE])
        pc = ins[YES] if matched else ins[NO]
    return -1 - pc
