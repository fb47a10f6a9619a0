"""A deterministic synthetic IPv6 Internet routing table of about 200,000 routes.

    prefixes, plens, nhs = internet_table6(seed=1)   # (n, 16) uint8 rows, uint8, uint16

Where the mix comes from.  The IPv6 table seen from AS6447 (Route Views) in
October 2024 (bgp.potaroo.net/v6/as6447/) held 226,415 FIB entries, average
prefix length 43.2, 58% of them more-specifics of another entry; RIPE Labs'
"Visibility of prefix lengths in IPv4 and IPv6" (RIS data) shows /48 and /32
as the two big lengths, /48 the larger, then /44, /40, /36 and /29, with
almost nothing longer than /48 in the global table.  LENGTH_MIX below puts
those shapes together: for seed 1, 200,920 routes, mean length 42.9, 60%
of them nested (this module run as a script prints the mix).

Placement: prefixes sit in global unicast space under RIR /12 blocks; a
nested route lies inside a random shorter route already placed (a
provider's /29 or /32 split into customer /44s and /48s), a fresh one of
longer than /32 inside one of a few thousand unannounced assignment blocks
(/32s: PI /48s and small allocations come from such blocks, so they cluster
as they do in real tables), a fresh /29-/32 anywhere in the RIR blocks.
The few short routes (/16-/28) sit in blocks of their own (2001::/16,
2400::/12, 2600::/12), so that they cover only what is placed under them on
purpose.  Running this module prints the mix and the nested share (about
60%).  Next hops are drawn from 0..65534.
"""
import argparse

import numpy as np

LENGTH_MIX = {      # routes per prefix length, ~200,000 in all
    16: 20, 19: 60, 20: 200, 21: 150, 22: 250, 23: 300, 24: 700, 25: 300, 26: 400,
    27: 500, 28: 1400, 29: 7000, 30: 1400, 31: 1100, 32: 23000, 33: 1800, 34: 2000,
    35: 1400, 36: 6000, 37: 900, 38: 1300, 39: 1100, 40: 12000, 41: 1000, 42: 2600,
    43: 1200, 44: 18000, 45: 2400, 46: 4200, 47: 4000, 48: 103000, 52: 150, 56: 500,
    60: 100, 64: 450, 128: 40,
}
NESTED_SHARE = 0.51         # of routes longer than /29: inside a shorter route
SHORT_BLOCKS = [(0x2001, 16), (0x2400, 12), (0x2600, 12)]     # /16-/28 routes
RIR_BLOCKS = [(0x2800, 12), (0x2a00, 12), (0x2c00, 12)]        # everything else
N_ASSIGNMENT_BLOCKS = 4000


def _random_under(rng, hi, lo, plen, new_len):
    """A random new_len prefix under hi:lo/plen (Python ints, 64-bit halves)."""
    bits = int(rng.integers(0, 1 << 62)) << 66 | int(rng.integers(0, 1 << 62)) << 4 | \
        int(rng.integers(0, 16))
    addr = (hi << 64 | lo)
    keep = ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
    addr = (addr & keep) | (bits & ~keep & ((1 << 128) - 1))
    addr &= ((1 << 128) - 1) ^ ((1 << (128 - new_len)) - 1)
    return addr >> 64, addr & 0xFFFFFFFFFFFFFFFF


def internet_table6(seed=1):
    rng = np.random.default_rng(seed)
    blocks = []
    for _ in range(N_ASSIGNMENT_BLOCKS):
        top, tlen = RIR_BLOCKS[int(rng.integers(0, len(RIR_BLOCKS)))]
        blocks.append(_random_under(rng, top << 48, 0, tlen, 32))
    placed = {}                     # (hi, lo, plen) -> True, in order
    by_len = {}                     # plen -> list of (hi, lo)
    for plen in sorted(LENGTH_MIX):
        covers = [(h, l, pl) for pl in sorted(by_len) if pl < plen and pl <= 44
                  for h, l in by_len[pl]]
        want = LENGTH_MIX[plen]
        got = []
        while len(got) < want:
            if plen > 29 and covers and rng.random() < NESTED_SHARE:
                h, l, pl = covers[int(rng.integers(0, len(covers)))]
            elif plen > 32:
                h, l = blocks[int(rng.integers(0, len(blocks)))]
                pl = 32
            else:
                pool = SHORT_BLOCKS if plen <= 28 else RIR_BLOCKS
                top, pl = pool[int(rng.integers(0, len(pool)))]
                h, l = top << 48, 0
            key = _random_under(rng, h, l, pl, plen) + (plen,)
            if key not in placed:
                placed[key] = True
                got.append(key[:2])
        by_len[plen] = got
    keys = list(placed)
    n = len(keys)
    raw = b"".join(((h << 64) | l).to_bytes(16, "big") for h, l, _ in keys)
    prefixes = np.frombuffer(raw, dtype=np.uint8).reshape(n, 16).copy()
    plens = np.array([k[2] for k in keys], dtype=np.uint8)
    nhs = rng.integers(0, 0xFFFF, size=n, dtype=np.uint16)
    order = rng.permutation(n)
    return prefixes[order], plens[order], nhs[order]


def nested_share(prefixes, plens):
    """The share of routes that lie inside another route of the table."""
    ints = [int.from_bytes(r.tobytes(), "big") for r in prefixes]
    by_len = {}
    for a, n in zip(ints, plens.tolist()):
        by_len.setdefault(n, set()).add(a)
    lengths = sorted(by_len)
    top = (1 << 128) - 1
    nested = 0
    for a, n in zip(ints, plens.tolist()):
        for k in lengths:
            if k >= n:
                break
            if a & (top ^ ((1 << (128 - k)) - 1)) in by_len[k]:
                nested += 1
                break
    return nested / len(ints)


def main(argv=None):
    ap = argparse.ArgumentParser(description="Describe the synthetic IPv6 table.")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    p, l, _ = internet_table6(args.seed)
    print(f"{len(p)} routes, mean length {l.mean():.1f}, {100 * nested_share(p, l):.0f}% "
          "of them inside another route")
    for plen, k in sorted(zip(*np.unique(l, return_counts=True))):
        print(f"  /{plen}: {k} ({100 * k / len(l):.1f}%)")


if __name__ == "__main__":
    main()
