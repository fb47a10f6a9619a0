"""NeighborTable: IPv6-to-Ethernet mappings (RFC 4861's neighbour cache), and the
packets waiting for one.  ARPTable's machinery keyed by 16-byte addresses."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, mac_address
from vforward.element import HandlerError

from vforward.elements.ether.arptable import ARPTable

from .ip6family import ip6_address, ip6_text


def address_rows(column: np.ndarray) -> np.ndarray:
    """A (n, 16) uint8 address column as a 1-D array of 16-byte keys (sortable)."""
    return np.ascontiguousarray(column).view("V16").reshape(-1)


class NeighborTable(ARPTable):
    """NeighborTable(KEYWORDS) -- store IPv6-to-Ethernet mappings

    Ports: none (an information element).

    The neighbour cache of IPv6 neighbour discovery: holds IPv6-to-Ethernet
    mappings and the packets waiting for one.  IP6NDSolicitor keeps a
    private one; declare one and name it in several IP6NDSolicitors' TABLE
    keyword to share it.  Entries, limits, expiry and handlers work as
    ARPTable's (the same code, keyed by 16-byte addresses).

    Keyword arguments:
      CAPACITY (integer, default 2048)          most packets held in all; 0 for no limit
      ENTRY_CAPACITY (integer, default 0)       most entries; 0 for no limit
      ENTRY_PACKET_CAPACITY (integer, default 0)  most packets held per entry; 0 for no limit
      CAPACITY_SLIM_FACTOR (integer, default 2)   how far to slim past CAPACITY
      TIMEOUT (time, default 5min)              entry lifetime; 0 for never

    Handlers:
      table (read)    one entry per line, oldest first: IP6 OK ETH AGE
      count (read)    entries in the table
      length (read)   packets held
      drops (read)    packets dropped for timeouts or capacity limits
      insert (write)  "IP6 ETH": add or refresh a mapping; held packets leave
      delete (write)  "IP6": remove the entry, dropping any packets it holds
      clear (write)   remove every entry
    """
    ADDRESS_DTYPE = np.dtype("V16")

    @staticmethod
    def address_value(ip: int):
        return ip.to_bytes(16, "big")

    @staticmethod
    def address_text(ip: int) -> str:
        return ip6_text(ip)

    @staticmethod
    def parse_insert(value: str) -> tuple[int, bytes]:
        words = value.split()
        try:
            if len(words) != 2 or ip6_address(words[0]) is None:
                raise ArgumentError("")
            return ip6_address(words[0]), mac_address(words[1])
        except ArgumentError:
            raise HandlerError(f"insert expects \"IP6 ETH\" such as \"2001:db8::2 "
                               f"00:11:22:33:44:55\", got {value.strip()!r}") from None

    @staticmethod
    def parse_delete(value: str) -> int:
        ip = ip6_address(value.strip())
        if ip is None:
            raise HandlerError(f"delete expects an IPv6 address such as 2001:db8::2, "
                               f"got {value.strip()!r}")
        return ip
