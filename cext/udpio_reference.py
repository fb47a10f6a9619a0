"""Plain-Python references for the kernels in cext/udpio.pyx.

Same names, same signatures, same results: one recvmsg/sendmsg per
datagram, one header written per packet with struct, the obvious loops a
per-packet forwarder in Python would run.  The module docstring of
udpio.pyx states the conventions both follow.
"""
from __future__ import annotations

import errno
import socket
import struct
import time

import numpy as np

SOL_UDP = 17
UDP_SEGMENT = 103
UDP_GRO = 104
MAX_BURST = 1024
GSO_MAX_SEGMENTS = 64
_GSO_MAX_BYTES = 65000
MATCH_OK = 255
MATCH_SHORT = 254


def _sock(fd: int) -> socket.socket:
    """A socket object over fd that does not close it when dropped."""
    return socket.socket(fileno=fd)


def _note_sender(pool, slot: int, addr) -> None:
    """A datagram's sender (recvmsg's address) into the slot's annotations:
    IPv4 in dst_ip, IPv6 in dst_ip6 with dst_ip 0."""
    if not (addr and isinstance(addr, tuple)):
        return
    if len(addr) == 4:      # (host, port, flowinfo, scope_id): AF_INET6
        host = addr[0].partition("%")[0]
        pool.dst_ip6[slot] = np.frombuffer(socket.inet_pton(socket.AF_INET6, host), np.uint8)
        pool.dst_ip[slot] = 0
    else:
        pool.dst_ip[slot] = struct.unpack("!I", socket.inet_aton(addr[0]))[0]
    pool.port[slot] = addr[1]


def _check_slots(pool, idx) -> None:
    for s in idx:
        if s >= pool.n_slots:
            raise IndexError(f"slot {s} outside the pool of {pool.n_slots}")
        if int(pool.off[s]) + int(pool.length[s]) > pool.slot_size:
            raise ValueError(f"packet in slot {s} runs past the end of its slot")


# -- socket I/O -------------------------------------------------------------------

def recv_burst(fd: int, pool, max_n: int, headroom: int | None = None):
    """Receive up to max_n datagrams into fresh pool slots; returns (idx, n_dropped)."""
    hr = pool.headroom if headroom is None else headroom
    if not 0 <= hr < pool.slot_size:
        raise ValueError(f"headroom {hr} outside the {pool.slot_size}-byte slot")
    max_n = min(max_n, MAX_BURST)
    if max_n <= 0:
        return np.zeros(0, dtype=np.uint32), 0
    idx = pool.alloc_upto(max_n).idx
    room = pool.slot_size - hr
    sock = _sock(fd)
    kept, dropped, used = [], [], 0
    error = None
    try:
        while used < len(idx):
            slot = int(idx[used])
            view = memoryview(pool.data[slot])[hr:]
            try:
                n, _, flags, addr = sock.recvmsg_into([view], 0, socket.MSG_DONTWAIT)
            except InterruptedError:
                continue
            except OSError as e:
                error = e
                break
            used += 1
            if flags & socket.MSG_TRUNC:
                dropped.append(slot)
                continue
            pool.off[slot] = hr
            pool.length[slot] = n
            _note_sender(pool, slot, addr)
            kept.append(slot)
    finally:
        sock.detach()
    stamp = time.time_ns()
    kept = np.array(kept, dtype=np.uint32)
    pool.ts_ns[kept] = stamp
    if dropped:
        pool.free(np.array(dropped, dtype=np.uint32))
    if used < len(idx):
        pool.free(idx[used:])
    if error is not None and error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
        raise error
    return kept, len(dropped)


class GROReceiver:
    """Receives from a socket with UDP_GRO on and cuts coalesced datagrams into slots."""

    def __init__(self, n_msgs: int = 32, msg_size: int = 65536):
        if not 1 <= n_msgs <= MAX_BURST or msg_size < 2048:
            raise ValueError("need 1 <= n_msgs <= 1024 and msg_size >= 2048")
        self.n_msgs = n_msgs
        self.msg_size = msg_size

    def recv_burst(self, fd: int, pool, max_n: int, headroom: int | None = None):
        hr = pool.headroom if headroom is None else headroom
        if not 0 <= hr < pool.slot_size:
            raise ValueError(f"headroom {hr} outside the {pool.slot_size}-byte slot")
        room = pool.slot_size - hr
        messages, error, truncated = [], None, 0
        sock = _sock(fd)
        try:
            while len(messages) + truncated < min(max_n, self.n_msgs):
                try:
                    data, anc, flags, addr = sock.recvmsg(self.msg_size, socket.CMSG_SPACE(4),
                                                          socket.MSG_DONTWAIT)
                except InterruptedError:
                    continue
                except OSError as e:
                    error = e
                    break
                if flags & socket.MSG_TRUNC:
                    truncated += 1
                    continue
                gso = 0
                for level, kind, value in anc:
                    if level == SOL_UDP and kind == UDP_GRO:
                        gso = struct.unpack("=i", value[:4])[0]
                size = gso if 0 < gso < len(data) else len(data)
                segments = [data[i:i + size] for i in range(0, len(data), size)] if data else [b""]
                messages.append((segments, addr))
        finally:
            sock.detach()
        if error is not None and error.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
            raise error
        total = sum(len(segs) for segs, _ in messages)
        if total == 0:
            return np.zeros(0, dtype=np.uint32), truncated
        idx = pool.alloc_upto(total).idx
        stamp = time.time_ns()
        kept, used = [], 0
        for segs, addr in messages:
            for seg in segs:
                if used == len(idx):
                    break
                if len(seg) > room:
                    continue
                slot = int(idx[used])
                used += 1
                pool.data[slot, hr:hr + len(seg)] = np.frombuffer(seg, np.uint8)
                pool.off[slot] = hr
                pool.length[slot] = len(seg)
                pool.ts_ns[slot] = stamp
                _note_sender(pool, slot, addr)
                kept.append(slot)
        if used < len(idx):
            pool.free(idx[used:])
        return np.array(kept, dtype=np.uint32), truncated + total - len(kept)


_NO_ADDR6 = bytes(16)


def _destination(pool, slot, addr, dport, per_packet, addr6=None):
    """(address, port): an int for IPv4, 16 bytes for IPv6 (addr6 given)."""
    if addr6 is not None:
        own = pool.dst_ip6[slot].tobytes()
        if per_packet and own != _NO_ADDR6:
            return own, int(pool.port[slot])
        return bytes(addr6), dport
    if per_packet and pool.dst_ip[slot]:
        return int(pool.dst_ip[slot]), int(pool.port[slot])
    return addr, dport


def _target(dest):
    """sendmsg's address for a destination; None: the connected peer."""
    addr, port = dest
    if isinstance(addr, bytes):
        if addr == _NO_ADDR6 and port == 0:
            return None
        return (socket.inet_ntop(socket.AF_INET6, addr), port)
    if dest == (0, 0):
        return None
    return (socket.inet_ntoa(struct.pack("!I", addr)), port)


def send_burst(fd: int, pool, idx, addr: int = 0, dport: int = 0, per_packet: bool = False,
               gso_max: int = 0, addr6=None):
    """Send the packets of idx in order, one sendmsg each (GSO runs as one
    sendmsg with UDP_SEGMENT); returns (n_sent, errno_at_stop).  addr6 (16
    bytes) for an IPv6 socket, as in udpio.pyx."""
    if addr6 is not None and len(bytes(addr6)) != 16:
        raise ValueError(f"addr6 must be 16 bytes, not {len(bytes(addr6))}")
    idx = np.ascontiguousarray(idx, dtype=np.uint32)
    _check_slots(pool, idx)
    sock = _sock(fd)
    sent, n, gso = 0, len(idx), gso_max > 0
    try:
        while sent < n:
            first = int(idx[sent])
            size = int(pool.length[first])
            dest = _destination(pool, first, addr, dport, per_packet, addr6)
            run = 1
            if gso and size <= gso_max:
                total = size
                while (sent + run < n and run < GSO_MAX_SEGMENTS and run < MAX_BURST):
                    nxt = int(idx[sent + run])
                    ln = int(pool.length[nxt])
                    # an empty datagram never joins: the kernel drops a 0-byte last segment
                    if ln > size or ln == 0 or total + ln > _GSO_MAX_BYTES or \
                            (per_packet and _destination(pool, nxt, addr, dport, True, addr6) != dest):
                        break
                    total += ln
                    run += 1
                    if ln < size:
                        break
            bufs = []
            for s in idx[sent:sent + run]:
                o = int(pool.off[s])
                bufs.append(pool.data[s, o:o + int(pool.length[s])])
            ancillary = [(SOL_UDP, UDP_SEGMENT, struct.pack("=H", size))] if run > 1 else []
            target = _target(dest)
            try:
                if target is None:
                    sock.sendmsg(bufs, ancillary, socket.MSG_DONTWAIT)
                else:
                    sock.sendmsg(bufs, ancillary, socket.MSG_DONTWAIT, target)
            except InterruptedError:
                continue
            except OSError as e:
                if run > 1 and e.errno in (errno.EINVAL, errno.EIO):
                    gso = False
                    continue
                return sent, e.errno
            sent += run
    finally:
        sock.detach()
    return sent, 0


# -- tunnel headers ---------------------------------------------------------------

def _sum_be16(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    return sum(struct.unpack(f"!{len(b) // 2}H", b))


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _check_out(idx, out) -> None:
    if len(out) < len(idx):
        raise ValueError(f"output array has {len(out)} entries for a batch of {len(idx)} packets")


def _prepend(pool, slot: int, header: bytes) -> None:
    k = len(header)
    o = int(pool.off[slot]) - k
    pool.off[slot] = o
    pool.length[slot] += k
    pool.data[slot, o:o + k] = np.frombuffer(header, np.uint8)


def push_header(pool, idx, header, out_short) -> int:
    """Prepend header to every packet of idx; returns how many had no room."""
    idx = np.asarray(idx, dtype=np.uint32)
    _check_out(idx, out_short)
    _check_slots(pool, idx)
    header = bytes(header)
    short = 0
    for i, s in enumerate(idx):
        s = int(s)
        if header and (pool.off[s] < len(header) or int(pool.length[s]) + len(header) > 0xFFFF):
            out_short[i] = 1
            short += 1
            continue
        out_short[i] = 0
        if header:
            _prepend(pool, s, header)
    return short


def _ip_header(total, tos, ip_id, df, ttl, proto, src, dst) -> bytes:
    h = struct.pack("!BBHHHBBHII", 0x45, tos, total, ip_id & 0xFFFF, 0x4000 if df else 0,
                    ttl, proto, 0, src, dst)
    return h[:10] + struct.pack("!H", _fold(_sum_be16(h)) ^ 0xFFFF) + h[12:]


def push_ip(pool, idx, proto, src, dst, tos, ttl, df, ip_id, dst_anno, out_short) -> int:
    """Prepend an IPv4 header to every packet of idx; returns the next IP ID."""
    idx = np.asarray(idx, dtype=np.uint32)
    _check_out(idx, out_short)
    _check_slots(pool, idx)
    for i, s in enumerate(idx):
        s = int(s)
        if pool.off[s] < 20 or int(pool.length[s]) + 20 > 0xFFFF:
            out_short[i] = 1
            continue
        out_short[i] = 0
        d = int(pool.dst_ip[s]) if dst_anno else dst
        _prepend(pool, s, _ip_header(int(pool.length[s]) + 20, tos, ip_id, df, ttl, proto, src, d))
        ip_id += 1
        pool.nh[s] = pool.off[s]
        pool.dst_ip[s] = d
    return ip_id & 0xFFFF


def push_udp_ip(pool, idx, src, dst, sport, dport, tos, ttl, df, ip_id, checksum, dst_anno,
                sports, out_short) -> int:
    """Prepend IPv4 and UDP headers to every packet of idx; returns the next IP ID."""
    idx = np.asarray(idx, dtype=np.uint32)
    _check_out(idx, out_short)
    _check_slots(pool, idx)
    if sports is not None and len(sports) < len(idx):
        raise ValueError(f"sports has {len(sports)} entries for a batch of {len(idx)} packets")
    for i, s in enumerate(idx):
        s = int(s)
        if pool.off[s] < 28 or int(pool.length[s]) + 28 > 0xFFFF:
            out_short[i] = 1
            continue
        out_short[i] = 0
        d = int(pool.dst_ip[s]) if dst_anno else dst
        payload = pool.packet_bytes(s)
        ulen = len(payload) + 8
        sp = int(sports[i]) if sports is not None else sport
        udp = struct.pack("!HHHH", sp, dport, ulen, 0)
        if checksum:
            pseudo = struct.pack("!IIBBH", src, d, 0, 17, ulen)
            c = _fold(_sum_be16(pseudo + udp + payload)) ^ 0xFFFF
            udp = udp[:6] + struct.pack("!H", c or 0xFFFF)
        ip = _ip_header(ulen + 20, tos, ip_id, df, ttl, 17, src, d)
        ip_id += 1
        _prepend(pool, s, ip + udp)
        pool.nh[s] = pool.off[s]
        pool.dst_ip[s] = d
    return ip_id & 0xFFFF


def push_udp_ip6(pool, idx, src6, dst6, sport, dport, tclass, hlim, flow_label, dst_anno,
                 sports, out_short) -> None:
    """Prepend IPv6 and UDP headers (checksum always) to every packet of idx; see udpio.pyx."""
    src6, dst6 = bytes(src6), bytes(dst6)
    if len(src6) != 16 or len(dst6) != 16:
        raise ValueError("src6 and dst6 must be 16 bytes each")
    idx = np.asarray(idx, dtype=np.uint32)
    _check_out(idx, out_short)
    _check_slots(pool, idx)
    if sports is not None and len(sports) < len(idx):
        raise ValueError(f"sports has {len(sports)} entries for a batch of {len(idx)} packets")
    for i, s in enumerate(idx):
        s = int(s)
        if pool.off[s] < 48 or int(pool.length[s]) + 48 > 0xFFFF:
            out_short[i] = 1
            continue
        out_short[i] = 0
        d = pool.dst_ip6[s].tobytes() if dst_anno else dst6
        payload = pool.packet_bytes(s)
        ulen = len(payload) + 8
        sp = int(sports[i]) if sports is not None else sport
        pseudo = src6 + d + struct.pack("!IxxxB", ulen, 17)
        c = _fold(_sum_be16(pseudo + struct.pack("!HHHH", sp, dport, ulen, 0) + payload)) ^ 0xFFFF
        udp = struct.pack("!HHHH", sp, dport, ulen, c or 0xFFFF)
        first = (6 << 28) | (tclass << 20) | (flow_label & 0xFFFFF)
        ip = struct.pack("!IHBB", first, ulen, 17, hlim) + src6 + d
        _prepend(pool, s, ip + udp)
        pool.nh[s] = pool.off[s]
        pool.dst_ip6[s] = np.frombuffer(d, dtype=np.uint8)


def match_header(pool, idx, pattern, mask, pop, out) -> int:
    """Check (byte & mask) == pattern over each packet's first bytes; see udpio.pyx."""
    pattern, mask = bytes(pattern), bytes(mask)
    if len(mask) != len(pattern) or len(pattern) > 250:
        raise ValueError("pattern and mask must have the same length, at most 250 bytes")
    idx = np.asarray(idx, dtype=np.uint32)
    _check_out(idx, out)
    _check_slots(pool, idx)
    k, good = len(pattern), 0
    for i, s in enumerate(idx):
        s = int(s)
        if pool.length[s] < k:
            out[i] = MATCH_SHORT
            continue
        head = pool.packet_bytes(s)[:k]
        bad = [j for j in range(k) if head[j] & mask[j] != pattern[j]]
        out[i] = bad[0] if bad else MATCH_OK
        if not bad:
            good += 1
            if pop:
                pool.off[s] += k
                pool.length[s] -= k
    return good


_M32 = 0xFFFFFFFF


def _mix(h: int, v: int) -> int:
    v = (v * 0xCC9E2D51) & _M32
    v = ((v << 15) | (v >> 17)) & _M32
    v = (v * 0x1B873593) & _M32
    h ^= v
    h = ((h << 13) | (h >> 19)) & _M32
    return (h * 5 + 0xE6546B64) & _M32


def _final(h: int) -> int:
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def frame_hash(f: bytes) -> int:
    """Flow hash of one Ethernet frame (see _frame_hash in udpio.pyx)."""
    h = 0x5A17
    n = len(f)
    if n < 14:
        return _final(_mix(h, n))
    be16 = lambda at: (f[at] << 8) | f[at + 1]          # noqa: E731
    be32 = lambda at: int.from_bytes(f[at:at + 4], "big")  # noqa: E731
    for at in (0, 4, 8):
        h = _mix(h, be32(at))
    h = _mix(h, be16(12))
    if be16(12) == 0x0800 and n >= 34 and f[14] >> 4 == 4:
        h = _mix(h, be32(26))
        h = _mix(h, be32(30))
        h = _mix(h, f[23])
        hl = (f[14] & 0x0F) * 4
        if f[23] in (6, 17) and be16(20) & 0x3FFF == 0 and hl >= 20 and n >= 14 + hl + 4:
            h = _mix(h, be32(14 + hl))
    return _final(h)


def flow_ports(pool, idx, lo, hi, out, skip=0) -> None:
    """A UDP source port in [lo, hi] for each packet from the flow hash of the
    frame `skip` bytes into it."""
    if hi < lo:
        raise ValueError(f"port range {lo}-{hi} is empty")
    if skip < 0:
        raise ValueError(f"skip must be 0 or more, not {skip}")
    idx = np.asarray(idx, dtype=np.uint32)
    _check_out(idx, out)
    _check_slots(pool, idx)
    span = hi - lo + 1
    for i, s in enumerate(idx):
        frame = pool.packet_bytes(int(s))
        frame = frame[skip:] if len(frame) >= skip else b""
        out[i] = lo + ((frame_hash(frame) * span) >> 32)
