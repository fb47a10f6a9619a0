"""IPAddrRewriter: Basic NAT, rewriting source addresses of any IP protocol."""
from __future__ import annotations

from vforward.args import ArgumentError, seconds

from vforward.elements.ip.rewriter_table import IPRewriterBase, ntoa


class IPAddrRewriter(IPRewriterBase):
    """IPAddrRewriter(INPUTSPEC1, ..., INPUTSPECn [, KEYWORDS]) -- rewrite IP packets' addresses

    Ports: one input per INPUTSPEC; outputs 0 to the largest output an
    INPUTSPEC names, all connected; push.

    Basic NAT, as Click's IPAddrRewriter: internal hosts get outside
    addresses while they talk, for any IP protocol; only as many hosts as
    there are outside addresses can talk at once.  Input packets need the
    network header annotation.

    A mapping says that packets from address A leave from A' (on FOUT),
    and its reply mapping that packets to A' go to A (on ROUT).  A packet
    is looked up by its source address, then by its destination address;
    a packet with a mapping has that address rewritten, the IP checksum
    updated incrementally (RFC 1624), and the TCP or UDP checksum of a
    first (or only) fragment too (a zero UDP checksum stays zero); its
    destination address annotation is set to its destination.  A packet
    without one is handled by its input's INPUTSPEC:

      drop, pass OUT, keep FOUT ROUT     as in IPRewriter
      pattern SADDR - FOUT ROUT          map the source address to SADDR, which
                      may be a range A-B or a prefix A/LEN (without its .0 and
                      broadcast addresses): a free address is chosen at
                      random, or in sequence with a '#' suffix; none free:
                      the packet is dropped, a mapping failure.  SADDR '-'
                      keeps the address.  The destination must be '-'.
      pattern SADDR SPORT - DPORT FOUT ROUT   Click's 4-field form: the ports
                      are checked as IPRewriter's, then ignored.
      pattern NAME FOUT ROUT             a 2-field pattern of an IPRewriterPatterns

    Packets with a broken IP header are dropped (or sent to a 'pass'
    input's output).  ICMP errors are passed through the address mapping
    like any packet; their quoted headers are not translated.

    The batch goes through the compiled kernel rewrite_addr_batch
    (cext/rewriter.pyx) in one call; new mappings are made in Python.

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
      table (read)        'A => A' [*FOUT ROUT] iINPUT expSECONDS' for each mapping
                          and 'A' => A [FOUT *ROUT] ...' for its reply
      nmappings, size, table_size (read)   mappings in the table
      mapping_failures (read)   mappings refused: no free address, table full
      capacity (read/write)     MAPPING_CAPACITY
      clear (write)       remove every mapping
      patterns (read)     each input's spec, with its live mapping count
      pattern0, pattern1, ... (read/write)   one input's spec; writing a new one
                          (same forms as INPUTSPEC) removes the flows it made
      drops (read), drop_details (read)   dropped packets, in all and per reason
    """
    NAPT = False
    KERNEL = "rewrite_addr_batch"

    def configure_keywords(self, args):
        self.timeouts.other = args.keyword("TIMEOUT", seconds, default=2 * 3600.0)

    def configure(self, args):
        super().configure(args)
        for i, spec in enumerate(self.specs):
            if spec.pattern is not None and spec.pattern.daddr is not None:
                raise ArgumentError(f"{args.where}: input spec {i} ({spec.text!r}): the "
                                    "destination must be '-': IPAddrRewriter rewrites source "
                                    "addresses only")

    def miss_key(self, row):
        return 0, int(row[0]), 0, 0, 0

    def format_flow(self, f, direction, now):
        t = self.table
        a, na = ntoa(t.key[f][0]), ntoa(t.new[f][0])
        text = f"{a} => {na}" if direction == 0 else f"{na} => {a}"
        return text + self.ports_text(f, direction, now)
