"""IPReassembler: rebuild IPv4 datagrams from their fragments."""
from __future__ import annotations

import struct

import numpy as np

from vforward.args import seconds, unsigned
from vforward.element import Element, PUSH_ONLY, read_handler

from vforward.elements.ip.icmperror import _checksum


class IPReassembler(Element):
    """IPReassembler([KEYWORDS]) -- reassemble fragmented IP packets

    Ports: 1 input, 1 or 2 outputs; push.

    Expects IP packets with the network header annotation set.  A packet
    that is not a fragment passes to output 0 at once.  Fragments are held,
    per (source, destination, protocol, IP ID), until the datagram is
    whole -- the first fragment, the last (MF clear) and no gap -- and then
    leave on output 0 as one packet: the first fragment's link header and
    IP header (MF and offset cleared, total length and checksum set) and
    the payloads in order.  Overlapping fragments keep the bytes that came
    first.  Datagrams not completed within TIMEOUT, or past MEM_HIGH_THRESH
    bytes held, are dropped (oldest first); bad packets go to output 1, or
    are dropped.  (Python per fragment: fragments are rare.)

    Keyword arguments:
      TIMEOUT (time, default 30s)               how long an incomplete datagram waits
      MEM_HIGH_THRESH (integer, default 256 KB) most bytes held
      MEM_LOW_THRESH (integer)                  accepted for Click compatibility

    Handlers:
      drops (read)    fragments dropped (timed out, over memory, bad)
      stored (read)   bytes held now
    """
    PORTS = "1/1-2"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.timeout = args.keyword("TIMEOUT", seconds, default=30.0)
        self.mem_high = args.keyword("MEM_HIGH_THRESH", unsigned, default=256 * 1024)
        args.keyword("MEM_LOW_THRESH", unsigned, default=0)
        args.keyword("MAX_MTU_SIZE", unsigned, default=0)
        args.finish()
        self.drops = 0
        self._held: dict[tuple, dict] = {}
        self._stored = 0

    def _expire(self, now):
        for key in [k for k, d in self._held.items() if now - d["t"] > self.timeout]:
            self._forget(key)
        while self._stored > self.mem_high and self._held:
            self._forget(next(iter(self._held)))

    def _forget(self, key):
        d = self._held.pop(key)
        self.drops += len(d["frags"])
        self._stored -= sum(len(p) for _, p in d["frags"])

    def push(self, port, batch):
        pool = batch.pool
        now = self.router.now() if self.router else 0.0
        passing, bad, done = [], [], []
        for slot in batch.idx.tolist():
            off, nh = int(pool.off[slot]), int(pool.nh[slot])
            end = off + int(pool.length[slot])
            if not off <= nh <= end - 20:
                bad.append(slot)
                continue
            ip = pool.data[slot, nh:end].tobytes()
            hl = (ip[0] & 15) * 4
            ip_len, ident, frag = struct.unpack_from("!HHH", ip, 2)
            if frag & 0x3FFF == 0 or frag & 0x3FFF == 0x4000:
                passing.append(slot)
                continue
            if ip_len > len(ip) or ip_len < hl:
                bad.append(slot)
                continue
            key = (ip[12:20], ip[9], ident)
            d = self._held.setdefault(key, {"t": now, "frags": [], "head": None, "end": None})
            offset = (frag & 0x1FFF) * 8
            payload = ip[hl:ip_len]
            d["frags"].append((offset, payload))
            self._stored += len(payload)
            if offset == 0:
                d["head"] = (pool.data[slot, off:nh].tobytes(), ip[:hl])
            if not frag & 0x2000:
                d["end"] = offset + len(payload)
            pool.free(np.array([slot], dtype=batch.idx.dtype))
            whole = self._assemble(d)
            if whole is not None:
                done.append(whole)
                del self._held[key]
                self._stored -= sum(len(p) for _, p in d["frags"])
        self._expire(now)
        if bad:
            self.drops += len(bad)
            self.emit_or_drop(1, type(batch)(pool, np.array(bad, dtype=batch.idx.dtype)))
        out = np.array(passing, dtype=batch.idx.dtype)
        if done:
            made = pool.alloc(len(done))
            for s2, (link, ipdata) in zip(made.idx.tolist(), done):
                o = int(pool.off[s2])
                frame = link + ipdata
                pool.data[s2, o:o + len(frame)] = np.frombuffer(frame, dtype=np.uint8)
                pool.length[s2] = len(frame)
                pool.nh[s2] = o + len(link)
            out = np.concatenate((out, made.idx))
        if len(out):
            self.emit(0, type(batch)(pool, out))

    @staticmethod
    def _assemble(d):
        if d["head"] is None or d["end"] is None:
            return None
        data = bytearray(d["end"])
        have = np.zeros(d["end"], dtype=bool)
        for offset, payload in d["frags"]:
            part = payload[:max(0, d["end"] - offset)]
            new = ~have[offset:offset + len(part)]
            view = np.frombuffer(part, dtype=np.uint8)
            target = np.frombuffer(data, dtype=np.uint8)[offset:offset + len(part)]
            target[new] = view[new]
            have[offset:offset + len(part)] = True
        if not have.all():
            return None
        link, header = d["head"]
        header = bytearray(header)
        struct.pack_into("!HH", header, 2, len(header) + len(data),
                         struct.unpack_from("!H", header, 4)[0])
        struct.pack_into("!H", header, 6, struct.unpack_from("!H", header, 6)[0] & 0x4000)
        struct.pack_into("!H", header, 10, 0)
        struct.pack_into("!H", header, 10, _checksum(bytes(header)))
        return link, bytes(header) + bytes(data)

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("stored")
    def read_stored(self):
        return self._stored
