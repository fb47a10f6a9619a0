"""The IP route lookup elements under Click's names, all on the compiled Fib.

Click has one element per lookup algorithm (a linear list, a radix trie,
DIR-24-8 tables); vforward has one algorithm, the compiled DIR-24-8 Fib
behind IPRouteTable, so these classes differ only in the handlers Click
gives them.
"""
from __future__ import annotations

from vforward.element import write_handler

from vforward.elements.ip.iproutetable import DynamicIPRouteTable, IPRouteTable

_COMMON = """
    Ports: 1 input, any number of outputs; push.

    Expects packets with a destination address annotation (CheckIPHeader or
    GetIPAddress set it).  Looks the address up with longest-prefix match,
    sets the annotation to the route's gateway when it has one, and sends
    the packet out of the route's output; a packet that matches no route is
    dropped, or sent out of output NOROUTE when that is given.  The output
    port is also left in the port annotation.

    Each argument is a route 'ADDR/MASK [GATEWAY] OUTPUT': 18.26.4.24/32 0,
    18.26.4.0/24 1, 0.0.0.0/0 18.26.4.1 1.  MASK is a prefix length or a
    netmask; Click's short forms (18.26.4/24, 0/0) and bare addresses (/32)
    work; GATEWAY may be '-' for none.  Every output a route names must be
    connected.  A prefix given again is ignored with a warning: the first
    route for it is kept, as in Click.

    A route with several equal-cost next hops (ECMP) gives each as a
    'GATEWAY OUTPUT' pair, GATEWAY '-' for none: 10.0.0.0/8 10.1.0.2 1
    10.2.0.2 2, or 10.0.0.0/8 - 1 - 2 (so 5, 7, ... words; never 4).  Each
    packet takes the member its flow hash picks: a hash of the IPv4 source,
    destination and protocol, and for TCP and UDP (but not non-first
    fragments) the source and destination ports, read from the packet at its
    network header.  One flow always takes one path; different flows spread
    over the members.  Batches that hit no multipath route are not hashed.

    A batch is looked up with one call of the compiled Fib (cext/fib.pyx,
    DIR-24-8): one or two memory reads per packet however big the table,
    then its next-hop indices are mapped to ports and gateways with two
    array lookups, and the batch is partitioned by output port.

    A Click router answers packets without a route with a default route to
    an output that leads to ICMPError(ADDR, unreachable, net).  Where a
    routing daemon may install a default route of its own (through
    KernelRouteMirror), give that output as NOROUTE instead: packets that
    match no route leave by it while the table has no default route.

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
                            has no gateway, '-1' when no route matches (for a
                            multipath route: its first next hop)
      drops (read)          packets dropped because no route matched (none
                            with NOROUTE)"""

_WRITE_HANDLERS = """
      add (write)      add a route 'ADDR/MASK [GATEWAY] OUTPUT' (or a multipath
                       'ADDR/MASK GATEWAY OUTPUT GATEWAY OUTPUT ...'); fails if
                       the prefix already has one
      set (write)      add a route, replacing any route for the same prefix
      remove (write)   remove 'ADDR/MASK' (or the whole route text, every next
                       hop in order, which must match the route)
      ctrl (write)     several lines 'add ROUTE', 'set ROUTE', 'remove ROUTE',
                       applied as one: every line is checked first, and one
                       bad line (named in the error) leaves the table unchanged"""


class StaticIPLookup(IPRouteTable):
    __doc__ = """StaticIPLookup(ROUTE, ...) -- simple static IP routing table
""" + _COMMON + """
    StaticIPLookup's routes are fixed by its configuration; its table
    handler lists them in the order given, as Click's list does.
""" + _READ_HANDLERS + "\n"
    TABLE_IN_ORDER_GIVEN = True


class LookupIPRoute(StaticIPLookup):
    __doc__ = """LookupIPRoute(ROUTE, ...) -- static IP routing table (old name)
""" + _COMMON + """
    Click's old name for StaticIPLookup; the routes are fixed by the
    configuration.
""" + _READ_HANDLERS + "\n"


class LinearIPLookup(DynamicIPRouteTable):
    __doc__ = """LinearIPLookup(ROUTE, ...) -- IP routing table
""" + _COMMON + """
    Click's LinearIPLookup searches a list; here the lookup is the same
    compiled table as every other, and handlers change the routes.  Its
    table handler lists the routes in the order they were added.
""" + _READ_HANDLERS + _WRITE_HANDLERS + "\n"
    TABLE_IN_ORDER_GIVEN = True


class RadixIPLookup(DynamicIPRouteTable):
    __doc__ = """RadixIPLookup(ROUTE, ...) -- IP routing table with dynamic routes
""" + _COMMON + """
    Click's RadixIPLookup uses a radix trie; here the lookup is the compiled
    DIR-24-8 table, and handlers change the routes while packets flow.
""" + _READ_HANDLERS + _WRITE_HANDLERS + "\n"


class DirectIPLookup(DynamicIPRouteTable):
    __doc__ = """DirectIPLookup(ROUTE, ...) -- IP routing lookup with direct-indexed tables
""" + _COMMON + """
    DirectIPLookup is Click's DIR-24-8-BASIC table (Gupta, Lin and McKeown,
    Infocom 1998), which is what the compiled Fib implements.
""" + _READ_HANDLERS + _WRITE_HANDLERS + """
      flush (write)    remove every route at once
"""

    @write_handler("flush")
    def write_flush(self, value):
        self.table.clear()


class RangeIPLookup(DynamicIPRouteTable):
    __doc__ = """RangeIPLookup(ROUTE, ...) -- IP routing lookup by address ranges
""" + _COMMON + """
    Click's RangeIPLookup compresses the table into address ranges for
    cache-friendly lookups; here, as for RadixIPLookup and DirectIPLookup,
    the lookup is the compiled DIR-24-8 table, under Click's name.
""" + _READ_HANDLERS + _WRITE_HANDLERS + "\n"
