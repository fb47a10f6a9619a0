"""AddressInfo: names for IP and Ethernet addresses, usable in every element's arguments."""
from __future__ import annotations

import ipaddress
import re

from vforward.args import ArgumentError, define_address, mac_address
from vforward.element import Element, read_handler


def _ip_with_prefix(text: str):
    """(address, prefix length) from 10.0.0.1, 10.0.0.1/24 or 10.0.0.1/255.255.255.0; else None."""
    try:
        iface = ipaddress.IPv4Interface(text)
    except ValueError:
        return None
    return int(iface.ip), iface.network.prefixlen


class AddressInfo(Element):
    """AddressInfo(NAME ADDRESS [ADDRESS...], ...) -- name addresses for other elements

    Ports: none.

    Gives names to IPv4 addresses (with or without a prefix) and Ethernet
    addresses, so that a configuration says `eth0` where it means
    10.0.0.1 and 00:11:22:33:44:55.  Every element argument that takes an
    address takes a name instead, with Click's suffixes:

      NAME, NAME:ip     the IPv4 address                     10.0.0.1
      NAME:ipnet        the network, for prefixes            10.0.0.0/24
      NAME:bcast        the broadcast address                10.0.0.255
      NAME:eth          the Ethernet address                 00:11:22:33:44:55

    A bare NAME means whichever kind the argument wants.  Names are known
    to every element of the configuration, wherever AddressInfo stands in
    it (it is configured first), and only in that configuration.

      AddressInfo(eth0 10.0.0.1/24 00:11:22:33:44:55);
      ARPResponder(eth0);                 // eth0:ip and eth0:eth
      rt :: StaticIPLookup(eth0:ipnet 0, 0.0.0.0/0 10.0.0.254 1);

    Arguments:
      NAME ADDRESS...   a name and its addresses (IPv4, IPv4/prefix, Ethernet);
                        IPv6 addresses are accepted and ignored

    Handlers:
      names (read)   every name and its addresses, one per line
    """
    PORTS = "0/0"
    CONFIGURE_FIRST = True   # names must exist before the elements that use them

    def configure(self, args):
        self.entries: list[tuple[str, list[str]]] = []
        for arg in args.raw:
            words = arg.split()
            if not words:
                continue
            name, addrs = words[0], words[1:]
            if not re.fullmatch(r"[A-Za-z_][\w.@/-]*", name) or not addrs:
                raise ArgumentError(f"{args.where}: expected 'NAME ADDRESS [ADDRESS...]', "
                                    f"got {arg!r}")
            for a in addrs:
                ip = _ip_with_prefix(a)
                if ip is not None:
                    define_address(name, "ip", ip)
                    continue
                if ":" in a and re.fullmatch(r"[0-9A-Fa-f:.]+(/\d+)?", a) and a.count(":") >= 2 \
                        and not re.fullmatch(r"([0-9A-Fa-f]{1,2}[:-]){5}[0-9A-Fa-f]{1,2}", a):
                    continue   # IPv6: accepted, not used by IPv4 elements
                try:
                    define_address(name, "eth", mac_address(a))
                except ArgumentError:
                    raise ArgumentError(f"{args.where}: '{a}' (for {name}) is neither an IPv4 "
                                        "address, an IPv4 address/prefix nor an Ethernet "
                                        "address") from None
            self.entries.append((name, addrs))

    @read_handler("names")
    def read_names(self):
        return "\n".join(f"{n} {' '.join(a)}" for n, a in self.entries)
