"""Plain-Python reference for cext/ip6forward.pyx: same name, same signature,
same results, byte for byte (the tests run both on copies of one pool).

One packet at a time and in two passes, as the kernel: first every packet
is checked and nothing is touched unless all pass; then each gets what the
route table (gateway, port annotation), DecIP6HLim (hop limit) and
IP6NDSolicitor (Ethernet header) would have given it.
"""
from __future__ import annotations

import bisect

IP6_HLEN = 40
ETHER_HLEN = 14


def _row(sorted_ips, sorted_rows, known, live, hop: bytes, fresh_after):
    """The neighbour table row of `hop` when its mapping may be used, else None."""
    keys = [bytes(k) for k in sorted_ips]
    at = bisect.bisect_left(keys, hop)
    if at == len(keys) or keys[at] != hop:
        return None
    row = int(sorted_rows[at])
    if row < 0 or row >= len(known) or not known[row] or live[row] < fresh_after:
        return None
    return row


def forward6_to_port(pool, idx, nhs, nh_port, nh_via, nh_gw, port, dec_hlim, max_length,
                     segments, sorted_ips, sorted_rows, known, live, mac, src_mac,
                     fresh_after) -> bool:
    """Forward the whole batch out of `port`, or touch nothing and return False
    (see the kernel's docstring for when a packet passes)."""
    n_rows, row_size = pool.data.shape
    if sorted_ips.dtype.itemsize != 16 or pool.dst_ip6.size != n_rows * 16:
        raise ValueError("forward6_to_port: sorted_ips must hold 16-byte keys and pool.dst_ip6 "
                         "16 bytes per slot")
    if len(nhs) < len(idx) or len(nh_via) < len(nh_port) or nh_gw.size < len(nh_port) * 2 \
            or len(sorted_rows) < len(sorted_ips) or len(live) < len(known) \
            or mac.size < len(known) * 6 or len(src_mac) != 6:
        raise ValueError("forward6_to_port: nhs shorter than the batch, or a table's columns "
                         "of different lengths, or src_mac not 6 bytes")
    for i, slot in enumerate(idx):
        if slot >= n_rows:
            raise IndexError(f"slot {slot} outside the pool of {n_rows}")
        if nhs[i] >= len(nh_port):
            raise IndexError(f"next hop {nhs[i]} outside the table of {len(nh_port)}")
    if len(idx) == 0:
        return False
    gws = nh_gw.reshape(-1).view("u1").reshape(-1, 16)
    rows = []
    for i, slot in enumerate(idx):
        slot, k = int(slot), int(nhs[i])
        if int(nh_port[k]) != port:
            return False
        o, length, h = int(pool.off[slot]), int(pool.length[slot]), int(pool.nh[slot])
        end = o + length
        if o < ETHER_HLEN or length + ETHER_HLEN > 0xFFFF or end > row_size or h < o \
                or h + IP6_HLEN > end:
            return False
        if length > max_length or (segments and pool.gso_size[slot]):
            return False
        if dec_hlim and pool.data[slot, h + 7] <= 1:
            return False
        hop = gws[k].tobytes() if nh_via[k] else pool.dst_ip6[slot].tobytes()
        row = _row(sorted_ips, sorted_rows, known, live, hop, fresh_after)
        if row is None:
            return False
        rows.append(row)
    mac = mac.reshape(-1, 6)
    for i, slot in enumerate(idx):
        slot, k = int(slot), int(nhs[i])
        if nh_via[k]:
            pool.dst_ip6[slot] = gws[k]
        pool.port[slot] = port
        if dec_hlim:
            pool.data[slot, int(pool.nh[slot]) + 7] -= 1
        o = int(pool.off[slot]) - ETHER_HLEN
        pool.off[slot] = o
        pool.length[slot] += ETHER_HLEN
        pool.data[slot, o:o + 6] = mac[rows[i]]
        pool.data[slot, o + 6:o + 12] = src_mac
        pool.data[slot, o + 12] = 0x86
        pool.data[slot, o + 13] = 0xDD
    return True
