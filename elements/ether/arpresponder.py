"""ARPResponder: answers ARP queries for configured addresses and prefixes.

Queries are checked and answered for the whole batch at once: one gather
of every packet's 42 ARP frame bytes, field tests over the (n, 42) array,
a match of the target addresses against each configured prefix (a short
list, most specific first), and one scatter of the replies, which are
built in the queries' own slots.
"""
from __future__ import annotations

import ipaddress

import numpy as np

import sys

from vforward.args import (ArgumentError, address_scope, configure_location, ip_address,
                           ip_prefix, mac_address, named_address, split_args)
from vforward.element import Element, HandlerError, read_handler, write_handler
from vforward.host_device_addresses import device_read_at_run, missing_device_hint
from vforward.packet import ANNOTATIONS

from .ethernet import (ARP_FRAME_LEN, ARP_HRD, ARP_OP, ARP_PRO, ARP_SHA, ARP_SPA, ARP_THA,
                       ARP_TPA, ARPHRD_ETHER, ARPOP_REPLY, ARPOP_REQUEST, ETH_TYPE,
                       ETHERTYPE_ARP, ETHERTYPE_IP, be16, be32, gather, scatter, unparse_ip,
                       unparse_mac)

# Annotations a reply keeps from its query: the device, as Click.  (Click's
# reply is a new packet, so its timestamp is zero; so is ours.)
_KEPT_ANNOTATIONS = ("port",)


def parse_entries(text: str) -> list[tuple[int, int, bytes]]:
    """'IP/MASK [IP/MASK...] ETH' -> [(network, prefix length, eth)], in the given order."""
    prefixes, eth, read_at_run = [], None, False
    for word in text.split():
        try:
            prefixes.append(ip_prefix(word))
            # an AddressInfo name gives its Ethernet address too: ARPResponder(eth0)
            named = named_address(word, ("eth",)) if ":" not in word else None
            if named is not None and eth is None:
                eth = named[1]
            # so does a device that an offline check leaves to be read at run time
            read_at_run |= named is None and ":" not in word and device_read_at_run(word)
            continue
        except ArgumentError:
            pass
        try:
            mac = mac_address(word)
        except ArgumentError:
            raise ArgumentError(f"{word!r} is neither an IP address or prefix nor an Ethernet "
                                f"address; write IP/MASK [IP/MASK...] ETH"
                                f"{missing_device_hint(word)}") from None
        if eth is not None:
            raise ArgumentError(f"more than one Ethernet address in {text.strip()!r}; give each "
                                "address its own argument: IP ETH, IP2 ETH2")
        eth = mac
    if not prefixes:
        raise ArgumentError(f"no IP address or prefix in {text.strip()!r}; write IP/MASK ETH")
    if eth is None and read_at_run:
        eth = bytes(6)
    if eth is None:
        raise ArgumentError(f"no Ethernet address in {text.strip()!r}; write IP/MASK ETH")
    return [(net, plen, eth) for net, plen in prefixes]


def _mask(plen: int) -> int:
    return (0xFFFFFFFF << (32 - plen)) & 0xFFFFFFFF


def _normalize(entries, warn=None):
    """Most specific prefixes first (so the first match is the longest);
    for a prefix given twice the later one wins, as in Click; warn(prefix)
    is called for such a prefix."""
    latest = {}
    for net, plen, eth in entries:
        if latest.pop((net, plen), None) is not None and warn is not None:
            warn(f"{unparse_ip(net)}/{plen}")
        latest[(net, plen)] = eth
    ordered = sorted(latest.items(), key=lambda kv: -kv[0][1])
    return [(net, plen, eth) for (net, plen), eth in ordered]


class ARPResponder(Element):
    """ARPResponder(IP/MASK [IP/MASK...] ETH, IP2/MASK2 ETH2, ...) -- generate responses to ARP queries

    Ports: 1 input, 1 or 2 outputs; input and output 0 agnostic, output 1 push.

    Input should be ARP queries, Ethernet header included.  When a query's
    target IP address falls in one of the IP/MASK arguments, ARPResponder
    answers with an ARP reply giving that argument's Ethernet address ETH,
    on output 0; any other packet (a query for an unknown address, a reply,
    not ARP at all) leaves by output 1 if it is connected and is dropped
    otherwise.  It serves a host's own addresses as well as proxy ARP for
    whole prefixes.

    Each argument lists one or more IP addresses or prefixes and one
    Ethernet address; a prefix is written 18.26.7.0/24 or
    18.26.7.0/255.255.255.0, a bare address means /32.  When prefixes
    overlap, the most specific one answers.

    A reply is built in place in the query's slot (42 bytes: no Ethernet
    padding) and keeps the query's device (port) annotation (its timestamp
    is zero, as a new packet's in Click);
    its other annotations are cleared.  The whole batch is answered at once.

    Example:
      c :: Classifier(12/0806 20/0001, -);
      ar :: ARPResponder(18.26.4.24 18.26.7.0/24 00-00-C0-AE-67-EF);
      c[0] -> ar -> ToDevice(eth0);

    Handlers:
      table (read)            one entry per line: IP/LEN ETH, most specific first
      lookup (read with IP)   the Ethernet address that IP gets, empty if none
      add (write)             add entries: "IP/MASK [IP/MASK...] ETH"
      remove (write)          remove the entry for exactly "IP/MASK"
      config (write)          a new configuration replaces the table (a prefix
                              given twice warns; the later one wins)
      drops (read)            frames not answered and dropped (output 1 not connected)
    """
    PORTS = "1/1-2"
    PROCESSING = "a/ah"

    def configure(self, args):
        self._set_entries(self._parse(args.raw, args.where, ArgumentError))
        self.drops = 0

    def _parse(self, texts, where, error):
        entries = []
        for i, arg in enumerate(texts):
            try:
                entries += parse_entries(arg)
            except ArgumentError as e:
                raise error(f"{where}: argument {i + 1}: {e}") from None
        seen = set()

        def warn(prefix):           # Click's words and layout, once a prefix
            if prefix not in seen:
                if not seen:        # at the element's place, as Click's landmark
                    loc = configure_location()
                    print(f"{loc}: " if loc is not None else "", f"While configuring {where}:",
                          sep="", file=sys.stderr)
                seen.add(prefix)
                print(f"  warning: multiple entries for {prefix}", file=sys.stderr)
        return _normalize(entries, warn)

    @write_handler("config")
    def write_config(self, value):
        """A new configuration: the table is replaced (Click's live reconfiguration)."""
        texts = [t for t in split_args(value) if t.strip()]
        with address_scope(getattr(self.router.graph, "address_names", None)):
            self._set_entries(self._parse(texts, f"'{self.name}' (its config handler)",
                                          HandlerError))

    def _set_entries(self, entries) -> None:
        self.entries = entries
        self._nets = np.array([net for net, _, _ in entries], dtype=np.uint32)
        self._masks = np.array([_mask(plen) for _, plen, _ in entries], dtype=np.uint32)
        self._macs = np.array([list(eth) for _, _, eth in entries], dtype=np.uint8).reshape(-1, 6)

    def lookup(self, addr: int) -> bytes | None:
        for net, plen, eth in self.entries:
            if addr & _mask(plen) == net:
                return eth
        return None

    def process(self, batch):
        pool, idx = batch.pool, batch.idx
        n = len(idx)
        if not n:
            return batch
        answered = np.zeros(n, dtype=bool)
        long_enough = np.flatnonzero(pool.length[idx] >= ARP_FRAME_LEN)
        if len(long_enough):
            frames = gather(pool, idx[long_enough], 0, ARP_FRAME_LEN)
            query = ((be16(frames, ETH_TYPE) == ETHERTYPE_ARP)
                     & (be16(frames, ARP_HRD) == ARPHRD_ETHER)
                     & (be16(frames, ARP_PRO) == ETHERTYPE_IP)
                     & (be16(frames, ARP_OP) == ARPOP_REQUEST))
            tpa = be32(frames[:, ARP_TPA:ARP_TPA + 4])
            found = np.full(len(long_enough), -1, dtype=np.intp)
            for e in range(len(self.entries)):
                hit = query & (found < 0) & ((tpa & self._masks[e]) == self._nets[e])
                found[hit] = e
            got = found >= 0
            answered[long_enough[got]] = True
            if got.any():
                self._reply(pool, idx[long_enough[got]], frames[got], found[got])
        if not answered.all():
            self.drops += self.emit_or_drop(1, batch.select(~answered))
            return batch.select(answered)
        return batch

    def _reply(self, pool, slots, frames, entries) -> None:
        """Turn the queries in slots (their bytes in frames) into replies."""
        sha = frames[:, ARP_SHA:ARP_SHA + 6]
        eth = self._macs[entries]
        reply = np.empty_like(frames)
        reply[:, 0:6] = sha                                  # to the asker
        reply[:, 6:12] = eth
        reply[:, ETH_TYPE:ARP_SHA] = _REPLY_FIELDS
        reply[:, ARP_SHA:ARP_SHA + 6] = eth
        reply[:, ARP_SPA:ARP_SPA + 4] = frames[:, ARP_TPA:ARP_TPA + 4]
        reply[:, ARP_THA:ARP_THA + 6] = sha             # target hardware address
        reply[:, ARP_TPA:ARP_TPA + 4] = frames[:, ARP_SPA:ARP_SPA + 4]
        scatter(pool, slots, 0, reply)
        pool.length[slots] = ARP_FRAME_LEN
        for name in ANNOTATIONS:
            if name not in _KEPT_ANNOTATIONS:
                getattr(pool, name)[slots] = 0

    # -- handlers -----------------------------------------------------------
    @read_handler("drops")
    def read_drops(self):
        return self.drops

    @read_handler("table")
    def read_table(self):
        return "".join(f"{unparse_ip(net)}/{plen} {unparse_mac(eth)}\n"
                       for net, plen, eth in self.entries)

    @read_handler("lookup")
    def read_lookup(self, arg):
        try:
            addr = ip_address((arg or "").strip())
        except ArgumentError:
            raise HandlerError(f"lookup expects an IP address such as 10.0.0.1, "
                               f"got {arg!r}") from None
        eth = self.lookup(addr)
        return unparse_mac(eth) if eth is not None else ""

    @write_handler("add")
    def write_add(self, value):
        try:
            with address_scope(getattr(self.router.graph, "address_names", None)):
                new = parse_entries(value)
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
        self._set_entries(_normalize(self.entries + new))

    @write_handler("remove")
    def write_remove(self, value):
        try:
            net, plen = ip_prefix(value.strip())
        except ArgumentError:
            raise HandlerError(f"remove expects IP/MASK such as 10.0.0.0/24, "
                               f"got {value!r}") from None
        kept = [e for e in self.entries if (e[0], e[1]) != (net, plen)]
        if len(kept) == len(self.entries):
            raise HandlerError(f"{ipaddress.IPv4Network((net, plen))} is not in the table; "
                               "read the table handler for the entries")
        self._set_entries(kept)


# Ethernet type ARP, then hrd Ethernet, pro IP, hln 6, pln 4, op reply.
_REPLY_FIELDS = np.array([ETHERTYPE_ARP >> 8, ETHERTYPE_ARP & 0xFF, 0, ARPHRD_ETHER,
                          ETHERTYPE_IP >> 8, ETHERTYPE_IP & 0xFF, 6, 4, 0, ARPOP_REPLY],
                         dtype=np.uint8)

