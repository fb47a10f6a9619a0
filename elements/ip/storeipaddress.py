"""StoreIPAddress: write an IP address into packets."""
from __future__ import annotations

import struct

from vforward.args import ArgumentError, ip_address, unsigned
from vforward.element import AGNOSTIC, Element

from vforward.elements.ip.ipfields import ipheader


def _offset(text: str):
    t = text.strip().lower()
    if t in ("src", "dst"):
        return t
    return unsigned(text)


class StoreIPAddress(Element):
    """StoreIPAddress([ADDR,] OFFSET) -- store an IP address in packets

    Ports: 1 input, 1 output; agnostic.

    Writes ADDR, or each packet's destination address annotation when ADDR
    is not given, into the packet OFFSET bytes from its start.  OFFSET may
    be `src` or `dst`: the source or destination field of the IP header at
    the network header annotation, whose checksum is then updated (RFC
    1624), as are TCP and UDP checksums that cover the address.  Packets
    too short for the write are dropped.

    Arguments:
      ADDR (IP address, default: the destination annotation)   what to store
      OFFSET (integer, src or dst)   where
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        rest = args.rest()
        args.finish()
        if len(rest) == 1:
            self.addr, self.offset = None, _offset(rest[0])
        elif len(rest) == 2:
            self.addr, self.offset = ip_address(rest[0]), _offset(rest[1])
        else:
            raise ArgumentError(f"{args.where}: expected [ADDR,] OFFSET")
        self.drops = 0

    def process(self, batch):
        pool = batch.pool
        keep = []
        for slot in batch.idx.tolist():
            off, end = int(pool.off[slot]), int(pool.off[slot]) + int(pool.length[slot])
            addr = self.addr if self.addr is not None else int(pool.dst_ip[slot])
            if self.offset in ("src", "dst"):
                nh = int(pool.nh[slot])
                pos = nh + (12 if self.offset == "src" else 16)
                if nh < off or pos + 4 > end:
                    keep.append(False)
                    continue
                old = struct.unpack(">I", pool.data[slot, pos:pos + 4].tobytes())[0]
                pool.data[slot, pos:pos + 4] = list(struct.pack(">I", addr))
                ck = struct.unpack(">H", pool.data[slot, nh + 10:nh + 12].tobytes())[0]
                ck = ipheader.incremental_checksum_update32(ck, old, addr)
                pool.data[slot, nh + 10:nh + 12] = list(struct.pack(">H", ck))
                self._fix_transport(pool, slot, nh, end, old, addr)
            else:
                pos = off + self.offset
                if pos + 4 > end:
                    keep.append(False)
                    continue
                pool.data[slot, pos:pos + 4] = list(struct.pack(">I", addr))
            keep.append(True)
        if not all(keep):
            import numpy as np
            batch, gone = batch.split(np.array(keep, dtype=bool))
            self.drops += len(gone.idx)
            gone.kill()
        return batch

    @staticmethod
    def _fix_transport(pool, slot, nh, end, old, new):
        data = pool.data[slot]
        hl = (int(data[nh]) & 15) * 4
        proto, frag = int(data[nh + 9]), int(data[nh + 6]) << 8 | int(data[nh + 7])
        if frag & 0x1FFF:
            return
        pos = nh + hl + (16 if proto == 6 else 6 if proto == 17 else -1 << 20)
        if pos < nh or pos + 2 > end:
            return
        ck = int(data[pos]) << 8 | int(data[pos + 1])
        if proto == 17 and ck == 0:
            return
        ck = ipheader.incremental_checksum_update32(ck, old, new)
        data[pos], data[pos + 1] = ck >> 8, ck & 0xFF
