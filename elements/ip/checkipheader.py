"""CheckIPHeader: validate the IP header of each packet, set nh and dst_ip."""
from __future__ import annotations

import sys

import numpy as np

from vforward.args import ArgumentError, anything, boolean, ip_address, \
    ip_address_and_prefix, unsigned
from vforward.element import Element, read_handler

from vforward.elements.ip.ipfields import ipheader

_EMPTY_ADDRS = np.zeros(0, dtype=np.uint32)


def _sorted_addresses(addresses) -> np.ndarray:
    return np.ascontiguousarray(np.sort(np.asarray(addresses, dtype=np.uint32)))


def address_list(text: str) -> np.ndarray:
    """A space-separated list of IPv4 addresses, as a sorted uint32 array."""
    return np.unique(np.array([ip_address(w) for w in text.split()], dtype=np.uint32))


def _interfaces(text: str) -> tuple[np.ndarray, np.ndarray]:
    """INTERFACES "ADDR/LEN ...": (bad sources, good destinations), as Click derives them."""
    bad, good = [0, 0xFFFFFFFF], []
    for word in text.split():
        addr, plen = ip_address_and_prefix(word)
        host_bits = (1 << (32 - plen)) - 1
        bad.append(addr | host_bits)           # the subnet's broadcast address
        good.append(addr)
    return np.unique(np.array(bad, dtype=np.uint32)), np.unique(np.array(good, dtype=np.uint32))


# Scratch for a batch of one: read before anything is emitted, so never reused early.
_ONE_REASON = np.empty(1, dtype=np.uint8)


class ReasonedHeaderCheck(Element):
    """The base of CheckIPHeader and CheckIP6Header: their kernel gives every
    packet a reason code, OK or why the header is bad.  A subclass sets
    REASONS (the kernel's words for the codes) and HEADER (for the warning),
    and in configure `verbose`, `drops = 0` and `reason_drops` (one counter
    per reason); its process ends with `_refuse`."""
    ABSTRACT = True
    PORTS = "1/1-2"
    PROCESSING = "a/ah"
    REASONS: tuple = ()
    HEADER = "IP"

    def _refuse(self, batch, reasons: np.ndarray, ok: np.ndarray):
        """Send the packets not `ok` to output 1 (or drop them), counted per
        reason and reported on stderr (the first one, or all when VERBOSE);
        return the good ones."""
        good_batch, bad_batch = batch.split(ok)
        bad_reasons = reasons[~ok]
        self.reason_drops += np.bincount(bad_reasons, minlength=len(self.REASONS))
        if self.drops == 0 or self.verbose:
            for r in (bad_reasons if self.verbose else bad_reasons[:1]).tolist():
                print(f"{self.name}: {self.HEADER} header check failed: {self.REASONS[r]}",
                      file=sys.stderr)
        self.drops += len(bad_reasons)
        self.emit_or_drop(1, bad_batch)
        return good_batch

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("drop_details")
    def read_drop_details(self):
        return "".join(f"{int(self.reason_drops[r])}\t{self.REASONS[r]}\n"
                       for r in range(1, len(self.REASONS)))


class CheckIPHeader(ReasonedHeaderCheck):
    """CheckIPHeader([OFFSET, KEYWORDS]) -- check IP headers

    Ports: 1 input, 1 or 2 outputs; agnostic input and output 0, push output 1.

    Expects an IP header OFFSET bytes into each packet.  Checks that the
    packet is long enough, and that the IP version, header length, total
    length and checksum are valid, and that the source address is not
    limited broadcast (255.255.255.255) or multicast, nor one of the bad
    source addresses given by INTERFACES or BADSRC.  A good packet gets its
    network header annotation (nh) set to the IP header and its destination
    address annotation (dst_ip) set to the IP destination, and is cut to the
    IP total length (link-layer padding goes); it leaves on output 0.

    Bad packets leave on output 1 when it is connected, and are dropped
    otherwise.  The first bad packet prints a message to standard error
    (every bad packet does with VERBOSE).

    The whole batch is checked by one call of the compiled kernel
    check_ip_header (cext/ipheader.pyx), address lists included (a binary
    search per packet).

    Arguments:
      OFFSET (integer, default 0)   where the IP header starts in the packet

    Keyword arguments:
      CHECKSUM (boolean, default true)   verify the IP header checksum
      INTERFACES "ADDR/LEN ..."   this router's interface addresses: their
                    subnet broadcast addresses, 0.0.0.0 and 255.255.255.255
                    are bad sources, except in packets to one of the
                    addresses themselves (RFC 1812 5.3.7)
      BADSRC "ADDR ..."    bad source addresses (instead of INTERFACES)
      GOODDST "ADDR ..."   destinations exempt from the BADSRC test
      VERBOSE (boolean, default false)   print a message for every bad packet
      DETAILS (boolean, default false)   accepted for Click compatibility;
                    per-reason counts are always kept

    Handlers:
      drops (read)          bad packets seen
      drop_details (read)   bad packets per reason, one "COUNT<tab>REASON" line
                            per reason, in Click's words
    """
    REASONS = ipheader.REASONS

    def configure(self, args):
        first = args.positional("OFFSET", anything, default=None)
        bad_src = good_dst = None
        if first is not None and "." in first:
            # Click's deprecated CheckIPHeader(BADSRC2, OFFSET): 0.0.0.0 and
            # 255.255.255.255 are bad sources besides the ones listed.
            bad_src = np.union1d(self._list(args, "BADSRC2", first),
                                 np.array([0, 0xFFFFFFFF], dtype=np.uint32))
            first = args.positional("OFFSET", anything, default=None)
        self.offset = self._convert(args, "OFFSET", unsigned, first, 0)
        interfaces = args.keyword("INTERFACES", anything, default=None)
        badsrc_kw = args.keyword("BADSRC", anything, default=None)
        gooddst_kw = args.keyword("GOODDST", anything, default=None)
        self.checksum = args.keyword("CHECKSUM", boolean, default=True)
        self.verbose = args.keyword("VERBOSE", boolean, default=False)
        self.details = args.keyword("DETAILS", boolean, default=False)
        args.finish()
        if interfaces is not None:
            if badsrc_kw is not None or gooddst_kw is not None or bad_src is not None:
                raise ArgumentError(f"{args.where}: INTERFACES already sets the bad sources and "
                                    "good destinations; give INTERFACES or BADSRC/GOODDST, "
                                    "not both")
            try:
                bad_src, good_dst = _interfaces(interfaces)
            except ArgumentError as e:
                raise ArgumentError(f"{args.where}: argument INTERFACES: {e}") from None
        if badsrc_kw is not None:
            listed = self._list(args, "BADSRC", badsrc_kw)
            bad_src = listed if bad_src is None else np.union1d(bad_src, listed)
        if gooddst_kw is not None:
            good_dst = self._list(args, "GOODDST", gooddst_kw)
        # Sorted uint32 arrays, as the kernel's binary search wants them.
        self._bad_src = _sorted_addresses(bad_src) if bad_src is not None and len(bad_src) \
            else None
        self._good_dst = _sorted_addresses(good_dst) if good_dst is not None and len(good_dst) \
            else None
        self.drops = 0
        self.reason_drops = np.zeros(len(self.REASONS), dtype=np.int64)

    @staticmethod
    def _convert(args, name, kind, text, default):
        if text is None:
            return default
        try:
            return kind(text)
        except ArgumentError as e:
            raise ArgumentError(f"{args.where}: argument {name}: {e}") from None

    @classmethod
    def _list(cls, args, name, text):
        return cls._convert(args, name, address_list, text, _EMPTY_ADDRS)

    # -- packets ----------------------------------------------------------
    def process(self, batch):
        idx = batch.idx
        n = len(idx)
        if n == 0:
            return batch
        # One packet (an idle one) reuses a scratch array: allocating a numpy
        # array costs microseconds when numpy's code is out of the caches.
        reasons = _ONE_REASON if n == 1 else np.empty(n, dtype=np.uint8)
        if ipheader.check_ip_header(batch.pool, idx, self.offset, self.checksum, reasons,
                                    self._bad_src, self._good_dst) == n:
            return batch
        return self._refuse(batch, reasons, reasons == ipheader.OK)

    def fused_push(self, port, resolve):
        from vforward.elements.ip.fusedinput import fused_input
        return fused_input(self, port, resolve)
