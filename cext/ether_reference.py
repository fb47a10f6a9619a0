"""Plain-Python reference of cext/ether.pyx: the same classify_host, one frame at a time."""
from vforward.packet import BROADCAST, HOST, MULTICAST, OTHERHOST


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
        header = pool.data[slot, o + offset:o + offset + 14].tobytes()
        dst, src = header[:6], header[6:12]
        kind = (HOST if dst == mac else BROADCAST if dst == b"\xff" * 6 else
                MULTICAST if dst[0] & 1 else OTHERHOST)
        if drop_own and src == mac:
            out[i] = 1
            filtered += 1
            continue
        pool.ptype[slot] = kind
        out[i] = 1 if drop_other and kind == OTHERHOST else 0
        filtered += int(out[i])
    return filtered
