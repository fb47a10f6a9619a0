"""IPAddrPairRewriter: Basic NAT keyed by (source, destination) address pairs."""
from __future__ import annotations

import functools

from vforward.elements.ip.ipaddrrewriter import IPAddrRewriter
from vforward.elements.ip.rewriter_table import ntoa


class IPAddrPairRewriter(IPAddrRewriter):
    """IPAddrPairRewriter(INPUTSPEC1, ..., INPUTSPECn [, KEYWORDS]) -- rewrite IP packets' addresses by address pair

    Ports: one input per INPUTSPEC; outputs 0 to the largest output an
    INPUTSPEC names, all connected; push.

    Basic NAT as Click's IPAddrPairRewriter: like IPAddrRewriter, but a
    mapping belongs to a (source, destination) address pair, not to a source
    address alone.  So one outside address serves many internal hosts at
    once, as long as they talk to different destinations, and a host gets a
    new mapping for each destination it talks to.

    A mapping says that packets from A to B leave from A' to B (on FOUT),
    and its reply mapping that packets from B to A' go to A (on ROUT).  A
    packet is looked up by its address pair; a packet with a mapping has its
    addresses rewritten, the IP checksum updated incrementally (RFC 1624),
    and the TCP or UDP checksum of a first (or only) fragment too (a zero UDP
    checksum stays zero); its destination address annotation is set to its
    destination.  A packet without one is handled by its input's INPUTSPEC,
    as in IPAddrRewriter:

      drop, pass OUT, keep FOUT ROUT     as in IPRewriter
      pattern SADDR - FOUT ROUT          map the source address to SADDR, which
                      may be a range A-B or a prefix A/LEN: an address is
                      chosen (at random, or in sequence with a '#' suffix)
                      that no mapping to this destination uses yet; none
                      free: the packet is dropped, a mapping failure.
      pattern NAME FOUT ROUT             a 2-field pattern of an IPRewriterPatterns

    The batch goes through the compiled kernel rewrite_addr_batch
    (cext/rewriter.pyx, pair mode) in one call; new mappings are made in
    Python.

    Keyword arguments:
      TIMEOUT (time, default 2h)         a mapping lives this long after its last packet
      REAP_INTERVAL (time, 15min)        how often expired mappings go; 0: never
      MAPPING_CAPACITY (integer or element, 65536)  most mappings at once
                                        (CAPACITY: synonym), or a rewriter whose
                                        capacity this one shares; see IPRewriter
      REPLY_ANNO (annotation, none)      set on reply packets to the value it had on
                                        the mapping's first packet (see IPRewriter)
      GUARANTEE (time, 5s)               at capacity a new mapping evicts the one that
                                        expires first among those idle this long, or
                                        is refused (see IPRewriter)

    Handlers:
      table (read)        '(A, B) => (A', B) [*FOUT ROUT] iINPUT expSECONDS' for each
                          mapping and '(B, A') => (B, A) [FOUT *ROUT] ...' for its reply
      nmappings, size, table_size (read)   mappings in the table
      mapping_failures (read)   mappings refused: no free address, table full
      capacity (read/write)     MAPPING_CAPACITY
      clear (write)       remove every mapping
      patterns (read)     each input's spec, with its live mapping count
      pattern0, pattern1, ... (read/write)   one input's spec; writing a new one
                          (same forms as INPUTSPEC) removes the flows it made
      drops (read), drop_details (read)   dropped packets, in all and per reason

    See also: IPAddrRewriter, IPRewriter.
    """

    def configure(self, args):
        super().configure(args)
        self._kernel = functools.partial(self._kernel, pair=True)

    def use_kernels(self, impl) -> None:
        super().use_kernels(impl)
        self._kernel = functools.partial(self._kernel, pair=True)

    def miss_key(self, row):
        return 0, int(row[0]), 0, int(row[1]), 0

    def format_flow(self, f, direction, now):
        t = self.table
        a, b = ntoa(t.key[f][0]), ntoa(t.key[f][2])
        na = ntoa(t.new[f][0])
        text = f"({a}, {b}) => ({na}, {b})" if direction == 0 else f"({b}, {na}) => ({b}, {a})"
        return text + self.ports_text(f, direction, now)
