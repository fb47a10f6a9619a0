"""IPEncap: wraps packets in an IPv4 header, and the headroom discipline of all tunnels.

Every encapsulating element of this folder writes its headers into the
headroom in front of the packets with one compiled call per batch
(cext/udpio.pyx, with a plain-Python twin); `encapsulate` is that call plus
the rare slow path for packets that have run out of headroom, and
`Encapsulator` the element around it: the count and drops handlers every
encapsulating element has.  `IPv4Encapsulator` adds the outer addresses'
src and dst handlers that IPEncap and UDPIPEncap share.
"""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, boolean, ip_address, unsigned
from vforward.element import AGNOSTIC, Element, HandlerError, read_handler, write_handler
from vforward.elements.ether.ethernet import make_headroom, unparse_ip
from vforward.offload import software_offload
from vforward.packet import Batch

from vforward import kernels

header_kernels = kernels.load("udpio")

IP_PROTOCOLS = {"icmp": 1, "igmp": 2, "ipip": 4, "tcp": 6, "udp": 17, "ipv6": 41,
                "gre": 47, "esp": 50, "ah": 51, "icmp6": 58, "ospf": 89, "sctp": 132}


def encapsulate(batch: Batch, n_bytes: int, push) -> tuple[Batch, int]:
    """Run push(pool, idx, out_short) over the batch; returns (batch, n_dropped).

    Packets the kernel flags as short of headroom get room made (their bytes
    move inside the slot, the one copy in this folder) and are pushed again;
    any that still cannot take n_bytes more are dropped, as Click drops a
    packet whose push fails.
    """
    pool, idx = batch.pool, batch.idx
    short = np.empty(len(idx), dtype=np.uint8)
    push(pool, idx, short)
    if not short.any():
        return batch, 0
    retry = idx[short.view(bool)]
    room = make_headroom(pool, retry, n_bytes)
    again = np.ascontiguousarray(retry[room])
    short2 = np.empty(len(again), dtype=np.uint8)
    if len(again):
        push(pool, again, short2)
    failed = np.concatenate((retry[~room], again[short2.view(bool)]))
    if not len(failed):
        return batch, 0
    pool.free(failed)
    return Batch(pool, idx[~np.isin(idx, failed)]), len(failed)


def ip_protocol(text: str) -> int:
    """An IP protocol number or name (udp, tcp, icmp, ipip, gre, ...)."""
    t = text.strip().lower()
    if t in IP_PROTOCOLS:
        return IP_PROTOCOLS[t]
    try:
        v = int(t, 0)
    except ValueError:
        raise ArgumentError(f"expected an IP protocol number or name such as udp or 4, "
                            f"got {text!r}") from None
    if not 0 <= v <= 255:
        raise ArgumentError(f"expected an IP protocol between 0 and 255, got {text!r}")
    return v


def destination(text: str) -> int | None:
    """An IPv4 address, or DST_ANNO (None): take each packet's dst_ip annotation."""
    if text.strip().upper() == "DST_ANNO":
        return None
    return ip_address(text)


def byte_value(text: str) -> int:
    v = unsigned(text)
    if v > 255:
        raise ArgumentError(f"expected a number between 0 and 255, got {text!r}")
    return v


def handler_value(kind, value: str, name: str):
    """kind(value) for write handler `name`, its ArgumentError a HandlerError."""
    try:
        return kind(value.strip())
    except ArgumentError as e:
        raise HandlerError(f"{name}: {e}") from None


def set_address(text: str, name: str, allow_anno: bool = False):
    try:
        return destination(text) if allow_anno else ip_address(text)
    except ArgumentError as e:
        raise HandlerError(f"{name}: {e}") from None


class Encapsulator(Element):
    """The base of the elements that prepend a header: each batch goes through
    `encapsulate(batch, HEADER_LEN, self._push)`, packets that get their header
    are counted in `count`, those without room for it in `drops`.  A subclass
    sets HEADER_LEN and gives _push(pool, idx, short), a header_kernels call."""
    ABSTRACT = True
    PORTS = "1/1"
    PROCESSING = AGNOSTIC
    HEADER_LEN = 0

    def _push(self, pool, idx, short):
        raise NotImplementedError

    def _count(self, batch: Batch, dropped: int) -> Batch:
        self.drops += dropped
        self.count += len(batch.idx)
        return batch

    def process(self, batch):
        batch, dropped = software_offload(batch)    # the outer headers make it a tunnel packet
        self.drops += dropped
        return self._count(*encapsulate(batch, self.HEADER_LEN, self._push))

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops


class IPv4Encapsulator(Encapsulator):
    """An Encapsulator whose outer IPv4 header has addresses `src` and `dst`
    (None: DST_ANNO), with read/write handlers for both."""
    ABSTRACT = True

    @read_handler("src")
    def read_src(self):
        return unparse_ip(self.src)

    @write_handler("src")
    def write_src(self, value):
        self.src = set_address(value, "src")

    @read_handler("dst")
    def read_dst(self):
        return "DST_ANNO" if self.dst is None else unparse_ip(self.dst)

    @write_handler("dst")
    def write_dst(self, value):
        self.dst = set_address(value, "dst", allow_anno=True)


class IPEncap(IPv4Encapsulator):
    """IPEncap(PROTO, SRC, DST [, KEYWORDS]) -- encapsulate packets in a static IP header

    Ports: 1 input, 1 output; agnostic.

    Prepends to each packet a 20-byte IPv4 header with protocol PROTO,
    source SRC and destination DST, as Click's IPEncap: IP-in-IP with
    `IPEncap(ipip, 10.0.0.1, 10.0.0.2)`.  DST may be DST_ANNO, for the
    packet's destination annotation.  The header's total length, an ID
    counting up and its checksum are filled in; the IP header annotation
    (nh) points at it and the destination annotation is set to DST.

    The header goes into the headroom in front of each packet, for the whole
    batch in one compiled call: no packet byte moves (a packet that has no
    headroom left is moved once inside its slot, or dropped and counted if
    it cannot take the header at all).

    Arguments:
      PROTO (protocol)          a number or a name: ipip, udp, tcp, icmp, gre ...
      SRC (IP address)          the source address
      DST (IP address)          the destination address, or DST_ANNO

    Keyword arguments:
      TTL (byte, 250)           the time-to-live
      TOS (byte, 0)             the type-of-service byte (not with DSCP, ECT or CE)
      DSCP (0..63, 0)           the DSCP bits
      ECT (boolean or 2)        set the ECN bits to ECT(1) (true) or ECT(0) (2)
      CE (boolean, false)       set the ECN bits to CE
      DF (boolean, false)       set the Don't Fragment bit

    Handlers:
      src (read/write)          the source address
      dst (read/write)          the destination address (DST_ANNO allowed)
      count (read)              packets encapsulated
      drops (read)              packets dropped for want of room
    """
    HEADER_LEN = 20

    def configure(self, args):
        self.proto = args.positional("PROTO", ip_protocol)
        self.src = args.positional("SRC", ip_address)
        self.dst = args.positional("DST", destination)
        self.header_keywords(args)

    def header_keywords(self, args) -> None:
        """TTL, TOS or DSCP/ECT/CE, DF: the rest of the header, then the end of the arguments."""
        self.ttl = args.keyword("TTL", byte_value, default=250)
        tos = args.keyword("TOS", byte_value, default=None)
        dscp = args.keyword("DSCP", unsigned, default=None)
        ect = args.keyword("ECT", str, default=None)
        ce = args.keyword("CE", boolean, default=False)
        self.df = args.keyword("DF", boolean, default=False)
        args.finish()
        if tos is not None and (dscp is not None or ect is not None or ce):
            raise ArgumentError(f"{args.where}: give TOS, or DSCP/ECT/CE, not both")
        if dscp is not None and dscp > 63:
            raise ArgumentError(f"{args.where}: argument DSCP: must be between 0 and 63")
        ecn = 0
        if ect is not None:
            ecn = 2 if ect.strip() == "2" else (1 if boolean(ect) else 0)
        if ce:
            ecn = 3
        self.tos = tos if tos is not None else ((dscp or 0) << 2) | ecn
        self.ip_id = 0
        self.count = self.drops = 0

    def _push(self, pool, idx, short):
        self.ip_id = header_kernels.push_ip(pool, idx, self.proto, self.src, self.dst or 0,
                                            self.tos, self.ttl, self.df, self.ip_id,
                                            self.dst is None, short)
