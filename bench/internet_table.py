"""A deterministic synthetic full IPv4 Internet routing table, and its text form.

    prefixes, plens, nhs = internet_table(seed=1)          # ~950,000 routes
    write_table(path, prefixes, plens, nhs)                # "a.b.c.d/len nh" per line
    prefixes, plens, nhs = read_table(path)                # numpy parse, no loop per line

The length mix follows a real BGP table of the mid 2020s: /24 about 60%, /23
and /22 about 10% each, the rest spread over /8-/21 with /16, /19, /20 and /21
the big ones, and a few hundred /25-/32. Prefixes are placed in unicast space
(1/8-223/8 without 10/8 and 127/8); at each length a share of them are
more-specifics of shorter routes already placed (a provider's block split
into customer routes), the rest are fresh blocks, so covering and covered
routes mix as they do in a real table. Next hops are drawn from 0..65534 so
that a wrong answer is almost never a right-looking one.

Run as a script to write the text table:
    python bench/internet_table.py out.txt [--seed N]
"""
import argparse
import warnings

import numpy as np

# routes per prefix length: sums to 950,000
LENGTH_MIX = {
    8: 16, 9: 14, 10: 40, 11: 110, 12: 320, 13: 650, 14: 1250, 15: 2300,
    16: 13800, 17: 8500, 18: 17600, 19: 33000, 20: 52000, 21: 60000,
    22: 95000, 23: 95000, 24: 570000,
    25: 80, 26: 60, 27: 50, 28: 50, 29: 50, 30: 40, 31: 20, 32: 50,
}

# share of each length placed inside a shorter route already in the table
def _nested_share(plen):
    if plen <= 12:
        return 0.0
    if plen <= 16:
        return 0.25
    if plen <= 24:
        return 0.45
    return 0.8

_BOGON_FIRST_OCTETS = np.array([10, 127])


def _fresh(rng, n, plen):
    """n random prefixes of length plen in unicast space."""
    first = rng.integers(1, 224, size=n, dtype=np.uint32)
    bad = np.isin(first, _BOGON_FIRST_OCTETS)
    first[bad] = first[bad] + 1             # 10 -> 11, 127 -> 128
    rest = rng.integers(0, 1 << 24, size=n, dtype=np.uint32)
    addr = (first << 24) | rest
    return addr & _netmask(plen)


def _netmask(plen):
    return np.uint32((0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF)


def _inside(rng, n, plen, parent_prefixes, parent_lens):
    """n random prefixes of length plen, each inside a random parent."""
    pick = rng.integers(0, len(parent_prefixes), size=n)
    base = parent_prefixes[pick]
    width = (plen - parent_lens[pick]).astype(np.uint64)     # bits chosen below the parent
    sub = (rng.random(n) * (np.uint64(1) << width)).astype(np.uint64)
    return (base.astype(np.uint64) | (sub << np.uint64(32 - plen))).astype(np.uint32)


def internet_table(seed=1, scale=1.0):
    """(prefixes uint32, plens uint8, nhs uint16), sorted by prefix then length.

    `scale` shrinks or grows every length's count (tests use small tables).
    """
    rng = np.random.default_rng(seed)
    all_p, all_l = [], []
    for plen in sorted(LENGTH_MIX):
        want = max(1, int(round(LENGTH_MIX[plen] * scale)))
        placed = np.empty(0, dtype=np.uint32)
        if all_p:
            prev_p = np.concatenate(all_p)
            prev_l = np.concatenate(all_l)
            # parents no more than 8 bits shorter: a /24 splits a /16-/23
            ok = prev_l >= max(8, min(plen, 24) - 8) if plen <= 24 else prev_l >= 16
            parents_p, parents_l = prev_p[ok], prev_l[ok]
        else:
            parents_p = np.empty(0, dtype=np.uint32)
        while len(placed) < want:
            need = want - len(placed)
            n_in = int(need * _nested_share(plen)) if len(parents_p) else 0
            cand = [_fresh(rng, need - n_in + need // 8 + 1, plen)]
            if n_in:
                cand.append(_inside(rng, n_in, plen, parents_p, parents_l))
            cand = np.concatenate([placed] + cand)
            uniq, first = np.unique(cand, return_index=True)
            placed = cand[np.sort(first)]     # keep draw order, drop repeats
            placed = placed[:want]
        all_p.append(placed)
        all_l.append(np.full(len(placed), plen, dtype=np.uint8))
    prefixes = np.concatenate(all_p)
    plens = np.concatenate(all_l)
    nhs = rng.integers(0, 0xFFFF, size=len(prefixes), dtype=np.uint16)
    order = np.lexsort((plens, prefixes))
    return prefixes[order], plens[order], nhs[order]


def format_table(prefixes, plens, nhs):
    """The text form: one "a.b.c.d/len nh" line per route."""
    p = np.asarray(prefixes, dtype=np.uint32)
    lines = [f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}/{l} {n}\n"
             for a, l, n in zip(p.tolist(), np.asarray(plens).tolist(), np.asarray(nhs).tolist())]
    return "".join(lines).encode()


def write_table(path, prefixes, plens, nhs):
    with open(path, "wb") as f:
        f.write(format_table(prefixes, plens, nhs))


_FIELDS = 6                                  # a . b . c . d / len nh
_TO_SPACES = bytes.maketrans(b"./", b"  ")
_NOT_PUNCTUATION = b"0123456789 \t\r"
_LINE_PUNCTUATION = b".../\n"                # what is left of a line without them


def parse_table(data):
    """Parse "a.b.c.d/len nh" lines (bytes) with numpy: no Python loop per line.

    Returns (prefixes uint32, plens uint8, nhs uint16). A table as
    write_table makes it takes the fast path; anything else (blank lines,
    '#' comments, a mistake) goes line by line, and a mistake raises
    ValueError naming its line.
    """
    data = bytes(data)
    if data and not data.endswith(b"\n"):
        data += b"\n"
    n = data.count(b"/")
    if data.translate(None, _NOT_PUNCTUATION) != _LINE_PUNCTUATION * n:
        return _parse_lines(data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")       # a token that is not a number stops the parse
        try:
            values = np.fromstring(data.translate(_TO_SPACES), dtype=np.int64, sep=" ")
        except (DeprecationWarning, ValueError):
            return _parse_lines(data)
    if len(values) != _FIELDS * n:
        return _parse_lines(data)
    f = values.reshape(n, _FIELDS)
    if not (((f >= 0).all() and (f[:, :4] <= 255).all() and (f[:, 4] <= 32).all()
             and (f[:, 5] <= 0xFFFE).all())):
        return _parse_lines(data)
    prefixes = ((f[:, 0] << 24) | (f[:, 1] << 16) | (f[:, 2] << 8) | f[:, 3]).astype(np.uint32)
    return prefixes, f[:, 4].astype(np.uint8), f[:, 5].astype(np.uint16)


def _parse_lines(data):
    """The slow, forgiving path: one line at a time, errors name the line."""
    prefixes, plens, nhs = [], [], []
    for n, raw in enumerate(data.split(b"\n"), 1):
        line = raw.split(b"#", 1)[0].strip()
        if not line:
            continue
        try:
            net, nh = line.split()
            addr, plen = net.split(b"/")
            octets = [int(o) for o in addr.split(b".")]
            plen, nh = int(plen), int(nh)
            ok = (len(octets) == 4 and all(0 <= o <= 255 for o in octets)
                  and 0 <= plen <= 32 and 0 <= nh <= 0xFFFE)
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(f"route table line {n}: {raw.decode('ascii', 'replace')!r} is not "
                             f"'a.b.c.d/len nexthop' (octets 0..255, len 0..32, next hop 0..65534)")
        prefixes.append((octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3])
        plens.append(plen)
        nhs.append(nh)
    return (np.array(prefixes, dtype=np.uint32), np.array(plens, dtype=np.uint8),
            np.array(nhs, dtype=np.uint16))


def read_table(path):
    with open(path, "rb") as f:
        return parse_table(f.read())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    p, l, n = internet_table(args.seed)
    write_table(args.out, p, l, n)
    print(f"{len(p)} routes -> {args.out}")


if __name__ == "__main__":
    main()
