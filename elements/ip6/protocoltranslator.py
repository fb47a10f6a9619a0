"""ProtocolTranslator64 and ProtocolTranslator46: IPv6 <-> IPv4 header translation."""
from __future__ import annotations

import numpy as np

from vforward.element import PUSH_ONLY, Element, read_handler, write_handler

from .siit import four_to_six, six_to_four


class _Translator(Element):
    PORTS = "1/1"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.count = 0
        self.drops = 0

    def direction(self, port):
        """(translate, annotate) for packets arriving on port."""
        return self.translate, self.annotate

    def push(self, port, batch):
        pool = batch.pool
        translate, annotate = self.direction(port)
        keep = np.zeros(len(batch.idx), dtype=bool)
        for i, pkt in enumerate(batch.packets()):
            out = translate(pkt.bytes())
            if out is None or pkt.offset + len(out) > pool.slot_size:
                continue
            pkt.set_bytes(out)
            pool.nh[pkt.slot] = pkt.offset
            annotate(pool, pkt.slot, out)
            keep[i] = True
        self.count += int(keep.sum())
        self.drops += int((~keep).sum())
        dropped = batch.select(~keep)
        if len(dropped):
            dropped.kill()
        self.emit(port, batch.select(keep))

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @write_handler("reset")
    def write_reset(self, _value=""):
        self.count = self.drops = 0


class ProtocolTranslator64(_Translator):
    """ProtocolTranslator64() -- translate IPv6 packets into IPv4 packets

    Ports: 1 input, 1 output; push.

    Translates each IPv6 packet (starting at its IPv6 header) into an IPv4
    packet, as a stateless IP/ICMP translator does (SIIT, RFC 7915): the
    source and destination must be IPv4-mapped (::ffff:a.b.c.d) or
    IPv4-compatible (::a.b.c.d) addresses, and become a.b.c.d.  The IPv4
    header gets the traffic class as TOS, the hop limit as TTL, identifier 0
    and don't-fragment set, and a right checksum.  TCP and UDP payloads
    keep their bytes and get their checksum recomputed over the IPv4
    pseudo-header.  ICMPv6 becomes ICMP: echo request/reply (128/129) become
    8/0; destination unreachable, packet too big (as fragmentation needed,
    MTU less 20), time exceeded and parameter problem become their IPv4
    counterparts, with the quoted packet translated as well.  The output
    packet's destination annotation is its IPv4 destination.

    Packets that cannot be translated are dropped and counted: addresses
    without an IPv4 address inside, extension headers (fragments
    included), ICMPv6 messages with no IPv4 twin (neighbour discovery),
    truncated packets.  Works per packet in Python: translation is an edge
    function, not a forwarding hot path.

    Handlers:
      count (read)   packets translated
      drops (read)   packets dropped as untranslatable
      reset (write)  zero both counts

    See also: ProtocolTranslator46, AddressTranslator.
    """

    @staticmethod
    def translate(packet):
        return six_to_four(packet)

    @staticmethod
    def annotate(pool, slot, out):
        pool.dst_ip[slot] = int.from_bytes(out[16:20], "big")


class ProtocolTranslator46(_Translator):
    """ProtocolTranslator46() -- translate IPv4 packets into IPv6 packets

    Ports: 1 input, 1 output; push.

    Translates each IPv4 packet (starting at its IP header) into an IPv6
    packet (SIIT, RFC 7915): source and destination a.b.c.d become the
    IPv4-mapped ::ffff:a.b.c.d, TOS becomes the traffic class, TTL the hop
    limit; IP options are left out.  TCP and UDP checksums are recomputed
    over the IPv6 pseudo-header (a UDP checksum of 0 gets a real one, IPv6
    requires it).  ICMP becomes ICMPv6: echo request/reply (8/0) become
    128/129; unreachable (fragmentation needed becoming packet too big with
    the MTU plus 20, protocol unreachable becoming a parameter problem),
    time exceeded and parameter problem become their IPv6 counterparts,
    with the quoted packet translated too and the ICMPv6 checksum over the
    pseudo-header.  The output packet's dst_ip6 annotation is its
    destination.

    Fragments, truncated packets and ICMP types with no IPv6 twin
    (timestamp, redirect, source quench ...) are dropped and counted.
    Works per packet in Python.

    Handlers:
      count (read)   packets translated
      drops (read)   packets dropped as untranslatable
      reset (write)  zero both counts

    See also: ProtocolTranslator64, AddressTranslator.
    """

    @staticmethod
    def translate(packet):
        return four_to_six(packet)

    @staticmethod
    def annotate(pool, slot, out):
        pool.dst_ip6[slot] = np.frombuffer(out[24:40], dtype=np.uint8)


class ProtocolTranslator(_Translator):
    """ProtocolTranslator() -- an older Click's IPv6 <-> IPv4 translator, both ways in one

    Ports: 2 inputs, 2 outputs; push.

    The translator of Click's first NAT-PT gateway (2000-2001), since split
    into ProtocolTranslator64 and ProtocolTranslator46.  IPv6 packets on
    input 0 leave as IPv4 packets on output 0, as ProtocolTranslator64
    translates them; IPv4 packets on input 1 leave as IPv6 packets on
    output 1, as ProtocolTranslator46 translates them.  Untranslatable
    packets (an IPv4 packet on input 0, say) are dropped and counted.
    Accepted with a warning naming the two elements today's Click has.

    Handlers:
      count (read)   packets translated, both ways
      drops (read)   packets dropped as untranslatable
      reset (write)  zero both counts

    See also: ProtocolTranslator64, ProtocolTranslator46, AddressTranslator.
    """
    PORTS = "2/2"

    def configure(self, args):
        super().configure(args)
        args.warn("ProtocolTranslator is an older Click's element; "
                  "today's Click splits it into ProtocolTranslator64 (its input 0 -> output 0) "
                  "and ProtocolTranslator46 (its input 1 -> output 1)")

    def direction(self, port):
        if port == 0:
            return ProtocolTranslator64.translate, ProtocolTranslator64.annotate
        return ProtocolTranslator46.translate, ProtocolTranslator46.annotate
