"""Classifier: sends packets to outputs by byte patterns at fixed offsets.

Patterns are compiled once into byte tests (offset, value, mask).  A batch
is classified by gathering every tested byte of every packet with one numpy
fancy index, comparing all tests at once, and combining tests into clauses
and clauses into patterns with boolean reductions over the batch.
`match_reference` is the obvious per-packet matcher the fast one is tested
against.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from vforward.args import ArgumentError
from vforward.element import PUSH_ONLY, Element, read_handler
from vforward.packet import Batch

from vforward import kernels

_Matcher = kernels.load("ipfilter").Matcher   # the decision-program matcher IPFilter uses too
_ONE_PORT = np.empty(1, dtype=np.intp)   # allocating costs microseconds on an idle packet


@dataclass(frozen=True)
class Clause:
    """offset/value%mask, perhaps negated.  value and mask are bytes of equal
    length; '?' nibbles are already folded into the mask."""
    offset: int
    value: bytes
    mask: bytes
    negated: bool = False

    def tested(self) -> list[tuple[int, int, int]]:
        """(absolute offset, value, mask) for each byte the clause really reads."""
        return [(self.offset + i, v & m, m) for i, (v, m) in enumerate(zip(self.value, self.mask))
                if m]

    def needed_length(self) -> int:
        """Shortest packet that has every byte the clause reads."""
        tested = self.tested()
        return tested[-1][0] + 1 if tested else 0

    def text(self) -> str:
        return (f"{'!' if self.negated else ''}{self.offset}/{self.value.hex()}"
                f"%{self.mask.hex()}")


_CLAUSE = re.compile(r"(\d+)/([0-9a-fA-F?]+)(?:%([0-9a-fA-F]+))?")


def parse_clause(text: str, negated: bool = False) -> Clause:
    m = _CLAUSE.fullmatch(text)
    if not m:
        raise ArgumentError(f"bad clause {text!r}: expected OFFSET/VALUE or OFFSET/VALUE%MASK, "
                            "with a decimal offset and hex value and mask, such as 12/0800")
    offset, value, mask = int(m.group(1)), m.group(2), m.group(3)
    if len(value) % 2:
        # Click's configs write one-digit bytes (demo.click's 9/6 for TCP): a leading 0
        if mask is not None and len(mask) % 2:
            mask = "0" + mask
        value = "0" + value
    if mask is not None and len(mask) != len(value):
        raise ArgumentError(f"bad clause {text!r}: the mask needs as many hex digits as the value")
    wild = "".join("0" if c == "?" else "f" for c in value)
    v = bytes.fromhex(value.replace("?", "0"))
    w = bytes.fromhex(wild)
    mk = bytes.fromhex(mask) if mask is not None else w
    mk = bytes(a & b for a, b in zip(mk, w))
    return Clause(offset, bytes(a & b for a, b in zip(v, mk)), mk, negated)


def parse_pattern(text: str) -> list[Clause] | None:
    """Clauses of one pattern; None for '-' (matches every packet)."""
    text = text.strip()
    if text == "-":
        return None
    tokens = text.split()
    if not tokens:
        raise ArgumentError("empty pattern; write - for a pattern that matches every packet")
    clauses, negate = [], False
    for tok in tokens:
        if tok == "!":
            negate = not negate
            continue
        while tok.startswith("!"):
            negate, tok = not negate, tok[1:]
        clauses.append(parse_clause(tok, negate))
        negate = False
    if negate:
        raise ArgumentError(f"pattern {text!r} ends with '!'; put the clause to negate after it")
    return clauses


def clause_matches(clause: Clause, data: bytes) -> bool:
    """Reference: does the clause hold for a packet with these bytes?"""
    ok = all(off < len(data) and data[off] & m == v for off, v, m in clause.tested())
    return ok != clause.negated


def match_reference(patterns: list, data: bytes) -> int | None:
    """Reference matcher: the first pattern whose clauses all hold, or None."""
    for port, clauses in enumerate(patterns):
        if clauses is None or all(clause_matches(c, data) for c in clauses):
            return port
    return None


class CompiledPatterns:
    """The patterns as flat numpy test tables, evaluated over whole batches."""

    def __init__(self, patterns: list):
        self.patterns = patterns
        tests, self._clauses = [], []       # clause: (first test, end test, needed, negated)
        self._pattern_clauses = []          # per pattern: range of clause numbers, or None
        for clauses in patterns:
            if clauses is None:
                self._pattern_clauses.append(None)
                continue
            first = len(self._clauses)
            for c in clauses:
                t = c.tested()
                self._clauses.append((len(tests), len(tests) + len(t), c.needed_length(),
                                      c.negated))
                tests.extend(t)
            self._pattern_clauses.append(range(first, len(self._clauses)))
        offsets = np.array([t[0] for t in tests], dtype=np.int64)
        self.offsets, self._column = np.unique(offsets, return_inverse=True)
        self._value = np.array([t[1] for t in tests], dtype=np.uint8)
        self._mask = np.array([t[2] for t in tests], dtype=np.uint8)

    def ports(self, pool, idx: np.ndarray) -> np.ndarray:
        """Per packet: the first matching pattern's number, or len(patterns) for none."""
        n = len(idx)
        n_pat = len(self.patterns)
        length = pool.length[idx].astype(np.int64)
        if len(self.offsets):
            pos = pool.off[idx].astype(np.int64)[:, None] + self.offsets[None, :]
            np.minimum(pos, pool.slot_size - 1, out=pos)   # past the slot: the length test fails
            gathered = pool.data[idx[:, None], pos]
            eq = (gathered[:, self._column] & self._mask) == self._value
        else:
            eq = np.zeros((n, 0), dtype=bool)
        clause_ok = np.empty((n, len(self._clauses)), dtype=bool)
        for k, (a, b, needed, negated) in enumerate(self._clauses):
            ok = eq[:, a:b].all(axis=1)
            if needed:
                ok &= length >= needed
            clause_ok[:, k] = ~ok if negated else ok
        matched = np.empty((n, n_pat + 1), dtype=bool)
        for p, rng in enumerate(self._pattern_clauses):
            matched[:, p] = True if rng is None else clause_ok[:, rng.start:rng.stop].all(axis=1)
        matched[:, n_pat] = True    # the "no pattern" bucket
        return matched.argmax(axis=1)


def decision_program(patterns: list) -> tuple[np.ndarray, int]:
    """The patterns as a decision program for the compiled matcher of
    cext/ipfilter.pyx (BASE 2: offsets from the packet's start): each clause
    is a chain of tests of up to 4 bytes, each failing unless the packet
    holds every byte the clause reads.  Returns (program, entry)."""
    n_pat = len(patterns)
    chunks = []          # per pattern: None ('-'), False (never matches) or [(negated, [tests])]
    for clauses in patterns:
        if clauses is None:
            chunks.append(None)
            continue
        plan = []
        for c in clauses:
            tested = c.tested()
            if not tested:
                if c.negated:            # "not (always true)": the pattern never matches
                    plan = False
                    break
                continue
            tests, i = [], 0
            while i < len(tested):
                first = tested[i][0]
                group = [t for t in tested[i:] if t[0] < first + 4]
                size = group[-1][0] - first + 1
                mask = value = 0
                for off, v, m in group:
                    shift = 8 * (size - 1 - (off - first))
                    mask |= m << shift
                    value |= v << shift
                tests.append((first, size, mask, value, c.needed_length()))
                i += len(group)
            plan.append((c.negated, tests))
        chunks.append(plan)
    starts, at = [], 0
    for plan in chunks:
        starts.append(at)
        if plan:
            at += sum(len(t) for _, t in plan)
    entry_of = [0] * (n_pat + 1)
    entry_of[n_pat] = -1 - n_pat
    for p in range(n_pat - 1, -1, -1):
        plan = chunks[p]
        entry_of[p] = (-1 - p if plan is None or plan == [] else
                       entry_of[p + 1] if plan is False else starts[p])
    rows = []
    for p, plan in enumerate(chunks):
        if not plan:
            continue
        fail = entry_of[p + 1]
        pos = starts[p]
        for k, (negated, tests) in enumerate(plan):
            after = pos + len(tests)
            nxt = after if k + 1 < len(plan) else -1 - p      # the clause held: go on
            for j, (off, size, mask, value, need) in enumerate(tests):
                last = j + 1 == len(tests)
                yes = (fail if negated else nxt) if last else pos + j + 1
                no = nxt if negated else fail
                rows.append([0, 2, off, size, 0, 0xFFFFFFFF, mask, 0, value, need, yes, no])
            pos = after
    prog = np.array(rows, dtype=np.int64).reshape(-1, 12)
    return prog, entry_of[0]


class Classifier(Element):
    """Classifier(PATTERN1, ..., PATTERNN) -- classify packets by contents

    Ports: 1 input, N outputs (one per pattern); push.

    Sends each packet to the output of the first pattern it matches, and
    drops packets that match none.  A pattern is a list of clauses
    separated by spaces, and matches when every clause holds.  A clause
    is OFFSET/VALUE or OFFSET/VALUE%MASK: the packet's bytes from OFFSET
    (decimal, from the packet's start) equal VALUE (hex, an even number of
    digits) in the bits set in MASK (hex, as many digits as VALUE).  A '?'
    digit in VALUE matches any nibble.  A clause preceded by '!' must not
    hold.  The pattern '-' matches every packet.

    A clause that reads a byte past the end of a packet does not hold for
    it (so its negation does), as in Click; '?' and zero-mask bytes are not
    read.  Put specific patterns before general ones:

      Classifier(12/0806 20/0001,   // ARP requests   -> output 0
                 12/0806 20/0002,   // ARP replies    -> output 1
                 12/0800,           // IPv4           -> output 2
                 -)                 // everything else -> output 3

    Patterns are compiled once into byte tests that run over a whole batch
    at a time.  The configuration must connect exactly one output per
    pattern.

    Arguments:
      PATTERN (pattern, one per output)

    Handlers:
      program (read)   the compiled tests, one pattern per line
      drops (read)     packets that matched no pattern
    """
    PORTS = "1/-"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        texts = args.rest()
        args.finish()
        patterns = []
        for i, text in enumerate(texts):
            try:
                patterns.append(parse_pattern(text))
            except ArgumentError as e:
                raise ArgumentError(f"{args.where}: pattern {i} ({text.strip()!r}): {e}") from None
        self.patterns = patterns
        self._compiled = CompiledPatterns(patterns)
        self._matcher = self._matcher_pool = None
        self._decision = None
        self.drops = 0

    def port_spec(self):
        return f"1/{len(self.patterns)}"

    def push(self, port, batch):
        n_pat = len(self.patterns)
        if n_pat == 0:
            self.drops += len(batch.idx)
            batch.kill()
            return
        if _Matcher is None:
            ports = self._compiled.ports(batch.pool, batch.idx)
        else:
            pool = batch.pool
            if self._matcher_pool is not pool:
                prog, entry = self.decision_program()
                self._matcher = _Matcher(pool.data, pool.off, pool.length, pool.nh, prog, entry)
                self._matcher_pool = pool
            # One packet (an idle one) reuses a scratch array, read before any emit.
            out = _ONE_PORT if len(batch.idx) == 1 else np.empty(len(batch.idx), dtype=np.intp)
            self._matcher.first_match(batch.idx, out)
            p = out.item(0)
            if len(out) == 1 or (out == p).all():   # one verdict for all: no partition to make
                if p < n_pat:
                    self.emit(p, batch)
                else:
                    self.drops += len(out)
                    batch.kill()
                return
            ports = out
        parts = batch.partition(ports, n_pat + 1)
        unmatched = parts[n_pat]
        if len(unmatched.idx):
            self.drops += len(unmatched.idx)
            unmatched.kill()
        for p in range(n_pat):
            self.emit(p, parts[p])

    def decision_program(self) -> tuple[np.ndarray, int]:
        """The patterns' decision program and its entry (made once)."""
        if self._decision is None:
            self._decision = decision_program(self.patterns)
        return self._decision

    def fused_push(self, port, resolve):
        from vforward.elements.ip.fusedinput import fused_input
        return fused_input(self, port, resolve)

    def classify_reference(self, batch: Batch) -> list[int | None]:
        """Per packet, the output the reference matcher picks (None: dropped)."""
        return [match_reference(self.patterns, data) for data in batch.to_bytes()]

    @read_handler("program")
    def read_program(self):
        lines = []
        for port, clauses in enumerate(self.patterns):
            body = "-" if clauses is None else " ".join(c.text() for c in clauses)
            lines.append(f"{port}: {body}")
        return "\n".join(lines)

    @read_handler("drops")
    def read_drops(self):
        return self.drops
