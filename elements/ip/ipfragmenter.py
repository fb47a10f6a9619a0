"""IPFragmenter: split IP packets larger than an MTU into fragments."""
from __future__ import annotations

import random
import struct
import sys

import numpy as np

from vforward.args import ArgumentError, boolean, unsigned
from vforward.element import PUSH_ONLY, Element, read_handler
from vforward.offload import segment_ip_lengths, software_offload
from vforward.packet import ANNOTATIONS, GSO_UDP_L4, Batch, PoolExhausted

from vforward.elements.ip.ipfields import (IP_DF, IP_MF, IP_MIN_HLEN, IP_OFFMASK, ip_header_mask,
                                           ipheader, packet_bounds)

IPOPT_EOL, IPOPT_NOP = 0, 1
MIN_MTU = 28                        # a 20-byte header and 8 bytes of data
_NO_SLOTS = np.zeros(0, dtype=np.uint32)


def copied_options(options: bytes) -> bytes:
    """The options that RFC 791 copies into every fragment (copy flag set), padded
    with end-of-list bytes to a multiple of 4."""
    out = bytearray()
    i = 0
    while i < len(options):
        opt = options[i]
        if opt == IPOPT_EOL:
            break
        if opt == IPOPT_NOP:
            i += 1
            continue
        if i + 1 >= len(options) or options[i + 1] < 2 or i + options[i + 1] > len(options):
            break                       # malformed option: copy nothing past it
        length = options[i + 1]
        if opt & 0x80:
            out += options[i:i + length]
        i += length
    out += bytes(-len(out) % 4)
    return bytes(out)


# TCP through a lab crosses as super-frames, one or two a batch; the array
# test below costs some thirty numpy calls (a microsecond each) whatever the
# batch, so short batches are looked at one packet at a time instead.
SCALAR_BATCH = 4


def needs_fragmenting(pool, idx, mtu: int) -> np.ndarray:
    """True for the packets of idx that must be fragmented or segmented for
    mtu: an IP header at nh and an IP datagram longer than mtu, or, for a
    GSO super-frame, segments longer than mtu (as Linux judges them)."""
    _, end, h = packet_bounds(pool, idx)
    ip_len = end - h
    gso = pool.gso_size[idx] > 0
    if gso.any():
        ip_len = np.where(gso, segment_ip_lengths(pool, idx), ip_len)
    return (ip_len > mtu) & ip_header_mask(pool, idx)


def none_too_big(pool, idx, mtu: int) -> bool:
    """not needs_fragmenting(pool, idx, mtu).any(), one packet at a time."""
    slot_size = pool.slot_size
    data, off, length, nh = pool.data, pool.off, pool.length, pool.nh
    for s in idx.tolist():
        start = off.item(s)
        end = start + length.item(s)
        h = nh.item(s)
        if end > slot_size or h < start or h + IP_MIN_HLEN > end:
            continue                    # no IP header at nh: never fragmented
        hlen = (data.item(s, min(h, slot_size - 1)) & 0x0F) * 4
        if hlen < IP_MIN_HLEN or h + hlen > end:
            continue
        gso = pool.gso_size.item(s)
        if gso:
            cstart = pool.csum_start.item(s)
            if (pool.gso_type.item(s) & 0x7F) == GSO_UDP_L4:
                l4 = 8
            else:
                l4 = (data.item(s, min(cstart + 12, slot_size - 1)) >> 4) * 4
            ip_len = cstart - h + l4 + gso
        else:
            ip_len = end - h
        if ip_len > mtu:
            return False
    return True


class IPFragmenter(Element):
    """IPFragmenter(MTU [, KEYWORDS]) -- fragment large IP packets

    Ports: 1 input, 1 or 2 outputs; push.

    Expects IP packets with the network header annotation set.  A packet
    whose IP part (from its network header to its end) is at most MTU bytes
    leaves on output 0 unchanged.  A larger one is split into fragments of
    at most MTU bytes (RFC 791): the first fragment is the packet itself,
    cut short, with its header and every option; each following fragment is
    a new pool slot holding a copy of the IP header with only the options
    marked "copy", and the next piece of the payload, 8-byte aligned.
    Offsets and the more-fragments flag are set so that the pieces
    reassemble to the original (an already fragmented packet is fragmented
    further correctly), every header checksum is recomputed (one call of the
    compiled set_ip_checksum kernel per batch), and every annotation is
    copied.  Fragments leave on output 0 in order, in place of the packet.

    A packet larger than MTU with the don't-fragment flag (DF) set leaves on
    output 1 (dropped when it is not connected), as does one whose header
    leaves no room for 8 bytes of data; ordinarily output 1 goes to
    ICMPError(ADDR, unreachable, needfrag), which reports this MTU.  A
    message is printed for the first 5 such packets, or for each with
    VERBOSE.

    A GSO super-frame (from a device with offloads) is judged by the size
    of the segments it will leave as, as Linux does: it passes whole when
    they fit MTU, and is otherwise segmented in software, each segment then
    treated as above.

    Packets that fit pass without a Python loop; only packets that need
    fragmenting are handled one by one.

    Arguments:
      MTU (integer)   largest IP packet to send, at least 28

    Keyword arguments:
      HONOR_DF (boolean, default true)   if false, fragment DF packets too
                    (clearing DF and choosing a new random IP ID)
      VERBOSE (boolean, default false)   print a message for every DF packet

    Handlers:
      fragments (read)   fragments sent (first fragments included)
      drops (read)       packets sent to output 1 (or dropped there), plus
                         packets that could not be fragmented for lack of
                         pool slots or a sane header
    """
    PORTS = "1/1-2"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.mtu = args.mandatory("MTU", unsigned)
        self.honor_df = args.positional("HONOR_DF", boolean, default=True)
        self.verbose = args.positional("VERBOSE", boolean, default=False)
        args.finish()
        if not MIN_MTU <= self.mtu <= 0xFFFF:
            raise ArgumentError(f"{args.where}: argument MTU: {self.mtu} is out of range; an "
                                f"IP MTU is {MIN_MTU}..65535 (20 header bytes and 8 data bytes "
                                "at least)")
        self.fragments = 0
        self.drops = 0

    def push(self, port, batch):
        idx = batch.idx
        if not len(idx):
            return
        pool = batch.pool
        if pool._slots.max_length(idx) <= self.mtu:
            # No packet is longer than the MTU, so no IP datagram in one is either.
            self.emit(0, batch)
            return
        if len(idx) <= SCALAR_BATCH and none_too_big(pool, idx, self.mtu):
            self.emit(0, batch)
            return
        big = np.flatnonzero(needs_fragmenting(pool, idx, self.mtu))
        if not len(big):
            self.emit(0, batch)
            return
        out, too_big, to_sum, prev = [], [], [], 0
        for i in big.tolist():
            out.append(idx[prev:i])
            prev = i + 1
            slots = [int(idx[i])]
            if pool.gso_size[idx[i]]:
                segments, dropped = software_offload(Batch(pool, idx[i:i + 1]))
                self.drops += dropped
                slots = segments.idx.tolist()
            for slot in slots:
                frags, fragmented = self._fragment(pool, slot)
                if frags is None:
                    too_big.append(slot)
                else:
                    out.append(frags)
                    if fragmented:
                        to_sum.append(frags)
        out.append(idx[prev:])
        if to_sum:
            ipheader.set_ip_checksum(pool, np.concatenate(to_sum))
        self.emit(0, Batch(pool, np.concatenate(out)))
        if too_big:
            self.emit_or_drop(1, Batch(pool, np.array(too_big, dtype=np.uint32)))

    def _fragment(self, pool, slot: int):
        """(slots to send, whether their checksums need setting): the fragments (the
        packet's own slot first), or the packet alone, cut to its IP length, when
        only padding made it too big; (None, False) when it must go to output 1;
        an empty array when it was dropped."""
        start = int(pool.off[slot])
        h = int(pool.nh[slot])
        end = start + int(pool.length[slot])
        ip = pool.data[slot, h:end].tobytes()
        hlen = (ip[0] & 0x0F) * 4
        ip_len, off_field = struct.unpack_from("!H2xH", ip, 2)
        ip_len = min(ip_len, len(ip))
        if ip_len < hlen:                        # no sane IP length: nothing to cut it by
            self.drops += 1
            pool.free(np.array([slot], dtype=np.uint32))
            return _NO_SLOTS, False
        if ip_len <= self.mtu:                   # the IP length fits: link padding made it big
            pool.length[slot] = h - start + ip_len
            return np.array([slot], dtype=np.uint32), False
        first_dlen = (self.mtu - hlen) & ~7
        if ((off_field & IP_DF) and self.honor_df) or first_dlen < 8:
            self._complain(ip)
            self.drops += 1
            return None, False
        in_dlen = ip_len - hlen
        options = copied_options(ip[20:hlen])
        out_hlen = 20 + len(options)
        out_dlen = (self.mtu - out_hlen) & ~7
        n_more = -(-(in_dlen - first_dlen) // out_dlen)
        try:
            more = pool.alloc(n_more).idx
        except PoolExhausted:
            self.drops += 1
            pool.free(np.array([slot], dtype=np.uint32))
            return _NO_SLOTS, False
        header = bytearray(ip[:20])
        if off_field & IP_DF:                    # DF ignored: its ID cannot be trusted
            header[4:6] = struct.pack("!H", random.getrandbits(16))
        had_mf = off_field & IP_MF
        flags = (off_field & ~IP_DF) | IP_MF
        base = off_field & IP_OFFMASK
        # the first fragment: the packet itself, cut after first_dlen data bytes
        first = bytearray(header)
        first[2:4] = struct.pack("!H", hlen + first_dlen)
        first[6:8] = struct.pack("!H", flags)
        pool.data[slot, h:h + 20] = np.frombuffer(bytes(first), dtype=np.uint8)
        pool.length[slot] = h - start + hlen + first_dlen
        pos = first_dlen
        for new in more.tolist():
            dlen = min(out_dlen, in_dlen - pos)
            last = pos + dlen >= in_dlen
            frag_field = (flags & ~IP_OFFMASK) | (base + (pos >> 3))
            if last and not had_mf:
                frag_field &= ~IP_MF
            q = bytearray(header)
            q[0] = 0x40 | (out_hlen >> 2)
            q[2:4] = struct.pack("!H", out_hlen + dlen)
            q[6:8] = struct.pack("!H", frag_field)
            o = int(pool.off[new])
            pool.data[new, o:o + out_hlen] = np.frombuffer(bytes(q) + options, dtype=np.uint8)
            pool.data[new, o + out_hlen:o + out_hlen + dlen] = \
                pool.data[slot, h + hlen + pos:h + hlen + pos + dlen]
            pool.length[new] = out_hlen + dlen
            pos += dlen
        for name in ANNOTATIONS:
            col = getattr(pool, name)
            col[more] = col[slot]
        pool.nh[more] = pool.off[more]
        self.fragments += 1 + len(more)
        return np.concatenate((np.array([slot], dtype=np.uint32), more)), True

    def _complain(self, ip: bytes) -> None:
        if self.verbose or self.drops < 5:
            src, dst = ip[12:16], ip[16:20]
            print(f"{self.name}: IPFragmenter({self.mtu}) DF {'.'.join(map(str, src))} "
                  f"{'.'.join(map(str, dst))} len={len(ip)}", file=sys.stderr)

    @read_handler("fragments")
    def read_fragments(self):
        return self.fragments

    @read_handler("drops")
    def read_drops(self):
        return self.drops
