"""The compiled FIB (cext/fib.pyx) against its plain-Python twin and pytricia."""
import importlib.util
import os

import numpy as np
import pytest
import pytricia
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.cext.fib import NO_ROUTE, Fib
from vforward.cext.fib_reference import FibReference


def ip(text):
    a, b, c, d = (int(x) for x in text.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def span(prefix, plen):
    return prefix, prefix + (1 << (32 - plen)) - 1


class Trio:
    """Fib, FibReference and pytricia driven in step."""

    def __init__(self):
        self.fib = Fib()
        self.ref = FibReference()
        self.pyt = pytricia.PyTricia(32)
        self.routes = {}

    def insert(self, prefix, plen, nh):
        prefix &= (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        self.fib.insert(prefix, plen, nh)
        self.ref.insert(prefix, plen, nh)
        self.pyt.insert(prefix, plen, nh)
        self.routes[prefix, plen] = nh

    def delete(self, prefix, plen):
        prefix &= (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF
        present = (prefix, plen) in self.routes
        assert self.fib.delete(prefix, plen) is present
        assert self.ref.delete(prefix, plen) is present
        if present:
            self.pyt.delete((prefix.to_bytes(4, "big"), plen))
            del self.routes[prefix, plen]

    def probes(self, extra=()):
        """Edges of every route, the addresses just outside, and `extra`."""
        out = set(extra) | {0, 0xFFFFFFFF}
        for p, l in self.routes:
            lo, hi = span(p, l)
            out.update(a for a in (lo, hi, lo - 1, hi + 1, (lo + hi) // 2) if 0 <= a <= 0xFFFFFFFF)
        return np.array(sorted(out), dtype=np.uint32)

    def check(self, extra=()):
        addrs = self.probes(extra)
        got = self.fib.lookup_batch(addrs)
        want = np.array([self.ref.lookup(a) for a in addrs.tolist()], dtype=np.uint16)
        pyt = np.array([NO_ROUTE if r is None else r for r in map(self.pyt.get, addrs.tolist())],
                       dtype=np.uint16)
        assert np.array_equal(want, pyt), "FibReference disagrees with pytricia"
        bad = np.flatnonzero(got != want)
        assert not len(bad), (f"{len(bad)} addresses differ, first {int(addrs[bad[0]]):#010x}: "
                              f"Fib {got[bad[0]]}, reference {want[bad[0]]}")
        for a in addrs[:: max(1, len(addrs) // 50)].tolist():
            assert self.fib.lookup(a) == self.ref.lookup(a)
        assert len(self.fib) == len(self.ref) == len(self.routes)


# Prefixes drawn from a few small regions so that routes nest, overlap and share
# /24 blocks (tbl8 groups) instead of landing far apart.
REGIONS = [ip("10.0.0.0"), ip("10.1.2.0"), ip("192.168.0.0"), ip("0.0.0.0"), ip("255.255.255.0")]


@st.composite
def routes(draw):
    base = draw(st.sampled_from(REGIONS))
    # /0 costs a pass over all of tbl24 (16M entries), so it comes up rarely
    plen = draw(st.one_of(st.sampled_from([8, 8, 8, 8, 8, 8, 8, 0]), st.integers(12, 32),
                          st.integers(20, 32), st.integers(23, 26)))
    # few distinct blocks at several scales: siblings and covers are common
    offset = draw(st.integers(0, 15)) << draw(st.sampled_from([4, 7, 8, 10, 12, 16]))
    nh = draw(st.integers(0, 0xFFFE))
    return (base ^ offset) & 0xFFFFFFFF, plen, nh


ops = st.lists(st.tuples(st.sampled_from(["insert", "insert", "delete", "delete", "check"]),
                         routes(), st.integers(0, 1 << 16)),
               min_size=20, max_size=100)


# 50 sequences of up to 100 operations, each checked at every step against the
# reference and pytricia: the slowest property of the file, so fewer examples.
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_churn_matches_reference_and_pytricia_at_every_step(seq):
    t = Trio()
    for op, (prefix, plen, nh), pick in seq:
        if op == "insert":
            t.insert(prefix, plen, nh)
        elif op == "delete":
            # mostly a route that exists, so that the delete does something
            if t.routes and pick % 8:
                prefix, plen = sorted(t.routes)[pick % len(t.routes)]
            t.delete(prefix, plen)
        else:
            t.check()
    t.check()
    assert sorted(t.fib.routes()) == sorted((p, l, n) for (p, l), n in t.routes.items())
    # take the routes out, covers first, checking after every delete: the
    # table must end empty with every tbl8 group freed
    probes = t.probes()
    for p, l in sorted(t.routes, key=lambda r: (r[1], r[0])):
        t.delete(p, l)
        want = [t.ref.lookup(a) for a in probes.tolist()]
        assert t.fib.lookup_batch(probes).tolist() == want
    assert t.fib.stats()["tbl8_groups_used"] == 0
    assert t.fib.lookup(ip("10.0.0.1")) == NO_ROUTE


@settings(max_examples=40, deadline=None)
@given(st.lists(routes(), min_size=0, max_size=80))
def test_load_answers_like_incremental_inserts(table):
    inc = Fib()
    for p, l, n in table:
        inc.insert(p, l, n)
    bulk = Fib()
    bulk.insert(ip("1.2.3.4"), 32, 7)      # load replaces what was there
    bulk.load(np.array([r[0] for r in table], dtype=np.uint32),
              np.array([r[1] for r in table], dtype=np.uint8),
              np.array([r[2] for r in table], dtype=np.uint16))
    assert len(bulk) == len(inc)
    assert sorted(bulk.routes()) == sorted(inc.routes())
    t = Trio()
    for p, l, n in table:
        t.insert(p, l, n)
    addrs = t.probes([ip("1.2.3.4")])
    assert np.array_equal(bulk.lookup_batch(addrs), inc.lookup_batch(addrs))
    assert bulk.stats()["tbl8_groups_used"] == inc.stats()["tbl8_groups_used"]
    # and a loaded table keeps working under churn
    for p, l, n in table[::2]:
        bulk.delete(p, l)
        inc.delete(p, l)
    assert np.array_equal(bulk.lookup_batch(addrs), inc.lookup_batch(addrs))


def test_default_route_and_no_route():
    fib = Fib()
    assert fib.lookup(0) == NO_ROUTE and fib.lookup(0xFFFFFFFF) == NO_ROUTE
    fib.insert(0, 0, 9)
    assert fib.lookup(0) == 9 and fib.lookup(0xFFFFFFFF) == 9
    fib.insert(ip("10.0.0.0"), 8, 1)
    assert fib.lookup(ip("10.200.0.1")) == 1 and fib.lookup(ip("11.0.0.0")) == 9
    assert fib.delete(0, 0)
    assert fib.lookup(ip("11.0.0.0")) == NO_ROUTE and fib.lookup(ip("10.0.0.0")) == 1
    assert fib.get(0, 0) is None


def test_host_routes_and_the_24_boundary():
    t = Trio()
    t.insert(ip("10.0.0.0"), 24, 1)
    t.insert(ip("10.0.0.255"), 32, 2)
    t.insert(ip("10.0.1.0"), 32, 3)
    t.insert(ip("10.0.0.128"), 25, 4)
    t.insert(ip("10.0.0.192"), 26, 5)
    t.check()
    assert t.fib.lookup(ip("10.0.0.255")) == 2
    assert t.fib.lookup(ip("10.0.0.254")) == 5
    assert t.fib.lookup(ip("10.0.0.191")) == 4
    assert t.fib.lookup(ip("10.0.0.127")) == 1
    assert t.fib.lookup(ip("10.0.1.0")) == 3 and t.fib.lookup(ip("10.0.1.1")) == NO_ROUTE
    assert t.fib.stats()["tbl8_groups_used"] == 2
    t.delete(ip("10.0.0.128"), 25)     # the /26 and /32 under it stay
    t.check()
    assert t.fib.lookup(ip("10.0.0.191")) == 1 and t.fib.lookup(ip("10.0.0.254")) == 5


def test_deleting_a_covering_prefix_keeps_more_specifics_and_restores_the_next_cover():
    t = Trio()
    t.insert(ip("10.0.0.0"), 8, 1)
    t.insert(ip("10.1.0.0"), 16, 2)
    t.insert(ip("10.1.2.0"), 24, 3)
    t.insert(ip("10.1.2.64"), 27, 4)
    t.insert(ip("10.1.0.0"), 20, 5)
    t.delete(ip("10.1.0.0"), 16)
    t.check()
    assert t.fib.lookup(ip("10.1.16.1")) == 1          # back to the /8
    assert t.fib.lookup(ip("10.1.0.1")) == 5           # the /20 under it untouched
    assert t.fib.lookup(ip("10.1.2.65")) == 4
    t.delete(ip("10.1.2.0"), 24)                       # under a /27: the /20 covers the rest
    t.check()
    assert t.fib.lookup(ip("10.1.2.1")) == 5 and t.fib.lookup(ip("10.1.2.65")) == 4
    t.delete(ip("10.0.0.0"), 8)
    t.delete(ip("10.1.0.0"), 20)
    t.check()
    assert t.fib.lookup(ip("10.1.2.1")) == NO_ROUTE and t.fib.lookup(ip("10.1.2.65")) == 4


def test_delete_finds_the_cover_when_the_sibling_block_is_routed_too():
    # the cover is usually read off the sibling block's entry; here the sibling's
    # first address is taken by a /16 and by a /24, so the route store is asked
    t = Trio()
    t.insert(ip("10.0.0.0"), 8, 1)
    t.insert(ip("10.0.0.0"), 16, 2)
    t.insert(ip("10.1.0.0"), 16, 3)
    t.insert(ip("10.2.0.0"), 24, 4)
    t.insert(ip("10.4.0.0"), 15, 5)
    t.delete(ip("10.1.0.0"), 16)
    assert t.fib.lookup(ip("10.1.0.1")) == 1
    t.delete(ip("10.2.0.0"), 15)                       # absent: nothing changes
    assert t.fib.lookup(ip("10.2.0.1")) == 4 and t.fib.lookup(ip("10.4.0.1")) == 5
    t.insert(ip("10.2.0.0"), 15, 6)
    t.delete(ip("10.2.0.0"), 15)
    assert t.fib.lookup(ip("10.3.0.1")) == 1 and t.fib.lookup(ip("10.2.0.1")) == 4
    t.insert(ip("10.0.0.129"), 32, 7)
    t.insert(ip("10.0.0.128"), 32, 8)
    t.delete(ip("10.0.0.129"), 32)
    assert t.fib.lookup(ip("10.0.0.129")) == 2
    t.check()


def test_replacing_a_next_hop_keeps_one_route():
    t = Trio()
    t.insert(ip("10.0.0.0"), 16, 1)
    t.insert(ip("10.0.5.0"), 25, 2)
    t.insert(ip("10.0.0.0"), 16, 3)
    t.insert(ip("10.0.5.0"), 25, 4)
    t.check()
    assert len(t.fib) == 2 and t.fib.get(ip("10.0.0.0"), 16) == 3
    t.delete(ip("10.0.5.0"), 25)
    assert t.fib.stats()["tbl8_groups_used"] == 0      # one /25 counted once
    t.check()


def test_tbl8_groups_are_freed_when_empty_and_reused():
    fib = Fib()
    fib.insert(ip("10.0.0.0"), 8, 1)
    for k in range(200):
        fib.insert(ip("10.0.0.0") + (k << 8) + 7, 32, k)
    s = fib.stats()
    assert s["tbl8_groups_used"] == 200
    allocated = s["tbl8_groups_allocated"]
    for k in range(200):
        assert fib.delete(ip("10.0.0.0") + (k << 8) + 7, 32)
    assert fib.stats()["tbl8_groups_used"] == 0
    assert all(fib.lookup(ip("10.0.0.0") + (k << 8) + 7) == 1 for k in range(200))
    for k in range(200):
        fib.insert(ip("10.50.0.0") + (k << 8), 28, k)
    assert fib.stats()["tbl8_groups_used"] == 200
    assert fib.stats()["tbl8_groups_allocated"] == allocated      # reused, not grown
    assert fib.lookup(ip("10.50.3.15")) == 3 and fib.lookup(ip("10.50.3.16")) == 1


def test_prefix_bits_past_the_length_are_ignored():
    fib = Fib()
    fib.insert(ip("10.1.2.3"), 16, 4)
    assert list(fib.routes()) == [(ip("10.1.0.0"), 16, 4)]
    assert fib.get(ip("10.1.99.99"), 16) == 4
    assert fib.delete(ip("10.1.255.255"), 16)
    assert len(fib) == 0


def test_delete_of_an_absent_route_is_false_and_changes_nothing():
    fib = Fib()
    fib.insert(ip("10.0.0.0"), 8, 1)
    assert fib.delete(ip("10.0.0.0"), 9) is False
    assert fib.delete(ip("11.0.0.0"), 8) is False
    assert fib.lookup(ip("10.0.0.1")) == 1 and len(fib) == 1


def test_routes_are_sorted_and_clear_empties_the_table():
    fib = Fib()
    for p, l, n in [(ip("10.1.0.0"), 16, 2), (ip("10.0.0.0"), 8, 1), (ip("10.1.0.0"), 24, 3),
                    (ip("9.0.0.0"), 8, 4)]:
        fib.insert(p, l, n)
    assert list(fib.routes()) == [(ip("9.0.0.0"), 8, 4), (ip("10.0.0.0"), 8, 1),
                                  (ip("10.1.0.0"), 16, 2), (ip("10.1.0.0"), 24, 3)]
    fib.insert(ip("10.1.0.5"), 32, 5)
    fib.clear()
    assert len(fib) == 0 and list(fib.routes()) == []
    assert fib.lookup(ip("10.1.0.5")) == NO_ROUTE and fib.lookup(ip("9.1.1.1")) == NO_ROUTE
    assert fib.stats()["tbl8_groups_used"] == 0
    fib.insert(ip("10.1.0.5"), 32, 6)
    assert fib.lookup(ip("10.1.0.5")) == 6


def test_many_routes_grow_the_hash_table_and_tbl8():
    rng = np.random.default_rng(5)
    p = rng.integers(0, 1 << 32, size=20000, dtype=np.uint32)
    l = rng.integers(8, 33, size=20000).astype(np.uint8)
    n = rng.integers(0, 0xFFFF, size=20000).astype(np.uint16)
    fib = Fib()
    for a, b, c in zip(p.tolist(), l.tolist(), n.tolist()):
        fib.insert(a, b, c)
    loaded = Fib()
    loaded.load(p, l, n)
    addrs = np.concatenate([p, p + 1, rng.integers(0, 1 << 32, size=20000, dtype=np.uint32)])
    assert np.array_equal(fib.lookup_batch(addrs), loaded.lookup_batch(addrs))
    pyt = pytricia.PyTricia(32)
    for a, b, c in zip(p.tolist(), l.tolist(), n.tolist()):
        pyt.insert(a, b, c)
    want = [NO_ROUTE if r is None else r for r in map(pyt.get, addrs.tolist())]
    assert fib.lookup_batch(addrs).tolist() == want
    for a, b in zip(p[::2].tolist(), l[::2].tolist()):
        fib.delete(a, b)
        pyt.delete((a.to_bytes(4, "big"), b)) if pyt.has_key((a.to_bytes(4, "big"), b)) else None
    want = [NO_ROUTE if r is None else r for r in map(pyt.get, addrs.tolist())]
    assert fib.lookup_batch(addrs).tolist() == want


def test_lookup_batch_with_and_without_out():
    fib = Fib()
    fib.insert(ip("10.0.0.0"), 8, 1)
    fib.insert(ip("10.0.0.1"), 32, 2)
    addrs = np.array([ip("10.0.0.1"), ip("10.0.0.2"), ip("11.0.0.0")], dtype=np.uint32)
    assert fib.lookup_batch(addrs).tolist() == [2, 1, NO_ROUTE]
    out = np.full(8, 77, dtype=np.uint16)
    res = fib.lookup_batch(addrs, out)
    assert res.tolist() == [2, 1, NO_ROUTE] and out[3:].tolist() == [77] * 5
    assert fib.lookup_batch(np.empty(0, dtype=np.uint32)).tolist() == []
    # other integer arrays and lists are converted (checked for range)
    assert fib.lookup_batch([ip("10.0.0.1"), 5]).tolist() == [2, NO_ROUTE]
    assert fib.lookup_batch(addrs.astype(np.int64)).tolist() == [2, 1, NO_ROUTE]
    assert fib.lookup_batch(addrs[::2]).tolist() == [2, NO_ROUTE]
    with pytest.raises(ValueError, match="out has 2 entries for 3"):
        fib.lookup_batch(addrs, np.empty(2, dtype=np.uint16))
    with pytest.raises(TypeError, match="uint16"):
        fib.lookup_batch(addrs, np.empty(3, dtype=np.int32))
    with pytest.raises(ValueError, match="out of range"):
        fib.lookup_batch(np.array([-1, 2]))


def test_lookup_indexed_reads_a_pool_column_through_a_batch():
    fib = Fib()
    fib.insert(ip("10.0.0.0"), 8, 1)
    fib.insert(ip("10.9.9.128"), 25, 2)
    dst = np.zeros(16, dtype=np.uint32)
    dst[3], dst[7], dst[11] = ip("10.1.1.1"), ip("10.9.9.200"), ip("12.0.0.1")
    idx = np.array([11, 3, 7, 3], dtype=np.uint32)
    out = np.zeros(6, dtype=np.uint16)
    fib.lookup_indexed(dst, idx, out)
    assert out.tolist() == [NO_ROUTE, 1, 2, 1, 0, 0]
    with pytest.raises(IndexError, match="idx"):
        fib.lookup_indexed(dst, np.array([1, 16], dtype=np.uint32), out)
    with pytest.raises(TypeError, match="uint32"):
        fib.lookup_indexed(dst, np.array([1], dtype=np.int64), out)
    with pytest.raises(ValueError, match="out has"):
        fib.lookup_indexed(dst, idx, np.zeros(2, dtype=np.uint16))


@pytest.mark.parametrize("cls", [Fib, FibReference])
def test_bad_input_raises_value_error_naming_the_fix(cls):
    fib = cls()
    with pytest.raises(ValueError, match="prefix length 33 is out of range"):
        fib.insert(ip("10.0.0.0"), 33, 1)
    with pytest.raises(ValueError, match="prefix length -1"):
        fib.delete(ip("10.0.0.0"), -1)
    with pytest.raises(ValueError, match="next hop 65535 is out of range"):
        fib.insert(ip("10.0.0.0"), 8, NO_ROUTE)
    with pytest.raises(ValueError, match="next hop -2"):
        fib.insert(ip("10.0.0.0"), 8, -2)
    with pytest.raises(ValueError, match="not an IPv4 address"):
        fib.insert(1 << 32, 8, 1)
    with pytest.raises(ValueError, match="not an IPv4 address"):
        fib.lookup(-1)
    with pytest.raises(ValueError, match=r"plens\[1\] = 40"):
        fib.load(np.array([1, 2], dtype=np.uint32), np.array([8, 40], dtype=np.uint8),
                 np.array([1, 1], dtype=np.uint16))
    with pytest.raises(ValueError, match=r"nhs\[0\] = 65535"):
        fib.load(np.array([1], dtype=np.uint32), np.array([8], dtype=np.uint8),
                 np.array([65535], dtype=np.uint16))
    with pytest.raises(ValueError, match="differ in length"):
        fib.load(np.array([1], dtype=np.uint32), np.array([8, 8], dtype=np.uint8),
                 np.array([1], dtype=np.uint16))
    assert len(fib) == 0


def _bench_module(name):
    path = os.path.join(os.path.dirname(__file__), "..", "..", "bench", name + ".py")
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_synthetic_table_text_round_trip_and_load():
    tab = _bench_module("internet_table")
    p, l, n = tab.internet_table(seed=3, scale=0.01)
    assert np.array_equal((p, l, n)[0], tab.internet_table(seed=3, scale=0.01)[0])   # deterministic
    p2, l2, n2 = tab.parse_table(tab.format_table(p, l, n))
    assert np.array_equal(p, p2) and np.array_equal(l, l2) and np.array_equal(n, n2)
    p3, l3, n3 = tab.parse_table(b"# a comment\n\n10.0.0.0/8 1\r\n 10.1.0.0/16   2 # two\n")
    assert p3.tolist() == [ip("10.0.0.0"), ip("10.1.0.0")] and l3.tolist() == [8, 16]
    with pytest.raises(ValueError, match="line 2"):
        tab.parse_table(b"10.0.0.0/8 1\n10.0.0/8 1\n")
    fib = Fib()
    fib.load(p, l, n)
    pyt = pytricia.PyTricia(32)
    for a, b, c in zip(p.tolist(), l.tolist(), n.tolist()):
        pyt.insert(a, b, c)
    size = (1 << (32 - l.astype(np.int64)))
    addrs = np.concatenate([p, (p.astype(np.int64) + size - 1).astype(np.uint32)])
    want = [NO_ROUTE if r is None else r for r in map(pyt.get, addrs.tolist())]
    assert fib.lookup_batch(addrs).tolist() == want
