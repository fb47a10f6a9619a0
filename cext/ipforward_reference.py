"""Plain-Python reference for cext/ipforward.pyx: same name, same signature,
same results, byte for byte (the tests run both on copies of one pool).

One packet at a time and in two passes, as the kernel: first every packet
is checked and nothing is touched unless all pass; then each gets what
the route table (gateway, port annotation), DecIPTTL (TTL and checksum,
RFC 1624) and ARPQuerier (Ethernet header) would have given it.
"""
from __future__ import annotations

import bisect

from vforward.cext.ipheader_reference import incremental_checksum_update

IP_MIN_HLEN = 20
ETHER_HLEN = 14
GSO_UDP_L4 = 5


def _row(sorted_ips, sorted_rows, known, live, hop, fresh_after, poll_after):
    """The ARP table row of `hop` when its mapping may be used as it is, else None."""
    keys = [int(k) for k in sorted_ips]
    at = bisect.bisect_left(keys, hop)
    if at == len(keys) or keys[at] != hop:
        return None
    row = int(sorted_rows[at])
    if row < 0 or row >= len(known) or not known[row] or live[row] < fresh_after \
            or live[row] <= poll_after:
        return None
    return row


def forward_to_port(pool, idx, nhs, nh_port, nh_gw, port, dec_ttl, mtu, sorted_ips, sorted_rows,
                    known, live, mac, src_mac, fresh_after, poll_after) -> bool:
    """Forward the whole batch out of `port`, or touch nothing and return False
    (see the kernel's docstring for when a packet passes)."""
    n_rows = pool.data.shape[0]
    row_size = pool.data.shape[1]
    if len(nhs) < len(idx) or len(nh_gw) < len(nh_port) or len(sorted_rows) < len(sorted_ips) \
            or len(live) < len(known) or mac.size < len(known) * 6 or len(src_mac) != 6:
        raise ValueError("forward_to_port: nhs shorter than the batch, or a table's columns "
                         "of different lengths, or src_mac not 6 bytes")
    for i, slot in enumerate(idx):
        if slot >= n_rows:
            raise IndexError(f"slot {slot} outside the pool of {n_rows}")
        if nhs[i] >= len(nh_port):
            raise IndexError(f"next hop {nhs[i]} outside the table of {len(nh_port)}")
    if len(idx) == 0:
        return False
    rows = []
    for i, slot in enumerate(idx):
        slot, k = int(slot), int(nhs[i])
        if int(nh_port[k]) != port:
            return False
        o, length, h = int(pool.off[slot]), int(pool.length[slot]), int(pool.nh[slot])
        end = o + length
        if o < ETHER_HLEN or length + ETHER_HLEN > 0xFFFF or end > row_size or h < o \
                or h + IP_MIN_HLEN > end:
            return False
        gso = int(pool.gso_size[slot])
        if gso:                         # a super-frame: its segments must fit (IPFragmenter)
            hlen = (int(pool.data[slot, h]) & 0x0F) * 4
            cs = int(pool.csum_start[slot])
            if hlen < IP_MIN_HLEN or h + hlen > end or cs + 12 >= row_size:
                return False
            if (int(pool.gso_type[slot]) & 0x7F) == GSO_UDP_L4:
                l4 = 8
            else:
                l4 = (int(pool.data[slot, cs + 12]) >> 4) * 4
            ip_len = cs - h + l4 + gso
        else:
            ip_len = end - h
        if ip_len > mtu:
            return False
        if dec_ttl and pool.data[slot, h + 8] <= 1:
            return False
        gw = int(nh_gw[k])
        row = _row(sorted_ips, sorted_rows, known, live, gw or int(pool.dst_ip[slot]),
                   fresh_after, poll_after)
        if row is None:
            return False
        rows.append(row)
    mac = mac.reshape(-1, 6)
    for i, slot in enumerate(idx):
        slot, k = int(slot), int(nhs[i])
        gw = int(nh_gw[k])
        if gw:
            pool.dst_ip[slot] = gw
        pool.port[slot] = port
        if dec_ttl:
            h = int(pool.nh[slot])
            old_word = (int(pool.data[slot, h + 8]) << 8) | int(pool.data[slot, h + 9])
            old_cksum = (int(pool.data[slot, h + 10]) << 8) | int(pool.data[slot, h + 11])
            new_word = old_word - 0x0100
            new_cksum = incremental_checksum_update(old_cksum, old_word, new_word)
            pool.data[slot, h + 8] = new_word >> 8
            pool.data[slot, h + 10] = new_cksum >> 8
            pool.data[slot, h + 11] = new_cksum & 0xFF
        o = int(pool.off[slot]) - ETHER_HLEN
        pool.off[slot] = o
        pool.length[slot] += ETHER_HLEN
        pool.data[slot, o:o + 6] = mac[rows[i]]
        pool.data[slot, o + 6:o + 12] = src_mac
        pool.data[slot, o + 12] = 0x08
        pool.data[slot, o + 13] = 0x00
    return True


class LinkStep:
    """A push across link-side elements that only count or pass their
    packets in their present state; the compiled LinkStep's twin (its
    docstring says what the arguments are)."""

    def __init__(self, push, port, fallback, fallback_port, fields=(), tallies=(),
                 ethertypes=(), target=None):
        if len(ethertypes) > 4:
            raise ValueError("LinkStep: at most 4 EtherTypes to guard")
        self.push, self.port = push, port
        self.fallback, self.fallback_port = fallback, fallback_port
        self.fields = tuple((e, str(a), bool(b)) for e, a, b in fields)
        self.tallies = tuple(tallies)
        self.types = {int(t) & 0xFFFF for t in ethertypes}
        self.target = target

    def __call__(self, port, batch):
        pool = batch.pool
        slots = [int(s) for s in batch.idx]
        if not slots:
            return
        for s in slots:
            if s >= pool.data.shape[0]:
                raise IndexError(f"slot {s} outside the pool of {pool.data.shape[0]}")
        if self.types:
            for s in slots:
                o = int(pool.off[s])
                if int(pool.length[s]) < 14 or o + 14 > pool.data.shape[1] \
                        or (int(pool.data[s, o + 12]) << 8 | int(pool.data[s, o + 13])) in self.types:
                    self.fallback(self.fallback_port, batch)
                    return
        total = sum(int(pool.length[s]) for s in slots)
        for e, attr, is_bytes in self.fields:
            setattr(e, attr, getattr(e, attr) + (total if is_bytes else len(slots)))
        for tally in self.tallies:
            tally(batch)
        self.push(self.port, batch)
