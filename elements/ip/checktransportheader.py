"""CheckUDPHeader, CheckTCPHeader, SetUDPChecksum, SetTCPChecksum."""
from __future__ import annotations

import numpy as np

from vforward.args import boolean
from vforward.element import Element

from vforward.elements.ip.headerchecker import HeaderChecker
from vforward.elements.ip.ipfields import ipheader

CKSUM_BAD, CKSUM_OK, CKSUM_NOT_CHECKED = 0, 1, 2


def _protocol_mask(pool, idx, proto: int) -> np.ndarray:
    """True where an IP header at nh lies in the packet and carries `proto`."""
    off = pool.off[idx].astype(np.int64)
    nh = pool.nh[idx].astype(np.int64)
    inside = (nh >= off) & (nh + 20 <= off + pool.length[idx])
    pos = np.minimum(nh + 9, pool.slot_size - 1)
    return inside & (pool.data[idx, pos] == proto)


class _CheckTransportHeader(HeaderChecker):
    PROTO = 0
    WHAT = ""

    def configure(self, args):
        self.verbose = args.keyword("VERBOSE", boolean, default=False)
        args.keyword("DETAILS", boolean, default=False)
        args.finish()
        self.drops = 0
        self._said = False

    def _good(self, batch) -> np.ndarray:
        pool, idx = batch.pool, batch.idx
        ok = np.empty(len(idx), dtype=np.uint8)
        ipheader.udp_tcp_checksum_ok(pool, idx, ok)
        return _protocol_mask(pool, idx, self.PROTO) & (ok == CKSUM_OK)

    def _bad_packet_text(self):
        return f"bad {self.WHAT} packet (not {self.WHAT}, too short, or a wrong checksum)"

    def _split(self, batch):
        return self._refuse(batch, self._good(batch))


class CheckUDPHeader(_CheckTransportHeader):
    """CheckUDPHeader([KEYWORDS]) -- check UDP header and checksum

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Expects IP packets with the network header annotation set (after
    CheckIPHeader).  A packet passes on output 0 if it is UDP, its UDP
    length fits the IP length, and its checksum is right (or 0, none);
    otherwise it leaves on output 1, or is dropped when output 1 is not
    connected.  Fragments after the first cannot be checked and fail.  The
    whole batch is checked in one call of the compiled kernel
    udp_tcp_checksum_ok (cext/ipheader.pyx, with its Python twin).

    Keyword arguments:
      VERBOSE (boolean, default false)   report every bad packet, not only the first
      DETAILS (boolean)                  accepted

    Handlers:
      drops (read)   bad packets seen
    """
    PROTO = 17
    WHAT = "UDP"


class CheckTCPHeader(_CheckTransportHeader):
    """CheckTCPHeader([KEYWORDS]) -- check TCP header and checksum

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Expects IP packets with the network header annotation set (after
    CheckIPHeader).  A packet passes on output 0 if it is TCP, holds a whole
    TCP header, and its checksum is right; otherwise it leaves on output 1,
    or is dropped when output 1 is not connected.  The whole batch is
    checked in one call of the compiled kernel udp_tcp_checksum_ok
    (cext/ipheader.pyx, with its Python twin).

    Keyword arguments:
      VERBOSE (boolean, default false)   report every bad packet, not only the first
      DETAILS (boolean)                  accepted

    Handlers:
      drops (read)   bad packets seen
    """
    PROTO = 6
    WHAT = "TCP"


class _SetTransportChecksum(Element):
    PORTS = "1/1"
    PROCESSING = "a/a"
    PROTO = 0

    def configure(self, args):
        args.finish()

    def process(self, batch):
        if len(batch.idx):
            mine = batch.idx[_protocol_mask(batch.pool, batch.idx, self.PROTO)]
            if len(mine):
                ipheader.set_transport_checksum(batch.pool, mine)
        return batch


class SetUDPChecksum(_SetTransportChecksum):
    """SetUDPChecksum -- set the UDP checksum of UDP packets

    Ports: 1 input, 1 output; agnostic.

    Expects IP packets with the network header annotation set.  Computes
    the UDP checksum (with the pseudo-header) of every unfragmented UDP
    packet and stores it; a computed 0 is sent as 0xFFFF.  Other packets
    pass unchanged.  Compiled kernel set_transport_checksum
    (cext/ipheader.pyx, with its Python twin).
    """
    PROTO = 17


class SetTCPChecksum(_SetTransportChecksum):
    """SetTCPChecksum -- set the TCP checksum of TCP packets

    Ports: 1 input, 1 output; agnostic.

    Expects IP packets with the network header annotation set.  Computes
    the TCP checksum (with the pseudo-header) of every unfragmented TCP
    packet and stores it.  Other packets pass unchanged.  Compiled kernel
    set_transport_checksum (cext/ipheader.pyx, with its Python twin).

    Keyword arguments:
      FIXOFF (boolean)   accepted for Click's sake
    """
    PROTO = 6

    def configure(self, args):
        args.keyword("FIXOFF", boolean, default=False)
        args.finish()
