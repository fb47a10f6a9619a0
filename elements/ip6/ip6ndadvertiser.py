"""IP6NDAdvertiser: answer IPv6 neighbour solicitations for our own addresses."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, boolean, mac_address
from vforward.element import AGNOSTIC, Element, read_handler
from vforward.packet import PoolExhausted

from vforward.elements.ether.ethernet import scatter

from .ip6family import ip6_address, ip6_text
from .ndmessages import (ADV_OVERRIDE, ADV_ROUTER, ADV_SOLICITED, ALL_NODES, ND_FRAME_LEN,
                         ND_SOLICIT, NDMessage, UNSPECIFIED, advertisement, multicast_mac)


def _entry(text: str) -> tuple[int, int, bytes]:
    """'IP6[/LEN] ETH' -> (prefix, length, MAC)."""
    words = text.split()
    if len(words) != 2:
        raise ArgumentError(f"{text!r}: expected 'IP6[/LEN] ETH' such as "
                            "'2001:db8::1 00:11:22:33:44:55'")
    addr_text, slash, len_text = words[0].partition("/")
    addr = ip6_address(addr_text)
    if addr is None:
        raise ArgumentError(f"{text!r}: {addr_text!r} is not an IPv6 address")
    plen = 128
    if slash:
        if not len_text.isdigit() or int(len_text) > 128:
            raise ArgumentError(f"{text!r}: {len_text!r} is not a prefix length 0..128")
        plen = int(len_text)
    mask = ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
    return addr & mask, plen, mac_address(words[1])


class IP6NDAdvertiser(Element):
    """IP6NDAdvertiser(IP6 ETH, ... [, ROUTER]) -- answer IPv6 neighbour solicitations

    Ports: 1 input, 1 output; agnostic.

    Input takes Ethernet frames holding IPv6 neighbour solicitations (RFC
    4861 4.3).  Each argument 'IP6 ETH' says that address IP6 is at Ethernet
    address ETH; 'IP6/LEN ETH' answers for every address of the prefix (proxy
    neighbour discovery).  A valid solicitation (hop limit 255, code 0,
    checksum right, RFC 4861 7.1.1) for a target we answer for gets a
    neighbour advertisement, sent to the solicitation's source (to the
    all-nodes group ff02::1 when it came from ::, a duplicate address
    detection probe), from the target, with the Override flag, the
    Solicited flag when the solicitation had a source, the Router flag when
    ROUTER is true, and the target link-layer address option.  Everything
    else is dropped and counted.

    Keyword arguments:
      ROUTER (boolean, default true)   set the Router flag (this is a router)

    Example:
      c :: Classifier(12/86dd 20/3a 54/87, ...);
      c[0] -> IP6NDAdvertiser(2001:db8:1::1 02:00:00:00:01:01,
                              fe80::1 02:00:00:00:01:01) -> ToDevice(eth0);

    Handlers:
      count (read)   advertisements sent
      drops (read)   frames not answered
      table (read)   the addresses answered for, one 'IP6/LEN ETH' per line
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.router_flag = args.keyword("ROUTER", boolean, default=True)
        texts = args.rest()
        args.finish()
        if not texts:
            raise ArgumentError(f"{args.where}: no addresses; give 'IP6 ETH' for each address "
                                "to answer for")
        self.entries = []
        for i, text in enumerate(texts, 1):
            try:
                self.entries.append(_entry(text))
            except ArgumentError as e:
                raise ArgumentError(f"{args.where}: argument {i}: {e}") from None
        self.count = self.drops = 0

    def _mac_for(self, target: bytes) -> bytes | None:
        t = int.from_bytes(target, "big")
        best = None
        for prefix, plen, mac in self.entries:
            mask = ((1 << 128) - 1) ^ ((1 << (128 - plen)) - 1)
            if t & mask == prefix and (best is None or plen > best[0]):
                best = (plen, mac)
        return None if best is None else best[1]

    def process(self, batch):
        pool = batch.pool
        answers = []
        for slot in batch.idx.tolist():
            m = NDMessage.parse(pool.packet_bytes(slot))
            mac = None if m is None or m.type != ND_SOLICIT else self._mac_for(m.target)
            if mac is None:
                self.drops += 1
                continue
            flags = ADV_OVERRIDE | (ADV_ROUTER if self.router_flag else 0)
            if m.src == UNSPECIFIED:
                to_ip, to_eth = ALL_NODES, multicast_mac(ALL_NODES)
            else:
                to_ip, to_eth = m.src, m.lladdr or m.eth_src
                flags |= ADV_SOLICITED
            answers.append(advertisement(mac, m.target, to_ip, to_eth, flags))
        batch.kill()
        if not answers:
            return None
        try:
            out = pool.alloc(len(answers), ND_FRAME_LEN)
        except PoolExhausted:
            self.drops += len(answers)
            return None
        scatter(pool, out.idx, 0, np.frombuffer(b"".join(answers), dtype=np.uint8)
                .reshape(len(answers), ND_FRAME_LEN))
        self.count += len(answers)
        return out

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("table")
    def read_table(self):
        return "".join(f"{ip6_text(p)}/{l} {':'.join(f'{b:02x}' for b in mac)}\n"
                       for p, l, mac in self.entries)


class NDAdv(IP6NDAdvertiser):
    """NDAdv(IP6 ETH, ... [, ROUTER]) -- IP6NDAdvertiser under its Click 1 name

    Ports: 1 input, 1 output; agnostic.

    Early Click configurations (and Click's own conf/ip6ndadvertiser02.click)
    name IP6NDAdvertiser NDAdv; the arguments, ports and handlers are
    IP6NDAdvertiser's.

    See also: IP6NDAdvertiser.
    """
