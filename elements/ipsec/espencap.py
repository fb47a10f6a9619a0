"""IPsecESPEncap and IPsecESPUnencap: the ESP header and trailer (RFC 4303), tunnel mode."""
from __future__ import annotations

import os

from vforward.args import unsigned
from vforward.element import read_handler

from vforward.elements.ipsec.espstage import ESPStage
from vforward.elements.ipsec.securityassociation import (BLOCK, ESP_HEADER_LEN, ICV_GOOD,
                                                         ICV_BAD, ICV_LEN, IV_LEN, SPI_LEN)

NEXT_IPV4, NEXT_IPV6, NEXT_NONE = 4, 41, 59


class IPsecESPEncap(ESPStage):
    """IPsecESPEncap([SPI]) -- add the ESP header and trailer to IP packets (tunnel mode)

    Ports: 1 input, 1 output; agnostic.

    Wraps each packet, a whole IP packet, in ESP (RFC 4303) for the
    security association its ipsec_sa annotation names (RadixIPsecLookup
    sets it on the packets it sends out of output 1), or SPI when a packet
    has no annotation.  In front: the SPI, the SA's next sequence number and
    a 16-byte random IV; behind: padding 1, 2, 3 ... (RFC 4303's default)
    that rounds payload, pad length and next header up to the 16-byte AES
    block, the pad length, and the next header 4 (IPv4; 41 for an IPv6
    packet).  Then IPsecAuthHMACSHA1(0) and IPsecAES(1), in either order,
    and IPsecEncap(50).

    Where this differs from Click's IPsecESPEncap, vforward follows the RFC:
    Click writes an 8-byte IV (DES's), pads to 8 bytes, and puts the inner
    packet's protocol (1 for ICMP ...) in the next header, where tunnel mode
    says 4; it starts the sequence again from REPLAY after 2^32 - 1, where
    this element drops (and counts) the packets of a used-up SA, which must
    be rekeyed.  A Click router and a vforward router therefore do not
    understand each other's ESP; any RFC 4303 peer with AES-128-CBC and
    HMAC-SHA1-96 does.

    Packets without an SA, that are not IP, or that the slot has no room
    for are dropped and counted.

    Arguments:
      SPI (integer, 0)   the SA for packets without the ipsec_sa annotation;
                         Click documents it and ignores it

    Handlers:
      count (read)   packets encapsulated
      drops (read)   packets dropped
    """

    def configure(self, args):
        self.default_spi = args.positional("SPI", unsigned, default=0)
        super().configure(args)

    def apply(self, pkt, sa):
        data = pkt.data
        if not len(data):
            return False
        version = int(data[0]) >> 4
        if version not in (4, 6):
            return False
        n = len(data)
        padlen = (BLOCK - (n + 2) % BLOCK) % BLOCK
        if pkt.headroom() < ESP_HEADER_LEN or pkt.tailroom() < padlen + 2:
            return False
        seq = sa.take_sequence()
        if seq is None:
            return False
        header = (sa.spi.to_bytes(SPI_LEN, "big") + seq.to_bytes(4, "big")
                  + os.urandom(IV_LEN))
        pkt.push(ESP_HEADER_LEN)[:] = memoryview(header)
        pkt.put(padlen + 2)[:] = memoryview(bytes(range(1, padlen + 1))
                                            + bytes((padlen, NEXT_IPV4 if version == 4
                                                     else NEXT_IPV6)))
        pkt.ipsec_spi = sa.spi
        pkt.ipsec_sa = sa.handle
        pkt.ipsec_state = 0
        return True


class IPsecESPUnencap(ESPStage):
    """IPsecESPUnencap() -- remove the ESP header and trailer, with the replay check

    Ports: 1 input, 1 output; agnostic.

    Takes ESP packets (starting at the SPI) whose payload IPsecAES(0)
    decrypted and IPsecAuthHMACSHA1(1) authenticated, in either order, and
    gives back the packet they carry, with the network header annotation at
    its start (for CheckIPHeader).

    Checks, each failure dropped and counted: the sequence number against
    the SA's replay window (RFC 4303 section 3.4.3: a number already
    received, or older than the window of OOSIZE packets, is a replay; the
    window moves only for packets that get here, that is after their ICV
    was verified); the padding, which must be 1, 2, 3 ... as
    IPsecESPEncap writes it; a packet that authentication found forged; a
    dummy packet (next header 59), dropped as the RFC asks.  A
    configuration without IPsecAuthHMACSHA1(1) accepts packets without an
    integrity check (ESP for confidentiality only, which RFC 4303 allows
    and advises against).

    Click's IPsecESPUnencap keeps the window in a 32-bit bitmap whatever
    OOSIZE says, and resets it when the REPLAY value comes round again;
    here the window is OOSIZE packets wide and never resets.

    Handlers:
      count (read)     packets decapsulated
      drops (read)     packets dropped, replays included
      replays (read)   packets dropped by the replay check
    """

    def configure(self, args):
        super().configure(args)
        self.replays = 0

    def apply(self, pkt, sa):
        state = pkt.ipsec_state
        if state & ICV_BAD:
            return False
        if state & ICV_GOOD:            # decrypted and checked, ICV still on the tail
            if pkt.length < ICV_LEN:
                return False
            pkt.take(ICV_LEN)
        data = pkt.data
        if len(data) < ESP_HEADER_LEN + BLOCK:
            return False
        seq = int.from_bytes(data[4:8].tobytes(), "big")
        if sa.replayed(seq):
            self.replays += 1
            return False
        padlen, next_header = int(data[-2]), int(data[-1])
        body = len(data) - ESP_HEADER_LEN
        if padlen + 2 > body or data[-2 - padlen:-2].tobytes() != bytes(range(1, padlen + 1)):
            return False
        if next_header == NEXT_NONE:
            return False
        sa.accept(seq)
        pkt.pull(ESP_HEADER_LEN)
        pkt.take(padlen + 2)
        pkt.nh = pkt.offset
        pkt.ipsec_state = 0
        return True

    @read_handler("replays")
    def read_replays(self):
        return self.replays
