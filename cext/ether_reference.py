"""Plain-Python reference of cext/ether.pyx: the same classify_host and frame_known, one frame at a time."""
from vforward.packet import BROADCAST, HOST, MULTICAST, OTHERHOST


def packet_type(header: bytes, mac: bytes) -> tuple[int, bool]:
    """(packet type, sent by mac) of a frame with this Ethernet header, for a
    host whose address is mac (the kernels share this step through
    cext/packettype.pxd)."""
    dst, src = header[:6], header[6:12]
    kind = (HOST if dst == mac else BROADCAST if dst == b"\xff" * 6 else
            MULTICAST if dst[0] & 1 else OTHERHOST)
    return kind, src == mac


def classify_host(pool, idx, offset, mac, drop_own, drop_other, out) -> int:
    """Set ptype for every frame long enough; out[i] = 1 for frames to filter."""
    mac = bytes(mac)
    filtered = 0
    for i, slot in enumerate(idx):
        slot = int(slot)
        o, n = int(pool.off[slot]), int(pool.length[slot])
        if n < offset + 14 or o + offset + 14 > pool.slot_size:
            out[i] = 1
            filtered += 1
            continue
        kind, from_mac = packet_type(pool.data[slot, o + offset:o + offset + 14].tobytes(), mac)
        if drop_own and from_mac:
            out[i] = 1
            filtered += 1
            continue
        pool.ptype[slot] = kind
        out[i] = 1 if drop_other and kind == OTHERHOST else 0
        filtered += int(out[i])
    return filtered


def frame_known(pool, idx, sorted_ips, sorted_rows, known, live, mac, src_mac,
                fresh_after, poll_after, out) -> int:
    """Push an Ethernet header on every packet whose next hop is known, fresh and
    not due for a refresh, with the headroom for it; out[i] = 1 marks those."""
    if len(out) < len(idx) or len(src_mac) != 6 or mac.shape[1] != 6:
        raise ValueError("frame_known: out shorter than the batch, or MACs not 6 bytes")
    if len(known) < len(mac) or len(live) < len(mac):
        raise ValueError("frame_known: known/live shorter than the MAC table")
    for slot in idx:
        if slot >= pool.n_slots:
            raise IndexError(f"slot {slot} outside the pool of {pool.n_slots}")
    rows_of = {int(ip): int(row) for ip, row in zip(sorted_ips, sorted_rows)}
    framed = 0
    for i, slot in enumerate(idx):
        out[i] = 0
        slot = int(slot)
        o, n = int(pool.off[slot]), int(pool.length[slot])
        row = rows_of.get(int(pool.dst_ip[slot]), -1)
        if o < 14 or n + 14 > 0xFFFF or not 0 <= row < len(mac):
            continue
        if not known[row] or live[row] < fresh_after or live[row] <= poll_after:
            continue
        pool.data[slot, o - 14:o] = list(bytes(mac[row]) + bytes(src_mac) + b"\x08\x00")
        pool.off[slot] = o - 14
        pool.length[slot] = n + 14
        out[i] = 1
        framed += 1
    return framed
