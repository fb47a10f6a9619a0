"""The compiled IPv6 FIB (cext/fib6.pyx, a poptrie) against its plain-Python twin and pytricia."""
import ipaddress

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.cext.fib6 import NO_ROUTE, Fib6
from vforward.cext.fib6_reference import Fib6Reference, netmask6

pytricia = pytest.importorskip("pytricia")

TOP = (1 << 128) - 1


def ip6(text):
    return int(ipaddress.IPv6Address(text))


def rows(addrs):
    """(n, 16) uint8 network-order rows of int addresses."""
    return np.frombuffer(b"".join(a.to_bytes(16, "big") for a in addrs),
                         dtype=np.uint8).reshape(-1, 16).copy()


class Trio:
    """Fib6, Fib6Reference and pytricia driven in step."""

    def __init__(self):
        self.fib = Fib6()
        self.ref = Fib6Reference()
        self.pyt = pytricia.PyTricia(128)
        self.routes = {}

    def _text(self, prefix, plen):
        return f"{ipaddress.IPv6Address(prefix)}/{plen}"

    def insert(self, prefix, plen, nh):
        prefix &= netmask6(plen)
        self.fib.insert(prefix, plen, nh)
        self.ref.insert(prefix, plen, nh)
        self.pyt.insert(self._text(prefix, plen), nh)
        self.routes[prefix, plen] = nh

    def delete(self, prefix, plen):
        prefix &= netmask6(plen)
        present = (prefix, plen) in self.routes
        assert self.fib.delete(prefix, plen) is present
        assert self.ref.delete(prefix, plen) is present
        if present:
            self.pyt.delete(self._text(prefix, plen))
            del self.routes[prefix, plen]

    def probes(self, extra=()):
        """Edges of every route, the addresses just outside, and `extra`."""
        out = set(extra) | {0, TOP}
        for p, l in self.routes:
            lo, hi = p, p + (1 << (128 - l)) - 1
            out.update(a for a in (lo, hi, lo - 1, hi + 1, (lo + hi) // 2) if 0 <= a <= TOP)
        return sorted(out)

    def check(self, extra=()):
        addrs = self.probes(extra)
        got = self.fib.lookup_batch(rows(addrs))
        want = [self.ref.lookup(a) for a in addrs]
        pyt = [NO_ROUTE if r is None else r
               for r in (self.pyt.get(str(ipaddress.IPv6Address(a))) for a in addrs)]
        assert want == pyt, "Fib6Reference disagrees with pytricia"
        bad = [i for i in range(len(addrs)) if got[i] != want[i]]
        assert not bad, (f"{len(bad)} addresses differ, first {ipaddress.IPv6Address(addrs[bad[0]])}: "
                         f"Fib6 {got[bad[0]]}, reference {want[bad[0]]}")
        for a in addrs[:: max(1, len(addrs) // 40)]:
            assert self.fib.lookup(a) == self.ref.lookup(a)
        assert len(self.fib) == len(self.ref) == len(self.routes)


# A few regions so that routes nest, overlap and share poptrie nodes; lengths
# cluster around the stride edges (20 + 6k) and the 64-bit word boundary.
REGIONS = [ip6("2001:db8::"), ip6("2001:db8:ab00::"), ip6("2a00::"), ip6("::"),
           ip6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00")]


@st.composite
def routes(draw):
    base = draw(st.sampled_from(REGIONS))
    plen = draw(st.one_of(st.sampled_from([32, 48, 48, 44, 40, 29, 36, 64, 56, 128]),
                          st.integers(0, 128), st.integers(17, 27), st.integers(60, 70),
                          st.sampled_from([1, 2, 8, 12, 16, 19, 20, 21])))
    offset = draw(st.integers(0, 15)) << draw(st.sampled_from([0, 5, 20, 60, 64, 66, 80, 90, 100, 104]))
    nh = draw(st.integers(0, 0xFFFE))
    return (base ^ offset) & TOP, plen, nh


ops = st.lists(st.tuples(st.sampled_from(["insert", "insert", "delete", "delete", "check"]),
                         routes(), st.integers(0, 1 << 16)),
               min_size=20, max_size=80)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops)
def test_random_churn_matches_reference_and_pytricia_at_every_step(seq):
    t = Trio()
    for op, (prefix, plen, nh), pick in seq:
        if op == "insert":
            t.insert(prefix, plen, nh)
        elif op == "delete":
            if t.routes and pick % 8:   # mostly a route that exists
                prefix, plen = sorted(t.routes)[pick % len(t.routes)]
            t.delete(prefix, plen)
        else:
            t.check()
    t.check()
    assert list(t.fib.routes()) == sorted((p, l, n) for (p, l), n in t.routes.items())
    # take the routes out, covers first, checking after every delete
    probes = t.probes()
    for p, l in sorted(t.routes, key=lambda r: (r[1], r[0])):
        t.delete(p, l)
        assert t.fib.lookup_batch(rows(probes)).tolist() == [t.ref.lookup(a) for a in probes]
    assert len(t.fib) == 0 and t.fib.lookup(ip6("2001:db8::1")) == NO_ROUTE


@settings(max_examples=40, deadline=None)
@given(st.lists(routes(), min_size=0, max_size=60))
def test_load_answers_like_incremental_inserts(table):
    inc = Fib6()
    for p, l, n in table:
        inc.insert(p, l, n)
    bulk = Fib6()
    bulk.insert(ip6("2001:db8::1"), 128, 7)       # load replaces what was there
    bulk.load(rows([p for p, _, _ in table]), np.array([r[1] for r in table], dtype=np.uint8),
              np.array([r[2] for r in table], dtype=np.uint16))
    assert len(bulk) == len(inc)
    assert list(bulk.routes()) == list(inc.routes())
    t = Trio()
    for p, l, n in table:
        t.insert(p, l, n)
    addrs = rows(t.probes([ip6("2001:db8::1")]))
    assert np.array_equal(bulk.lookup_batch(addrs), inc.lookup_batch(addrs))
    for p, l, n in table[::2]:                   # a loaded table keeps working under churn
        bulk.delete(p, l)
        inc.delete(p, l)
    assert np.array_equal(bulk.lookup_batch(addrs), inc.lookup_batch(addrs))


def test_more_specifics_survive_deleting_their_cover_and_the_next_cover_returns():
    t = Trio()
    t.insert(ip6("2001:db8::"), 32, 1)
    t.insert(ip6("2001:db8:1::"), 48, 2)
    t.insert(ip6("2001:db8:1:2::"), 64, 3)
    t.insert(ip6("2001:db8:1:2::1"), 128, 4)
    t.insert(ip6("2001:db8::"), 44, 5)
    t.check()
    assert t.fib.lookup(ip6("2001:db8:1:2::1")) == 4
    assert t.fib.lookup(ip6("2001:db8:1:2::2")) == 3
    assert t.fib.lookup(ip6("2001:db8:1:3::")) == 2
    assert t.fib.lookup(ip6("2001:db8:0:1::")) == 5
    t.delete(ip6("2001:db8:1::"), 48)
    t.check()
    assert t.fib.lookup(ip6("2001:db8:1:3::")) == 5     # the /44 covers it now
    assert t.fib.lookup(ip6("2001:db8:1:2::9")) == 3
    t.delete(ip6("2001:db8::"), 32)
    t.delete(ip6("2001:db8::"), 44)
    t.check()
    assert t.fib.lookup(ip6("2001:db8:1:3::")) == NO_ROUTE
    assert t.fib.lookup(ip6("2001:db8:1:2::1")) == 4


def test_default_route_and_short_prefixes_above_the_direct_table():
    t = Trio()
    t.insert(0, 0, 9)
    t.insert(ip6("2000::"), 3, 1)
    t.insert(ip6("2001:db8::"), 32, 2)
    t.insert(ip6("2001::"), 16, 3)
    t.check()
    assert t.fib.lookup(ip6("2001:db8::1")) == 2
    assert t.fib.lookup(ip6("2001:1::1")) == 3
    assert t.fib.lookup(ip6("3fff::")) == 1 and t.fib.lookup(ip6("fe80::1")) == 9
    t.delete(ip6("2001::"), 16)
    t.delete(0, 0)
    t.check()
    assert t.fib.lookup(ip6("fe80::1")) == NO_ROUTE and t.fib.lookup(ip6("2001:1::1")) == 1


def test_replacing_a_next_hop_and_get():
    fib = Fib6()
    fib.insert(ip6("2001:db8::"), 32, 1)
    fib.insert(ip6("2001:db8::"), 32, 2)
    assert len(fib) == 1 and fib.get(ip6("2001:db8::"), 32) == 2
    assert fib.get(ip6("2001:db8::"), 33) is None
    assert fib.lookup(bytes.fromhex("20010db8" + "00" * 11 + "01")) == 2


def test_indexed_lookup_reads_rows_through_the_index():
    fib = Fib6()
    fib.insert(ip6("2001:db8::"), 32, 1)
    fib.insert(ip6("2001:db8:1::"), 48, 2)
    col = rows([ip6("::1"), ip6("2001:db8::5"), ip6("2001:db8:1::5")])
    out = np.empty(4, dtype=np.uint16)
    fib.lookup_indexed(col, np.array([2, 1, 0, 2], dtype=np.uint32), out)
    assert out.tolist() == [2, 1, NO_ROUTE, 2]
    with pytest.raises(IndexError, match="idx\\[0\\] = 3 is past the end"):
        fib.lookup_indexed(col, np.array([3], dtype=np.uint32), out)


@pytest.mark.parametrize("call, message", [
    (lambda f: f.insert(0, 129, 1), "IPv6 prefix length is 0..128"),
    (lambda f: f.insert(0, 48, 0xFFFF), "next hops are 0..65534"),
    (lambda f: f.insert(1 << 128, 48, 1), "is not an IPv6 address"),
    (lambda f: f.insert(b"\x20\x01", 48, 1), "is 2 bytes"),
    (lambda f: f.lookup_batch(np.zeros((3, 4), dtype=np.uint8)), r"\(n, 16\) uint8"),
    (lambda f: f.load(np.zeros((1, 16), dtype=np.uint8), [200], [1]), r"plens\[0\] = 200"),
])
def test_bad_input_is_named_in_the_error(call, message):
    fib = Fib6()
    with pytest.raises((ValueError, TypeError), match=message):
        call(fib)
    ref = Fib6Reference()
    with pytest.raises((ValueError, TypeError), match=message):
        call(ref)


@st.composite
def nested_table(draw):
    """Routes nested inside one another (each a random extension of an earlier
    one, or of 2001:db8::/32), with /0, host routes and lengths around the
    poptrie's stride edges."""
    table = [(ip6("2001:db8::"), 32, draw(st.integers(0, 0xFFFE)))]
    for _ in range(draw(st.integers(5, 40))):
        p, l, _ = table[draw(st.integers(0, len(table) - 1))]
        nl = draw(st.sampled_from([l + 1, l + 4, l + 6, l + 12, l + 16, 44, 48, 56, 64, 128,
                                   l, 0]))
        nl = min(max(nl, 0), 128)
        bits = draw(st.integers(0, (1 << 128) - 1)) & (TOP >> l if l else TOP)
        table.append(((p | bits) & netmask6(nl), nl, draw(st.integers(0, 0xFFFE))))
    return table


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_table(), st.randoms(use_true_random=False))
def test_loaded_table_answers_like_the_reference_while_routes_are_withdrawn_and_announced_again(
        table, rnd):
    t = Trio()
    for p, l, n in table:
        t.insert(p, l, n)
    t.fib.load(rows([p for p, _, _ in table]), np.array([r[1] for r in table], dtype=np.uint8),
               np.array([r[2] for r in table], dtype=np.uint16))
    t.check()
    routes = sorted(t.routes)
    rnd.shuffle(routes)
    gone = routes[: len(routes) // 2 + 1]
    for p, l in gone:               # withdraw, covers and more-specifics in random order
        t.delete(p, l)
    t.check()
    rnd.shuffle(gone)
    for p, l in gone:               # announce again, with new next hops
        t.insert(p, l, rnd.randrange(0, 0xFFFF))
    t.check()
    for p, l in gone[::3]:          # and once more, interleaved with other changes
        t.delete(p, l)
        t.insert(p, l, 7)
        t.insert(p, l, 8)           # a next hop replaced in place
    t.check()


# The lengths where the layout changes: /0 and /1, the per-/16 table of short
# routes and the /26 direct table (16, 17, 26, 27), the first node (27..32), the
# groups of four nodes chosen by two bits (33, 34; 41, 42; ... 121, 122), the
# 64-bit word boundary (63, 64, 65), the last node (122..127) and host routes.
EDGE_LENGTHS = [0, 1, 2, 15, 16, 17, 25, 26, 27, 31, 32, 33, 34, 35, 39, 40, 41, 42, 47, 48,
                49, 50, 63, 64, 65, 113, 114, 121, 122, 123, 126, 127, 128]


@st.composite
def edge_routes(draw):
    """A route of an edge length near one of a few bases (one bit flipped at or
    around an edge), so that routes share nodes, groups and direct entries."""
    base = draw(st.sampled_from([ip6("2001:db8::"), ip6("2001:db8:0:1::"), ip6("::"),
                                 ip6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ff00")]))
    flip = draw(st.sampled_from([None] + EDGE_LENGTHS[1:]))
    if flip is not None:
        base ^= 1 << (128 - flip)
    return base, draw(st.sampled_from(EDGE_LENGTHS)), draw(st.integers(0, 0xFFFE))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["insert", "insert", "delete", "check"]),
                          edge_routes(), st.integers(0, 1 << 16)), min_size=10, max_size=60))
def test_edge_lengths_under_churn_match_reference_and_pytricia_at_every_check(seq):
    t = Trio()
    for op, (prefix, plen, nh), pick in seq:
        if op == "insert":
            t.insert(prefix, plen, nh)
        elif op == "delete":
            if t.routes and pick % 4:
                prefix, plen = sorted(t.routes)[pick % len(t.routes)]
            t.delete(prefix, plen)
        else:
            t.check()
    t.check()
    for p, l in sorted(t.routes, key=lambda r: -r[1]):      # longest first this time
        t.delete(p, l)
    t.check()
    assert len(t.fib) == 0


def test_short_routes_take_no_block_and_answer_again_once_the_longer_ones_are_gone():
    t = Trio()
    t.insert(0, 0, 1)
    t.insert(ip6("2000::"), 3, 2)
    t.insert(ip6("2001::"), 16, 3)
    assert t.fib.memory()["direct"] == 0         # all three answer from the per-/16 table
    t.insert(ip6("2001:db8::"), 20, 4)           # a /20 gives 2001::/16 a block
    t.insert(ip6("2001:db8:1::"), 48, 5)
    assert t.fib.memory()["direct"] > 0
    t.check()
    t.delete(ip6("2001:db8::"), 20)
    t.delete(ip6("2001:db8:1::"), 48)
    t.check()
    assert t.fib.lookup(ip6("2001:db8:1::1")) == 3
    t.delete(ip6("2001::"), 16)
    t.delete(ip6("2000::"), 3)
    t.check()
    assert t.fib.lookup(ip6("2001:db8:1::1")) == 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nested_table(), st.randoms(use_true_random=False))
def test_insert_many_and_delete_many_equal_the_same_calls_one_by_one(table, rnd):
    t = Trio()
    for p, l, n in table[: len(table) // 2]:
        t.insert(p, l, n)
    batch = Fib6()
    ref = Fib6Reference()
    for fib in (batch, ref):
        fib.load(rows([p for p, _, _ in table[: len(table) // 2]]),
                 [r[1] for r in table[: len(table) // 2]], [r[2] for r in table[: len(table) // 2]])
    # more routes, some twice (the later wins), then withdrawals, some twice or absent
    more = table[len(table) // 2:] + [(p, l, (n + 1) % 0xFFFF) for p, l, n in table[::3]]
    gone = [(p, l) for p, l, _ in rnd.sample(table, len(table) // 2)]
    gone += gone[:2] + [(ip6("2001:db8:ffff::"), 48)]
    for fib in (batch, ref):
        fib.insert_many(rows([p for p, _, _ in more]), np.array([r[1] for r in more]),
                        np.array([r[2] for r in more]))
    for p, l, n in more:
        t.insert(p, l, n)
    t.check()
    addrs = rows(t.probes())
    assert np.array_equal(batch.lookup_batch(addrs), t.fib.lookup_batch(addrs))
    found = [batch.delete_many(rows([p for p, _ in gone]), [l for _, l in gone]),
             ref.delete_many(rows([p for p, _ in gone]), [l for _, l in gone])]
    one_by_one = 0
    for p, l in gone:
        present = ((p & netmask6(l)), l) in t.routes
        t.delete(p, l)
        one_by_one += present
    assert found == [one_by_one, one_by_one]
    t.check()
    assert np.array_equal(batch.lookup_batch(addrs), t.fib.lookup_batch(addrs))
    assert np.array_equal(ref.lookup_batch(addrs), t.fib.lookup_batch(addrs))
    assert list(batch.routes()) == list(t.fib.routes())


@pytest.mark.parametrize("call, message", [
    (lambda f: f.insert_many(np.zeros((2, 16), np.uint8), [48, 129], [1, 1]),
     r"plens\[1\] = 129 is out of range"),
    (lambda f: f.insert_many(np.zeros((2, 16), np.uint8), [48, 48], [1, 65535]),
     r"nhs\[1\] = 65535 is out of range"),
    (lambda f: f.insert_many(np.zeros((2, 16), np.uint8), [48], [1, 2]), "differ in length"),
    (lambda f: f.delete_many(np.zeros((2, 8), np.uint8), [48, 48]), r"\(n, 16\) uint8"),
])
def test_a_bad_batch_is_named_in_the_error_and_changes_nothing(call, message):
    for fib in (Fib6(), Fib6Reference()):
        fib.insert(ip6("2001:db8::"), 32, 1)
        with pytest.raises((ValueError, TypeError), match=message):
            call(fib)
        assert list(fib.routes()) == [(ip6("2001:db8::"), 32, 1)]


@pytest.mark.parametrize("nh", [1, 2, 3, 4, 9])
def test_a_new_next_hop_for_a_slot_route_equal_to_its_neighbours_or_not_answers_like_the_reference(nh):
    # /48s fill one slot of their /42 node: a new next hop is written in place
    # unless it would join the leaf run of a neighbour (1 below, 3 above, 2 the cover)
    t = Trio()
    t.insert(ip6("2001:db8::"), 32, 2)
    t.insert(ip6("2001:db8:4::"), 48, 1)
    t.insert(ip6("2001:db8:5::"), 48, 4)
    t.insert(ip6("2001:db8:6::"), 48, 3)
    t.insert(ip6("2001:db8:20::"), 48, 5)
    t.insert(ip6("2001:db8:21::"), 56, 6)       # a slot with a child group
    t.insert(ip6("2001:db8:22::"), 48, 7)
    t.check()
    for prefix in ("2001:db8:5::", "2001:db8:20::", "2001:db8:22::", "2001:db8:4::"):
        t.insert(ip6(prefix), 48, nh)
        t.check()
        t.insert(ip6(prefix), 48, (nh + 5) % 11)
        t.check()
    t.insert(ip6("2001:db8::"), 32, nh)         # a cover whose value the neighbours have
    t.check()
