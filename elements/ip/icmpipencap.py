"""ICMPIPEncap: wrap packets in ICMP and IP headers."""
from __future__ import annotations

import struct

import numpy as np

from vforward.args import ip_address, unsigned
from vforward.element import AGNOSTIC, Element, read_handler
from vforward.packet import Batch

from vforward.elements.ether.ethernet import make_headroom, push_headers
from vforward.elements.ip.icmperror import ICMP_CODES, ICMP_TYPES, _checksum, _number
from vforward.elements.ip.ipfields import PROTO_ICMP

# the informational types too, which ICMPError does not make
_TYPES = {**ICMP_TYPES, "echoreply": 0, "echo-reply": 0, "echo": 8, "routeradvert": 9,
          "routersolicit": 10, "timestamp": 13, "timestampreply": 14, "inforeq": 15,
          "inforeqreply": 16, "maskreq": 17, "maskreqreply": 18}
_HEADERS = 28   # IP (20) + ICMP (8)


class ICMPIPEncap(Element):
    """ICMPIPEncap(SRC, DST, TYPE [, CODE, KEYWORDS]) -- encapsulate packets in ICMP and IP headers

    Ports: 1 input, 1 output; agnostic.

    Prepends an 8-byte ICMP header (TYPE, CODE, checksum, then IDENTIFIER
    and a sequence number counting up from 0 for echo and the other query
    types, zeros otherwise) and a 20-byte IP header from SRC to DST (TTL
    255, protocol ICMP), both checksummed, so each packet's data becomes the
    ICMP payload.  Sets the destination address annotation to DST and the
    network header annotation.  A packet that does not fit its slot with
    the headers is dropped and counted.

    Arguments:
      SRC, DST (IP address)   the IP addresses
      TYPE (integer or name)  the ICMP type: echo, unreachable, timeexceeded ... or 0-255
      CODE (integer or name, default 0)   the ICMP code (for TYPE: net, host, port ...)

    Keyword arguments:
      IDENTIFIER (integer, default 0)   the identifier of echo and other queries

    Handlers:
      drops (read)   packets dropped for lack of room
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.src = args.mandatory("SRC", ip_address)
        self.dst = args.mandatory("DST", ip_address)
        self.type = args.mandatory("TYPE", lambda t: _number(t, _TYPES, "an ICMP type"))
        code = args.positional("CODE", str, default="0")
        self.identifier = args.keyword("IDENTIFIER", unsigned, default=0) & 0xFFFF
        args.finish()
        self.code = _number(code, ICMP_CODES.get(self.type, {}), "an ICMP code for this type")
        self._seq = 0
        self.drops = 0

    def _headers(self, payload: bytes) -> bytes:
        query = self.type in (0, 8, 13, 14, 15, 16, 17, 18)
        rest = struct.pack("!HH", self.identifier, self._seq & 0xFFFF) if query else bytes(4)
        if query:
            self._seq += 1
        icmp = struct.pack("!BBH", self.type, self.code, 0) + rest
        icmp = icmp[:2] + struct.pack("!H", _checksum(icmp + payload)) + icmp[4:]
        ip = struct.pack("!BBHHHBBHII", 0x45, 0, _HEADERS + len(payload), 0, 0, 255,
                         PROTO_ICMP, 0, self.src, self.dst)
        ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
        return ip + icmp

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        keep = make_headroom(pool, idx, _HEADERS)
        keep &= pool.length[idx].astype(np.int64) + _HEADERS <= 0xFFFF
        ok = idx[keep]
        if len(ok):
            rows = np.empty((len(ok), _HEADERS), dtype=np.uint8)
            for i, slot in enumerate(ok.tolist()):
                off, n = int(pool.off[slot]), int(pool.length[slot])
                rows[i] = np.frombuffer(self._headers(bytes(pool.data[slot, off:off + n])), np.uint8)
            push_headers(pool, ok, rows)
            pool.nh[ok] = pool.off[ok]
            pool.dst_ip[ok] = self.dst
        if not keep.all():
            self.drops += int((~keep).sum())
            Batch(pool, idx[~keep]).kill()
            return Batch(pool, ok)
        return batch

    @read_handler("drops")
    def read_drops(self):
        return self.drops
