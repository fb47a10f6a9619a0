"""Pattern trees compiled once into batch-wide matchers.

Two compiled forms of the same rules, which must agree with each other and
with the per-packet tree evaluator (ipfilter_reference.py) on every packet:

- `DecisionProgram`: the trees become one decision program, as in Click,
  run per packet by the Cython kernel cext/ipfilter.pyx (see
  cext/ipfilter_reference.py for its layout).  This is what IPFilter and
  IPClassifier use when the kernel is built: a packet costs only the few
  tests on its own path.
- `CompiledRules`: numpy boolean arrays over the whole batch, for when the
  extension is not built.

`compile_rules(trees)` picks the fastest one available.

`CompiledRules(trees)` looks at every tree once: it lists the distinct
header fields the leaves read, the bytes those fields need (as offsets from
the IP header or from the transport header) and the distinct tests.  On a
batch, `first_match(pool, idx)`:

1. reads each packet's IP header position (nh), end and IHL, and gathers
   every needed byte of every packet with one fancy index into the pool;
2. assembles each field's value and knows, per packet, whether the packet
   holds the field at all (a field past the packet's end never matches);
3. evaluates each distinct test once, as a boolean array over the batch,
   and each tree as boolean array operations on those;
4. gives each packet the number of the first tree it matches (len(trees)
   for none), by assigning rule numbers from the last rule to the first.

ipfilter_reference.py is the per-packet twin these arrays are tested against.
"""
from __future__ import annotations

import operator

import numpy as np

from vforward.elements.ip.ipfilter_language import (And, Compare, Const, Not, Or, Present,
                                                    all_of, any_of, leaves, negate)

from vforward import kernels

_kernel = kernels.load("ipfilter")

_UFUNCS = {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
           ">": np.greater, ">=": np.greater_equal}
_BASES = ("ip", "transp")


# -- simplification: tests decided by earlier ones on the same path ---------------

_OPS = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
        ">": operator.gt, ">=": operator.ge}


def simplify(node, facts=()):
    """The tree with each leaf test that earlier tests on its path decide replaced by
    its answer: in 'udp and dst port 53' the port primitive's own 'tcp or udp'
    is already known.  Facts are (leaf, truth) pairs known to hold."""
    if isinstance(node, (Compare, Present)):
        known = _implied(node, facts)
        return node if known is None else Const(known)
    if isinstance(node, Not):
        return negate(simplify(node.child, facts))
    if isinstance(node, (And, Or)):
        is_and = isinstance(node, And)
        facts, out = list(facts), []
        for child in node.children:
            s = simplify(child, facts)
            out.append(s)
            facts.extend(_facts(s, is_and))     # later siblings run only if this one was
        return all_of(*out) if is_and else any_of(*out)
    return node


def _facts(node, value: bool) -> list:
    """What node == value says about its leaves."""
    if isinstance(node, (Compare, Present)):
        return [(node, value)]
    if isinstance(node, Not):
        return _facts(node.child, not value)
    if isinstance(node, And) and value or isinstance(node, Or) and not value:
        return [f for c in node.children for f in _facts(c, value)]
    return []


def _implied(leaf, facts) -> bool | None:
    for known, value in facts:
        if known == leaf:
            return value
        if not value or not isinstance(known, Compare):
            continue
        if isinstance(leaf, Present):
            if known.field.base == leaf.base and known.field.end >= leaf.end:
                return True
        elif (known.op == "==" and known.field == leaf.field
              and leaf.mask & ~known.mask == 0):
            # (f & known.mask) == known.value fixes every bit leaf reads.
            return _OPS[leaf.op](known.value & leaf.mask, leaf.value)
    return None


class CompiledRules:
    """Trees (one per rule) turned into array code over whole batches."""

    def __init__(self, trees):
        self.trees = [simplify(t) for t in trees]
        tests: list = []
        for tree in self.trees:
            for leaf in leaves(tree):
                if leaf not in tests:
                    tests.append(leaf)
        self._tests = tests
        fields: list = []
        for t in tests:
            if isinstance(t, Compare) and t.field not in fields:
                fields.append(t.field)
        self._fields = fields
        # The gathered matrix has each field's bytes side by side, most significant
        # first, IP-header fields before transport-header ones, so that a field of
        # 1, 2 or 4 bytes is read with one big-endian view of its columns.
        ordered = sorted(fields, key=lambda f: f.base != "ip")
        offsets, plan, col = [], [None] * len(fields), 0
        for f in ordered:
            offsets.extend(range(f.offset, f.offset + f.size))
            plan[fields.index(f)] = (col, f.size, f.shift,
                                     None if f.full_mask == (1 << 8 * f.size) - 1 else f.full_mask)
            col += f.size
        self._field_plan = plan
        n_ip = sum(f.size for f in fields if f.base == "ip")
        self._ip_offsets = np.array(offsets[:n_ip], dtype=np.int64)
        self._transport_offsets = np.array(offsets[n_ip:], dtype=np.int64)
        self._need_transport = any(
            (isinstance(t, Compare) and t.field.base == "transp")
            or (isinstance(t, Present) and t.base == "transp") for t in tests)
        # Header extents the tests need, each compared once per batch.
        extents = []
        for t in tests:
            key = (_BASES.index(t.field.base), t.field.end) if isinstance(t, Compare) \
                else (_BASES.index(t.base), t.end)
            if key not in extents:
                extents.append(key)
        self._extents = extents
        test_plan = []
        for t in tests:
            if isinstance(t, Compare):
                f = t.field
                test_plan.append((fields.index(f), extents.index((_BASES.index(f.base), f.end)),
                                  None if t.mask == f.full_mask else t.mask,
                                  _UFUNCS[t.op], t.value))
            else:
                test_plan.append((None, extents.index((_BASES.index(t.base), t.end)), None,
                                  None, None))
        self._test_plan = test_plan
        self._rules = [self._compile(tree) for tree in self.trees]

    # -- compile time: tree -> closure over a per-batch evaluation ---------------
    def _compile(self, node):
        if isinstance(node, Const):
            value = node.value
            return lambda ev: value
        if isinstance(node, (Compare, Present)):
            i = self._tests.index(node)
            return lambda ev: ev.test(i)
        if isinstance(node, Not):
            child = self._compile(node.child)
            return lambda ev: ~child(ev)
        parts = [self._compile(c) for c in node.children]
        first, rest = parts[0], parts[1:]
        if isinstance(node, And):
            def conj(ev):
                r = first(ev) & rest[0](ev)
                for p in rest[1:]:
                    r &= p(ev)
                return r
            return conj
        if isinstance(node, Or):
            def disj(ev):
                r = first(ev) | rest[0](ev)
                for p in rest[1:]:
                    r |= p(ev)
                return r
            return disj
        raise TypeError(f"not a pattern tree node: {node!r}")

    # -- run time -------------------------------------------------------------
    def first_match(self, pool, idx: np.ndarray) -> np.ndarray:
        """Per packet: the number of the first rule it matches, or len(trees)."""
        n_rules = len(self._rules)
        out = np.full(len(idx), n_rules, dtype=np.intp)
        if len(idx) == 0 or n_rules == 0:
            return out
        ev = _Evaluation(self, pool, idx)
        for r in range(n_rules - 1, -1, -1):
            m = self._rules[r](ev)
            if m is True:
                out[:] = r
            elif m is not False:
                out[m] = r
        return out


class _Evaluation:
    """One batch under evaluation: gathered bytes, field values, header extents
    and test results, each computed at most once."""

    __slots__ = ("rules", "have", "gathered", "values", "extents", "results")

    def __init__(self, rules: CompiledRules, pool, idx: np.ndarray):
        self.rules = rules
        size = pool.slot_size
        flat = pool.data.reshape(-1)
        idx = idx.astype(np.intp)                 # fancy indexing is much faster with intp
        row = idx * size
        nh = pool.nh[idx].astype(np.int64)
        start = pool.off[idx].astype(np.int64)
        end = start + pool.length[idx]
        have_ip = end - nh                        # bytes from the IP header to the end
        # No trustworthy IP bytes when nh is before the packet or it runs past its slot.
        have_ip[(nh < start) | (end > size)] = 0
        have = [have_ip]
        blocks = [nh[:, None] + rules._ip_offsets] if len(rules._ip_offsets) else []
        if rules._need_transport:
            ihl = flat[row + np.minimum(nh, size - 1)] & 0x0F
            tstart = ihl.astype(np.int64)
            tstart <<= 2
            tstart += nh
            # No IP header byte: no IHL, so no transport header either.
            have_t = end - tstart
            have_t[have_ip < 1] = -1
            have.append(have_t)
            if len(rules._transport_offsets):
                blocks.append(tstart[:, None] + rules._transport_offsets)
        self.have = have
        if blocks:
            pos = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
            np.minimum(pos, size - 1, out=pos)   # past the slot: the field is not there anyway
            pos += row[:, None]
            self.gathered = flat[pos]
        else:
            self.gathered = None
        self.values = [None] * len(rules._fields)
        self.extents = [None] * len(rules._extents)
        self.results = [None] * len(rules._test_plan)

    def value(self, f: int) -> np.ndarray:
        v = self.values[f]
        if v is None:
            col, nbytes, shift, width = self.rules._field_plan[f]
            g = self.gathered
            if nbytes == 1:
                v = g[:, col].astype(np.uint32)
            elif nbytes == 2:
                v = g[:, col:col + 2].view(">u2")[:, 0].astype(np.uint32)
            elif nbytes == 4:
                v = g[:, col:col + 4].view(">u4")[:, 0].astype(np.uint32)
            else:
                v = g[:, col].astype(np.uint32)
                for c in range(col + 1, col + nbytes):
                    v <<= 8
                    v |= g[:, c]
            if shift:
                v >>= shift
            if width is not None:
                v &= width
            self.values[f] = v
        return v

    def extent(self, e: int) -> np.ndarray:
        r = self.extents[e]
        if r is None:
            base, need = self.rules._extents[e]
            r = self.extents[e] = self.have[base] >= need
        return r

    def test(self, i: int) -> np.ndarray:
        r = self.results[i]
        if r is None:
            f, e, mask, ufunc, value = self.rules._test_plan[i]
            if f is None:
                r = self.extent(e)
            else:
                v = self.value(f)
                if mask is not None:
                    v = v & mask
                r = ufunc(v, value)
                r &= self.extent(e)
            self.results[i] = r
        return r


# -- the decision program ------------------------------------------------------

_OP_CODES = {"==": 0, "!=": 1, "<": 2, "<=": 3, ">": 4, ">=": 5}


def decision_program(trees) -> tuple[np.ndarray, int]:
    """(program, entry) for the kernel: each leaf test becomes an instruction
    with a yes and a no jump; 'and', 'or' and 'not' become only jumps.  Rule
    r's yes ends the run with -1 - r, its no goes on to rule r + 1."""
    rows: list = []

    def leaf(node, yes, no) -> int:
        if isinstance(node, Present):
            rows.append((1, _BASES.index(node.base), 0, 1, 0, 0, 0, 0, 0, node.end, yes, no))
        else:
            f = node.field
            rows.append((0, _BASES.index(f.base), f.offset, f.size, f.shift, f.full_mask,
                         node.mask, _OP_CODES[node.op], node.value, f.end, yes, no))
        return len(rows) - 1

    def branch(node, yes: int, no: int) -> int:
        """The entry of code that goes to yes when node holds and to no otherwise."""
        if isinstance(node, Const):
            return yes if node.value else no
        if isinstance(node, (Compare, Present)):
            return leaf(node, yes, no)
        if isinstance(node, Not):
            return branch(node.child, no, yes)
        target = yes if isinstance(node, And) else no
        for child in reversed(node.children):
            target = branch(child, target, no) if isinstance(node, And) \
                else branch(child, yes, target)
        return target

    entry = -1 - len(trees)
    for r in range(len(trees) - 1, -1, -1):
        entry = branch(trees[r], -1 - r, entry)
    program = np.array(rows, dtype=np.int64).reshape(len(rows), 12)
    return program, entry


class DecisionProgram:
    """The rules as one decision program, run per packet by a kernel."""

    def __init__(self, trees, kernel=None):
        self.trees = [simplify(t) for t in trees]
        self.program, self.entry = decision_program(self.trees)
        self._kernel = kernel or _kernel
        self._pool = self._matcher = None

    def first_match(self, pool, idx: np.ndarray) -> np.ndarray:
        """Per packet: the number of the first rule it matches, or len(trees)."""
        if pool is not self._pool:          # the kernel holds the pool's arrays once
            self._matcher = self._kernel.Matcher(pool.data, pool.off, pool.length, pool.nh,
                                                 self.program, self.entry)
            self._pool = pool
        out = np.empty(len(idx), dtype=np.intp)
        self._matcher.first_match(np.ascontiguousarray(idx, dtype=np.uint32), out)
        return out


def compile_rules(trees):
    """The kernel's decision program; numpy arrays when _kernel is set aside (a test of
    the numpy twin)."""
    return DecisionProgram(trees) if _kernel is not None else CompiledRules(trees)
