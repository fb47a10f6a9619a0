"""802.1Q tags: the TCI arguments Click's VLAN elements share, and inserting
or removing the 4-byte tag after a frame's two addresses."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, unsigned

from .ethernet import make_headroom

TPID_8021Q = 0x8100


def _bounded(text: str, hi: int, what: str) -> int:
    v = unsigned(text)
    if v > hi:
        raise ArgumentError(f"{what} must be at most {hi}, got {text!r}")
    return v


def tci_arguments(args, tci_optional: bool = False) -> tuple[int | None, int]:
    """VLAN_TCI (a number, or ANNO for the packet's annotation), VLAN_PCP and
    VLAN_ID as Click reads them; returns (tci or None for ANNO, native_vlan)."""
    word = args.positional("VLAN_TCI", str, default=None) if tci_optional else \
        args.mandatory("VLAN_TCI", str)
    pcp = args.positional("VLAN_PCP", lambda t: _bounded(t, 7, "VLAN_PCP"), default=0)
    vid = args.keyword("VLAN_ID", lambda t: _bounded(t, 0xFFF, "VLAN_ID"), default=0)
    native = args.keyword("NATIVE_VLAN", lambda t: -1 if t.strip() == "-1" else _bounded(t, 0xFFF, "NATIVE_VLAN"),
                          default=0)
    if word is not None and word.strip().upper() == "ANNO":
        return None, native
    tci = vid if word is None else _bounded(word, 0xFFFF, "VLAN_TCI")
    return tci | (pcp << 13), native


def insert_tag(pool, idx: np.ndarray, tpid: int, tci: np.ndarray) -> np.ndarray:
    """Insert TPID + TCI after the 12 address bytes of each frame of idx;
    returns the keep mask (False: no room in the slot)."""
    keep = make_headroom(pool, idx, 4)
    for i, slot in enumerate(idx.tolist()):
        if not keep[i]:
            continue
        off = int(pool.off[slot]) - 4
        d = pool.data[slot]
        d[off:off + 12] = d[off + 4:off + 16].copy()
        t = int(tci[i])
        d[off + 12:off + 16] = (tpid >> 8, tpid & 0xFF, t >> 8, t & 0xFF)
        pool.off[slot] = off
        pool.length[slot] += 4
    return keep


def tagged(pool, idx: np.ndarray, tpid: int) -> np.ndarray:
    """Which frames of idx carry a tag with this TPID."""
    out = np.zeros(len(idx), dtype=bool)
    for i, slot in enumerate(idx.tolist()):
        off, n = int(pool.off[slot]), int(pool.length[slot])
        if n >= 18:
            d = pool.data[slot]
            out[i] = (int(d[off + 12]) << 8 | int(d[off + 13])) == tpid
    return out


def remove_tag(pool, slot: int) -> int:
    """Take the tag out of one tagged frame; returns its TCI."""
    off = int(pool.off[slot])
    d = pool.data[slot]
    tci = int(d[off + 14]) << 8 | int(d[off + 15])
    d[off + 4:off + 16] = d[off:off + 12].copy()
    pool.off[slot] = off + 4
    pool.length[slot] -= 4
    return tci
