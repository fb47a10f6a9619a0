"""Plain-Python references for the IPv4 header kernels in cext/ipheader.pyx.

Same names, same signatures, same results, byte for byte: the tests run both
on copies of the same pool and compare every column.  These loops are meant
to be read, not to be fast: one packet at a time, header bytes unpacked with
`struct`, checksums summed word by word.

Conventions shared with the kernels:

- `idx` is a vector of slot indices; packets are handled in its order, one
  after the other (a slot listed twice is handled twice).
- A packet's bytes are `pool.data[slot, off:off + length]`.  A packet whose
  recorded length runs past the end of its slot has no bytes we may trust:
  `check_ip_header` calls it TOO_SHORT and the other functions leave it alone.
- The functions that work "at nh" need the 20 fixed IP header bytes to lie
  inside the packet (off <= nh and nh + 20 <= off + length); packets without
  them are left untouched.  After `check_ip_header` every good packet has
  them.
"""
from __future__ import annotations

import struct

# check_ip_header reasons; REASONS[code] is Click's drop-reason text.
OK = 0
TOO_SHORT = 1
BAD_VERSION = 2
BAD_HLEN = 3
BAD_LENGTH = 4
BAD_CHECKSUM = 5
BAD_SADDR = 6
REASONS = ("ok", "tiny packet", "bad IP version", "bad IP header length",
           "bad IP length", "bad IP checksum", "bad source address")

# udp_tcp_checksum_ok results.
CKSUM_BAD = 0           # TCP/UDP segment whose checksum is wrong, or that is too short
CKSUM_OK = 1            # checksum right, or a UDP datagram that carries none (0)
CKSUM_NOT_CHECKED = 2   # not TCP/UDP, a fragment, or no whole IP header at nh

IP_MIN_HLEN = 20
PROTO_TCP = 6
PROTO_UDP = 17


# -- ones' complement arithmetic (RFC 1071) ----------------------------------
def _fold(s: int) -> int:
    """Fold a sum of 16-bit words into 16 bits with end-around carry."""
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _sum16(b: bytes) -> int:
    """Ones' complement sum of big-endian 16-bit words; an odd last byte is padded with 0."""
    if len(b) % 2:
        b = b + b"\0"
    return _fold(sum(struct.unpack(f"!{len(b) // 2}H", b)))


def _checksum(b: bytes) -> int:
    return ~_sum16(b) & 0xFFFF


def incremental_checksum_update(old_cksum: int, old_word: int, new_word: int) -> int:
    """RFC 1624 eqn. 3: the checksum after one 16-bit word changes from old_word to new_word.

    HC' = ~(~HC + ~m + m').  Unlike eqn. 2 this gives what a full
    recomputation gives, 0x0000 included.
    """
    s = (~old_cksum & 0xFFFF) + (~old_word & 0xFFFF) + new_word
    return ~_fold(s) & 0xFFFF


def incremental_checksum_update32(old_cksum: int, old_value: int, new_value: int) -> int:
    """incremental_checksum_update for a 32-bit field (an IPv4 address): both halves."""
    c = incremental_checksum_update(old_cksum, old_value >> 16, new_value >> 16)
    return incremental_checksum_update(c, old_value & 0xFFFF, new_value & 0xFFFF)


# -- packet access ------------------------------------------------------------
def _packet_span(pool, slot: int):
    """(start, end) of the packet inside its slot row, or None when it overruns the slot."""
    o = int(pool.off[slot])
    end = o + int(pool.length[slot])
    if end > pool.data.shape[1]:
        return None
    return o, end


def _ip_at_nh(pool, slot: int):
    """The bytes from nh to the packet's end, when the 20 fixed header bytes are inside it."""
    span = _packet_span(pool, slot)
    if span is None:
        return None
    o, end = span
    nh = int(pool.nh[slot])
    if nh < o or nh + IP_MIN_HLEN > end:
        return None
    return nh, pool.data[slot, nh:end].tobytes()


def _check_lengths(out, idx) -> None:
    if len(out) < len(idx):
        raise ValueError(f"output array has {len(out)} entries for a batch of {len(idx)} packets")


# -- CheckIPHeader --------------------------------------------------------------
def check_ip_header(pool, idx, offset: int, verify_checksum: bool, out_reason,
                    bad_src=None, good_dst=None) -> int:
    """Validate the IP header OFFSET bytes into each packet (Click's CheckIPHeader).

    out_reason[i] gets OK or the reason code.  A good packet gets nh set to its
    IP header, dst_ip to the IP destination, and its length cut to the IP
    total length (link-layer padding goes).  Returns the number of good packets.

    bad_src and good_dst, sorted uint32 arrays of host-order addresses, are
    CheckIPHeader's address lists: a packet whose header is otherwise good but
    whose source is in bad_src is BAD_SADDR, unless its destination is in
    good_dst.  Like every bad packet it is left untouched.
    """
    if offset < 0:
        raise ValueError(f"IP header offset must be 0 or more, not {offset}")
    _check_lengths(out_reason, idx)
    bad = address_set(bad_src, "bad_src")
    good_set = address_set(good_dst, "good_dst") if bad else set()
    good = 0
    for i, slot in enumerate(idx):
        reason = _check_one(pool, int(slot), offset, verify_checksum, bad, good_set)
        out_reason[i] = reason
        good += reason == OK
    return good


def address_set(addresses, what: str) -> set:
    if addresses is None:
        return set()
    values = [int(a) for a in addresses]
    if values != sorted(values):
        raise ValueError(f"{what} must be sorted in ascending order")
    return set(values)


def ip_header_reason(ip: bytes, verify_checksum: bool, bad_src: set, good_dst: set) -> int:
    """OK, or why the IPv4 header at the start of ip (the packet's bytes from
    the header to its end) is bad: CheckIPHeader's rules, as cext/ipcheck.pxd
    gives them to every kernel that checks headers."""
    plen = len(ip)
    if plen < IP_MIN_HLEN:
        return TOO_SHORT
    if ip[0] >> 4 != 4:
        return BAD_VERSION
    hlen = (ip[0] & 0x0F) * 4
    if hlen < IP_MIN_HLEN or hlen > plen:
        return BAD_HLEN
    (ip_len,) = struct.unpack_from("!H", ip, 2)
    if ip_len < hlen or ip_len > plen:
        return BAD_LENGTH
    if verify_checksum and _sum16(ip[:hlen]) != 0xFFFF:
        return BAD_CHECKSUM
    src, dst = struct.unpack_from("!II", ip, 12)
    if src == 0xFFFFFFFF or src >> 28 == 0xE:
        return BAD_SADDR
    if src in bad_src and dst not in good_dst:
        return BAD_SADDR
    return OK


def _check_one(pool, slot: int, offset: int, verify_checksum: bool, bad_src: set,
               good_dst: set) -> int:
    span = _packet_span(pool, slot)
    if span is None:
        return TOO_SHORT
    o, end = span
    plen = end - o - offset
    if plen < IP_MIN_HLEN:
        return TOO_SHORT
    ip = pool.data[slot, o + offset:end].tobytes()
    reason = ip_header_reason(ip, verify_checksum, bad_src, good_dst)
    if reason != OK:
        return reason
    (ip_len,) = struct.unpack_from("!H", ip, 2)
    pool.nh[slot] = o + offset
    pool.dst_ip[slot] = struct.unpack_from("!I", ip, 16)[0]
    if plen > ip_len:
        pool.length[slot] = offset + ip_len
    return OK


# -- DecIPTTL -------------------------------------------------------------------
def dec_ip_ttl(pool, idx, out_expired) -> int:
    """Decrement the TTL at nh and patch the checksum (RFC 1624), as Click's DecIPTTL.

    A packet with TTL 0 or 1 is left untouched and gets out_expired[i] = 1.
    Returns the number of expired packets.
    """
    _check_lengths(out_expired, idx)
    expired = 0
    for i, slot in enumerate(idx):
        slot = int(slot)
        out_expired[i] = 0
        at = _ip_at_nh(pool, slot)
        if at is None:
            continue
        nh, ip = at
        ttl = ip[8]
        if ttl <= 1:
            out_expired[i] = 1
            expired += 1
            continue
        (old_word, old_cksum) = struct.unpack_from("!HH", ip, 8)
        new_word = old_word - 0x0100
        new_cksum = incremental_checksum_update(old_cksum, old_word, new_word)
        pool.data[slot, nh + 8:nh + 12] = list(struct.pack("!HH", new_word, new_cksum))
    return expired


# -- SetIPChecksum ----------------------------------------------------------------
def set_ip_checksum(pool, idx) -> int:
    """Recompute the IP header checksum at nh.  Returns the number of packets set.

    Packets whose header (IHL words) is not whole inside the packet, or whose
    IHL is below 5, are left untouched, as Click's SetIPChecksum drops them.
    """
    n_set = 0
    for slot in idx:
        slot = int(slot)
        at = _ip_at_nh(pool, slot)
        if at is None:
            continue
        nh, ip = at
        hlen = (ip[0] & 0x0F) * 4
        if hlen < IP_MIN_HLEN or hlen > len(ip):
            continue
        header = ip[:10] + b"\0\0" + ip[12:hlen]
        pool.data[slot, nh + 10:nh + 12] = list(struct.pack("!H", _checksum(header)))
        n_set += 1
    return n_set


# -- GetIPAddress(16) -------------------------------------------------------------
def ip_dst_to_anno(pool, idx) -> int:
    """Copy the IP destination at nh into the dst_ip annotation.  Returns packets annotated."""
    n_set = 0
    for slot in idx:
        slot = int(slot)
        at = _ip_at_nh(pool, slot)
        if at is None:
            continue
        _, ip = at
        (pool.dst_ip[slot],) = struct.unpack_from("!I", ip, 16)
        n_set += 1
    return n_set


def get_ip_address(pool, idx, offset: int, anno) -> int:
    """GetIPAddress(OFFSET): copy the 4 bytes OFFSET bytes into each packet (from its
    start, big-endian) into anno[slot], a uint32 annotation column (dst_ip, user).
    Packets without those 4 bytes (shorter than OFFSET + 4, or with the bytes
    past their slot's end) keep their annotation.  Returns the number of packets annotated."""
    if offset < 0:
        raise ValueError(f"offset must be 0 or more, not {offset}")
    n_set = 0
    for slot in idx:
        slot = int(slot)
        o, n = int(pool.off[slot]), int(pool.length[slot])
        at = o + offset
        if offset + 4 > n or at + 4 > pool.data.shape[1]:
            continue
        (anno[slot],) = struct.unpack("!I", pool.data[slot, at:at + 4].tobytes())
        n_set += 1
    return n_set


# -- ICMPPingResponder ----------------------------------------------------------------
PROTO_ICMP = 1
ICMP_ECHO = 8
ICMP_ECHOREPLY = 0


def icmp_echo_reply(pool, idx, out_other) -> int:
    """Turn ICMP echo requests at nh into echo replies in place (Click's ICMPPingResponder).

    A packet qualifies when a whole IP header (IHL words, at least 20 bytes)
    lies at nh inside the packet, it is ICMP, not a fragment (MF and offset
    zero), and holds an 8-byte ICMP header of type echo.  It gets source and
    destination swapped, the fragment field cleared, TTL 255 and a fresh
    header checksum; the ICMP type becomes echo reply with the ICMP checksum
    updated incrementally (RFC 1624; 0xFFFF instead of 0x0000 when every
    other byte of the message is zero, as a recomputation gives); dst_ip
    becomes the reply's destination.  Any other packet is left untouched
    and gets out_other[i] = 1.  Returns the number of those.
    """
    _check_lengths(out_other, idx)
    other = 0
    for i, slot in enumerate(idx):
        slot = int(slot)
        out_other[i] = 1
        at = _ip_at_nh(pool, slot)
        if at is None:
            other += 1
            continue
        nh, ip = at
        hlen = (ip[0] & 0x0F) * 4
        (frag,) = struct.unpack_from("!H", ip, 6)
        if (hlen < IP_MIN_HLEN or hlen + 8 > len(ip) or ip[9] != PROTO_ICMP
                or frag & 0x3FFF or ip[hlen] != ICMP_ECHO):
            other += 1
            continue
        out_other[i] = 0
        src, dst = struct.unpack_from("!II", ip, 12)
        header = bytearray(ip[:hlen])
        header[6:12] = bytes([0, 0, 255, header[9], 0, 0])
        header[12:20] = struct.pack("!II", dst, src)
        header[10:12] = struct.pack("!H", _checksum(bytes(header)))
        message = bytearray(ip[hlen:])
        code = message[1]
        (old_cksum,) = struct.unpack_from("!H", message, 2)
        c = incremental_checksum_update(old_cksum, (ICMP_ECHO << 8) | code,
                                        (ICMP_ECHOREPLY << 8) | code)
        message[0] = ICMP_ECHOREPLY
        if c == 0 and not any(message[:2]) and not any(message[4:]):
            c = 0xFFFF
        message[2:4] = struct.pack("!H", c)
        pool.data[slot, nh:nh + len(ip)] = list(header + message)
        pool.dst_ip[slot] = src
    return other


# -- TCP/UDP checksums --------------------------------------------------------------
_SHORT_SEGMENT = "segment shorter than its TCP/UDP header"

def _transport(pool, slot: int):
    """Where a packet's TCP/UDP checksum lives, or why it has none to check.

    Returns None when there is nothing to check (no whole IP header at nh, not
    TCP/UDP, a fragment), _SHORT_SEGMENT when the segment is too short for its
    header, else (nh, ip bytes, segment start in ip, segment length, proto).
    """
    at = _ip_at_nh(pool, slot)
    if at is None:
        return None
    nh, ip = at
    hlen = (ip[0] & 0x0F) * 4
    (ip_len, frag) = struct.unpack_from("!H2xH", ip, 2)
    if hlen < IP_MIN_HLEN or ip_len < hlen or ip_len > len(ip):
        return None
    if frag & 0x3FFF:                    # MF or a fragment offset: not the whole datagram
        return None
    proto = ip[9]
    seg_len = ip_len - hlen
    if proto == PROTO_TCP:
        if seg_len < 20:
            return _SHORT_SEGMENT
    elif proto == PROTO_UDP:
        if seg_len < 8:
            return _SHORT_SEGMENT
        (udp_len,) = struct.unpack_from("!H", ip, hlen + 4)
        if udp_len < 8 or udp_len > seg_len:
            return _SHORT_SEGMENT
        seg_len = udp_len               # bytes past the UDP length are not the datagram's
    else:
        return None
    return nh, ip, hlen, seg_len, proto


def _pseudo_header(ip: bytes, proto: int, seg_len: int) -> bytes:
    return ip[12:20] + struct.pack("!BBH", 0, proto, seg_len)


def _cksum_pos(proto: int) -> int:
    return 16 if proto == PROTO_TCP else 6


def udp_tcp_checksum_ok(pool, idx, out_ok) -> int:
    """Verify TCP and UDP checksums (with the pseudo-header) of the packets at nh.

    out_ok[i] is CKSUM_OK, CKSUM_BAD or CKSUM_NOT_CHECKED; a UDP checksum of 0
    means "none" and is OK.  Returns the number of CKSUM_BAD packets.
    """
    _check_lengths(out_ok, idx)
    bad = 0
    for i, slot in enumerate(idx):
        t = _transport(pool, int(slot))
        if t is None:
            out_ok[i] = CKSUM_NOT_CHECKED
            continue
        if t is _SHORT_SEGMENT:
            out_ok[i] = CKSUM_BAD
            bad += 1
            continue
        _, ip, start, seg_len, proto = t
        seg = ip[start:start + seg_len]
        (field,) = struct.unpack_from("!H", seg, _cksum_pos(proto))
        if proto == PROTO_UDP and field == 0:
            out_ok[i] = CKSUM_OK
            continue
        ok = _sum16(_pseudo_header(ip, proto, seg_len) + seg) == 0xFFFF
        out_ok[i] = CKSUM_OK if ok else CKSUM_BAD
        bad += not ok
    return bad


def set_transport_checksum(pool, idx) -> int:
    """Recompute TCP and UDP checksums of the packets at nh (UDP's 0 is sent as 0xFFFF).

    Packets udp_tcp_checksum_ok would not check, or finds too short, are left
    untouched.  Returns the number of packets set.
    """
    n_set = 0
    for slot in idx:
        slot = int(slot)
        t = _transport(pool, slot)
        if t is None or t is _SHORT_SEGMENT:
            continue
        nh, ip, start, seg_len, proto = t
        pos = start + _cksum_pos(proto)
        seg = ip[start:pos] + b"\0\0" + ip[pos + 2:start + seg_len]
        c = _checksum(_pseudo_header(ip, proto, seg_len) + seg)
        if proto == PROTO_UDP and c == 0:
            c = 0xFFFF
        pool.data[slot, nh + pos:nh + pos + 2] = list(struct.pack("!H", c))
        n_set += 1
    return n_set
