"""EtherLinkEncap and EtherLinkDecap: the Ethernet-over-UDP virtual link.

A virtual link between two routers carries each Ethernet frame as one UDP
datagram, the payload of a `Socket`, behind a 12-byte link header:

     0        1        2        3
    +--------+--------+--------+--------+
    |version |  type  |    reserved     |   version 1, type 0 = Ethernet frame
    +--------+--------+--------+--------+
    |         link key, 64 bits         |
    |          (network order)          |
    +--------+--------+--------+--------+

The key names the link: the two ends of one link share it, and two
experiments sharing a host (or a misconfigured port) cannot feed each
other frames, because the receiving end drops every datagram whose key,
version or sender is not its own, and counts it.

The underlay addresses are the Socket's, whatever the configuration says:
loopback for routers on one machine, the hosts' addresses in a lab that
spans several.  A link end is three elements:

    tap :: KernelTap(10.0.0.1/24, NETNS a);
    udp :: Socket(UDP, $PEER_IP, 7001, $MY_IP, 7000);
    tap -> EtherLinkEncap(KEY 42) -> udp;
    udp -> EtherLinkDecap(KEY 42, PEER $PEER_IP:7001) -> tap;

Over an IPv6 underlay the addresses are IPv6 ones and the peer is written
[$PEER_IP]:7001.
"""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, integer
from vforward.element import read_handler, write_handler
from vforward.elements.io.underlayaddress import (address_and_port, address_row, address_text,
                                                  endpoint_text)
from vforward.elements.tunnel.decapsulator import Decapsulator
from vforward.elements.tunnel.ipencap import Encapsulator, handler_value, header_kernels
from vforward.packet import Batch

LINK_VERSION = 1
TYPE_ETHERNET = 0
LINK_HEADER_LEN = 12
ETHER_HLEN = 14

_MASK = np.frombuffer(b"\xff\xff\x00\x00" + b"\xff" * 8, dtype=np.uint8)


def link_key(text: str) -> int:
    """A link key: an unsigned integer below 2**64 (decimal or 0x hexadecimal)."""
    v = integer(text)
    if not 0 <= v < 1 << 64:
        raise ArgumentError(f"expected a key between 0 and 2**64-1, got {text!r}")
    return v


def link_header(key: int, version: int = LINK_VERSION, kind: int = TYPE_ETHERNET) -> np.ndarray:
    """The 12 header bytes of a frame on link `key`."""
    raw = bytes([version, kind, 0, 0]) + key.to_bytes(8, "big")
    return np.frombuffer(raw, dtype=np.uint8).copy()


def peer_address(text: str) -> tuple[int, int, int]:
    """ADDR, ADDR:PORT, IPV6ADDR or [IPV6ADDR]:PORT: (family, address, port; 0 any)."""
    (family, addr), port = address_and_port(text)
    return family, addr, port or 0


class EtherLinkEncap(Encapsulator):
    """EtherLinkEncap(KEY) -- put Ethernet frames on an Ethernet-over-UDP virtual link

    Ports: 1 input, 1 output; agnostic.

    Prepends the 12-byte link header (version 1, type Ethernet, the 64-bit
    link KEY) to each frame, in the headroom and for the whole batch in one
    compiled call, so that a Socket sends the frame to the link's other end
    as one UDP datagram.  The other end runs EtherLinkDecap with the same
    KEY.  See elements/tunnel/etherlink.py for the header and a whole link.

    Arguments:
      KEY (integer < 2**64)   the link key (decimal or 0x hexadecimal)

    Handlers:
      key (read/write)        the link key
      count (read)            frames sent on
      drops (read)            frames dropped for want of headroom
    """
    HEADER_LEN = LINK_HEADER_LEN

    def configure(self, args):
        self.key = args.positional("KEY", link_key)
        args.finish()
        self._header = link_header(self.key)
        self.count = self.drops = 0

    def _push(self, pool, idx, short):
        header_kernels.push_header(pool, idx, self._header, short)

    @read_handler("key")
    def read_key(self):
        return self.key

    @write_handler("key")
    def write_key(self, value):
        self.key = handler_value(link_key, value, "key")
        self._header = link_header(self.key)


class EtherLinkDecap(Decapsulator):
    """EtherLinkDecap(KEY [, PEER]) -- take Ethernet frames off an Ethernet-over-UDP virtual link

    Ports: 1 input, 1 or 2 outputs; agnostic.

    Checks the link header of each datagram a Socket received and removes
    it: frames of this link (version 1, type Ethernet, the link KEY, sent by
    PEER) leave on output 0 as Ethernet frames.  Everything else goes to
    output 1 if it is connected, and is dropped otherwise; either way it is
    counted by reason:

      truncated     shorter than the link header and an Ethernet header
      bad_version   a version or type this end does not speak
      bad_key       another link's key (another experiment, a stale config)
      unknown_peer  sent from an address (and port, when PEER has one) that
                    is not PEER, read from the dst_ip (IPv6: dst_ip6) and
                    port annotations Socket sets on what it receives; an
                    IPv4 sender is never an IPv6 PEER, nor the reverse

    Arguments:
      KEY (integer < 2**64)   the link key
      PEER (ADDR[:PORT])      the other end's underlay address and port, IPv4
                              (192.0.2.1:7001) or IPv6 ([2001:db8::1]:7001, or
                              2001:db8::1 without a port); without PEER any
                              sender is accepted

    Handlers:
      key (read/write)        the link key
      peer (read/write)       the peer, ADDR:PORT (empty: any)
      count (read)            frames let through
      drops (read)            datagrams refused, all reasons
      truncated, bad_version, bad_key, unknown_peer (read)   refused, by reason
      reset (write)           set the counters to zero
    """
    HEADER_LEN = LINK_HEADER_LEN

    def configure(self, args):
        self.key = args.positional("KEY", link_key)
        self.peer = args.positional("PEER", peer_address, default=None)
        args.finish()
        self._pattern = link_header(self.key)
        self._peer_row = self._row(self.peer)
        self._reset()

    @staticmethod
    def _row(peer):
        return address_row(peer[1]) if peer is not None and peer[0] == 6 else None

    def _reset(self):
        self.count = self.truncated = self.bad_version = self.bad_key = self.unknown_peer = 0

    def _check(self, batch):
        pool, idx = batch.pool, batch.idx
        out = np.empty(len(idx), dtype=np.uint8)
        n_ok = header_kernels.match_header(pool, idx, self._pattern, _MASK, True, out)
        ok = out == header_kernels.MATCH_OK
        short = ok & (pool.length[idx] < ETHER_HLEN)
        if self.peer is not None:
            family, addr, port = self.peer
            if family == 6:     # Socket sets dst_ip to 0 for an IPv6 sender, else dst_ip6 is stale
                stranger = (pool.dst_ip[idx] != 0) | \
                    (pool.dst_ip6[idx] != self._peer_row).any(axis=1)
            else:
                stranger = pool.dst_ip[idx] != addr
            if port:
                stranger |= pool.port[idx] != port
            stranger &= ok & ~short
        else:
            stranger = None
        if n_ok == len(idx) and not short.any() and (stranger is None or not stranger.any()):
            self.count += n_ok
            return batch, Batch(pool, idx[:0])
        bad_short = short | (out == header_kernels.MATCH_SHORT)
        bad_version = (out == 0) | (out == 1)
        bad_key = (out >= 4) & (out < LINK_HEADER_LEN)
        self.truncated += int(bad_short.sum())
        self.bad_version += int(bad_version.sum())
        self.bad_key += int(bad_key.sum())
        keep = ok & ~short
        if stranger is not None:
            self.unknown_peer += int(stranger.sum())
            keep &= ~stranger
        return self._split(batch, ok, keep)

    @read_handler("key")
    def read_key(self):
        return self.key

    @write_handler("key")
    def write_key(self, value):
        self.key = handler_value(link_key, value, "key")
        self._pattern = link_header(self.key)

    @read_handler("peer")
    def read_peer(self):
        if self.peer is None:
            return ""
        family, addr, port = self.peer
        return endpoint_text(family, addr, port) if port else address_text(family, addr)

    @write_handler("peer")
    def write_peer(self, value):
        self.peer = handler_value(peer_address, value, "peer") if value.strip() else None
        self._peer_row = self._row(self.peer)

    @read_handler("drops")
    def read_drops(self):
        return self.truncated + self.bad_version + self.bad_key + self.unknown_peer

    @read_handler("truncated")
    def read_truncated(self):
        return self.truncated

    @read_handler("bad_version")
    def read_bad_version(self):
        return self.bad_version

    @read_handler("bad_key")
    def read_bad_key(self):
        return self.bad_key

    @read_handler("unknown_peer")
    def read_unknown_peer(self):
        return self.unknown_peer
