"""The IPv6 route lookup elements under Click's names, all on the compiled Fib6.

They are IPRouteTable (elements/ip/iproutetable.py) with the IPv6 address
family: the same route syntax, next-hop indices, ECMP groups and handlers as
the IPv4 lookups, over the poptrie of cext/fib6.pyx.
"""
from __future__ import annotations

from vforward.elements.ip.iplookup import _WRITE_HANDLERS
from vforward.elements.ip.iproutetable import DynamicIPRouteTable, IPRouteTable

from .ip6family import IPV6


class _FusedIP6Lookup:
    """The IPv6 tables offer the fused forwarding pass (elements/ip6/fusedforward6.py)."""

    def fused_push(self, port, resolve):
        from .fusedforward6 import fused_forward6
        return fused_forward6(self, port, resolve)

_COMMON = """
    Ports: 1 input, any number of outputs; push.

    Expects IPv6 packets with the destination address annotation dst_ip6
    set (CheckIP6Header sets it).  Looks the address up with longest-prefix
    match, sets the annotation to the route's gateway when it has one, and
    sends the packet out of the route's output; a packet that matches no
    route is dropped, or sent out of output NOROUTE when that is given.  The
    output port is also left in the port annotation.

    Each argument is a route 'ADDR/LEN [GATEWAY] OUTPUT': 2001:db8::/32 0,
    2001:db8:1::/48 fe80::1 1, ::/0 2001:db8::1 1; a bare address is a /128;
    GATEWAY may be '-' for none.  Every output a route names must be
    connected, and a prefix may appear once.

    A route with several equal-cost next hops (ECMP) gives each as a
    'GATEWAY OUTPUT' pair: 2001:db8::/32 fe80::2 1 fe80::3 2.  Each packet
    takes the member its flow hash picks (source, destination, next header,
    and for TCP and UDP the ports), so one flow keeps one path.

    A batch is looked up with one call of the compiled Fib6 (cext/fib6.pyx,
    a poptrie: the /26 direct entry, then one 32-byte node per 8 bits, so a
    /48 is the entry and three cache lines), then
    its next-hop indices are mapped to ports and gateways with two array
    lookups, and the batch is partitioned by output port.

    A Click router answers packets without a route with a default route
    (::/0) to an output that leads to ICMP6Error(ADDR, unreachable,
    noroute).  Where a routing daemon may install a default route of its
    own (through KernelRouteMirror), give that output as NOROUTE instead:
    packets that match no route leave by it while the table has no default
    route.

    Keyword arguments:
      NOROUTE (output number)   where packets without a route go (default:
                                they are dropped and counted in drops)
"""

_READ_HANDLERS = """
    Handlers:
      table (read)          the routes, one 'ADDR/LEN<tab>GATEWAY<tab>OUTPUT' line each
                            ('-' for no gateway), sorted by prefix; a multipath
                            route's further hops follow as '<tab>GATEWAY<tab>OUTPUT'
      lookup (read ADDR)    'OUTPUT GATEWAY' for ADDR, 'OUTPUT' when the route
                            has no gateway, '-1' when no route matches
      drops (read)          packets dropped because no route matched (none
                            with NOROUTE)"""


class StaticIP6Lookup(_FusedIP6Lookup, IPRouteTable):
    __doc__ = """StaticIP6Lookup(ROUTE, ...) -- static IPv6 routing table
""" + _COMMON + """
    The routes are fixed by the configuration.
""" + _READ_HANDLERS + "\n"
    FAMILY = IPV6


class LookupIP6Route(_FusedIP6Lookup, DynamicIPRouteTable):
    __doc__ = """LookupIP6Route(ROUTE, ...) -- IPv6 routing table
""" + _COMMON + """
    Click's LookupIP6Route searches a list; here the lookup is the compiled
    poptrie, and handlers change the routes while packets flow.
""" + _READ_HANDLERS + _WRITE_HANDLERS + "\n"
    FAMILY = IPV6


class RadixIP6Lookup(_FusedIP6Lookup, DynamicIPRouteTable):
    __doc__ = """RadixIP6Lookup(ROUTE, ...) -- IPv6 routing table with dynamic routes
""" + _COMMON + """
    Click's RadixIP6Lookup uses a radix trie; here the lookup is the compiled
    poptrie, and handlers change the routes while packets flow.
""" + _READ_HANDLERS + _WRITE_HANDLERS + "\n"
    FAMILY = IPV6
