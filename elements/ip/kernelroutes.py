"""KernelRouteMirror: a kernel routing table, kept in a route table element.

A routing daemon (BIRD, FRR) in a node's namespace installs its routes in
that namespace's kernel table; the node's kernel never forwards, vforward
does, so the routes must reach vforward's FIB.  This element dumps the
kernel table once, then follows RTM_NEWROUTE/RTM_DELROUTE notifications on
a non-blocking netlink socket opened inside the namespace, and writes each
change into a RadixIPLookup of the same router at once.

The netlink messages are decoded here with `struct` (rtmsg, ifinfomsg,
rtattr, rtnexthop): the same route messages are what FRR's Forwarding
Plane Manager sends, and FPMServer reads them with `decode_route`.
"""
from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from dataclasses import dataclass

from vforward import netns as _netns
from vforward.args import ArgumentError, word
from vforward.element import Element, ElementError, read_handler, write_handler

from vforward.elements.ip.iproutetable import DynamicIPRouteTable, IPRoute, RouteError, _ntoa

# -- netlink constants (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h) --------------
NETLINK_ROUTE = 0
NLMSG_NOOP, NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 1, 2, 3, 4
NLM_F_REQUEST, NLM_F_MULTI, NLM_F_DUMP_INTR = 0x1, 0x2, 0x10
NLM_F_DUMP = 0x300
RTM_NEWLINK, RTM_DELLINK, RTM_GETLINK = 16, 17, 18
RTM_NEWROUTE, RTM_DELROUTE, RTM_GETROUTE = 24, 25, 26
RTMGRP_LINK, RTMGRP_IPV4_ROUTE, RTMGRP_IPV6_ROUTE = 0x1, 0x40, 0x400
RTA_DST, RTA_OIF, RTA_GATEWAY, RTA_PRIORITY, RTA_MULTIPATH = 1, 4, 5, 6, 9
RTA_TABLE, RTA_VIA, RTA_NH_ID = 15, 18, 30
RTN_UNICAST = 1
RTN_NAMES = {0: "unspec", 1: "unicast", 2: "local", 3: "broadcast", 4: "anycast",
             5: "multicast", 6: "blackhole", 7: "unreachable", 8: "prohibit", 9: "throw",
             10: "nat", 11: "xresolve"}
RTNH_F_DEAD, RTNH_F_LINKDOWN = 0x1, 0x10
RT_TABLE_MAIN = 254
IFLA_IFNAME = 3
IFF_UP, IFF_LOWER_UP = 0x1, 0x10000

_NLMSGHDR = struct.Struct("=IHHII")      # len, type, flags, seq, pid
_RTMSG = struct.Struct("=BBBBBBBBI")     # family dst_len src_len tos table protocol scope type flags
_IFINFOMSG = struct.Struct("=BxHiII")    # family, type, index, flags, change
_RTATTR = struct.Struct("=HH")           # len, type
_RTNEXTHOP = struct.Struct("=HBBi")      # len, flags, hops, ifindex
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")

SO_RCVBUFFORCE = 33          # SO_RCVBUF beyond rmem_max, for CAP_NET_ADMIN
RCVBUF = 8 << 20             # a daemon installing a full table at once must not overrun us
READS_PER_WAKEUP = 64        # bound the work of one readiness callback
DUMP_TIMEOUT = 10.0          # seconds initialize waits for the first dump
RESYNC_DELAY = 0.02          # coalesce the resyncs that link changes ask for


def _align(n: int) -> int:
    return (n + 3) & ~3


# -- decoding ------------------------------------------------------------------------------
@dataclass(frozen=True)
class NextHop:
    """One next hop of a kernel route: gateway (0: directly connected) and interface."""
    gateway: int
    ifindex: int
    flags: int = 0
    unusable: str = ""          # why vforward cannot use it (an IPv6 gateway ...)


@dataclass(frozen=True)
class KernelRoute:
    """An IPv4 route as the kernel (or FPM) describes it.  The kernel tells its
    routes apart by (prefix, length, tos, metric) within a table."""
    prefix: int
    plen: int
    tos: int
    metric: int
    table: int
    protocol: int
    scope: int
    type: int
    hops: tuple

    @property
    def key(self) -> tuple[int, int]:
        return self.prefix, self.plen

    @property
    def ident(self) -> tuple[int, int]:
        return self.tos, self.metric


def iter_messages(data):
    """(type, flags, seq, pid, body) of each netlink message in a buffer."""
    off, end = 0, len(data)
    while off + _NLMSGHDR.size <= end:
        length, mtype, flags, seq, pid = _NLMSGHDR.unpack_from(data, off)
        if length < _NLMSGHDR.size or off + length > end:
            break
        yield mtype, flags, seq, pid, data[off + _NLMSGHDR.size:off + length]
        off += _align(length)


def _attributes(data, off: int = 0):
    """(type, payload) of each rtattr from `off` to the end of `data`."""
    end = len(data)
    while off + _RTATTR.size <= end:
        length, atype = _RTATTR.unpack_from(data, off)
        if length < _RTATTR.size or off + length > end:
            break
        yield atype & 0x3FFF, data[off + _RTATTR.size:off + length]
        off += _align(length)


def _ipv4(payload) -> int:
    return int.from_bytes(bytes(payload[:4]), "big")


def _address(payload, family: int) -> int:
    return int.from_bytes(bytes(payload[:4 if family == socket.AF_INET else 16]), "big")


def _gateway(atype: int, payload, family: int = socket.AF_INET) -> tuple[int, str]:
    """RTA_GATEWAY (an address of the route's family) or RTA_VIA (family +
    address): (gateway, why unusable)."""
    if atype == RTA_GATEWAY:
        return _address(payload, family), ""
    via = struct.unpack_from("=H", payload)[0]
    if via == family:
        return _address(payload[2:], family), ""
    return 0, ("its gateway is an IPv6 address" if via == socket.AF_INET6
               else "its gateway is an IPv4 address")


def decode_route(body, want: int = socket.AF_INET) -> KernelRoute | None:
    """An RTM_NEWROUTE/RTM_DELROUTE body (after the nlmsghdr); None unless of
    address family `want` (AF_INET or AF_INET6)."""
    if len(body) < _RTMSG.size:
        return None
    family, dst_len, _src_len, tos, table, proto, scope, rtype, _flags = _RTMSG.unpack_from(body)
    if family != want:
        return None
    dst, metric, oif, gw, unusable, multipath = 0, 0, 0, 0, "", None
    for atype, payload in _attributes(body, _RTMSG.size):
        if atype == RTA_DST:
            dst = _address(payload, family)
        elif atype == RTA_OIF:
            oif = _I32.unpack_from(payload)[0]
        elif atype in (RTA_GATEWAY, RTA_VIA):
            gw, unusable = _gateway(atype, payload, family)
        elif atype == RTA_PRIORITY:
            metric = _U32.unpack_from(payload)[0]
        elif atype == RTA_TABLE:
            table = _U32.unpack_from(payload)[0]
        elif atype == RTA_MULTIPATH:
            multipath = _next_hops(payload, family)
        elif atype == RTA_NH_ID:
            unusable = "it uses a kernel nexthop object (RTA_NH_ID), which is not followed"
    if multipath is not None:
        hops = multipath
    elif oif or gw or unusable:
        hops = (NextHop(gw, oif, 0, unusable),)
    else:
        hops = ()
    bits = 32 if family == socket.AF_INET else 128
    mask = ((1 << bits) - 1) ^ ((1 << (bits - dst_len)) - 1)
    return KernelRoute(dst & mask, dst_len, tos, metric, table, proto, scope, rtype, hops)


def _next_hops(data, family: int = socket.AF_INET) -> tuple:
    hops, off = [], 0
    while off + _RTNEXTHOP.size <= len(data):
        length, flags, _weight, ifindex = _RTNEXTHOP.unpack_from(data, off)
        if length < _RTNEXTHOP.size or off + length > len(data):
            break
        gw, unusable = 0, ""
        for atype, payload in _attributes(data[off:off + length], _RTNEXTHOP.size):
            if atype in (RTA_GATEWAY, RTA_VIA):
                gw, unusable = _gateway(atype, payload, family)
        hops.append(NextHop(gw, ifindex, flags, unusable))
        off += _align(length)
    return tuple(hops)


def decode_link(body) -> tuple[int, int, str] | None:
    """(ifindex, flags, name) of an RTM_NEWLINK/RTM_DELLINK body."""
    if len(body) < _IFINFOMSG.size:
        return None
    _family, _type, index, flags, _change = _IFINFOMSG.unpack_from(body)
    name = ""
    for atype, payload in _attributes(body, _IFINFOMSG.size):
        if atype == IFLA_IFNAME:
            name = bytes(payload).split(b"\0", 1)[0].decode(errors="replace")
    return index, flags, name


def _dump_request(mtype: int, seq: int, family: int = socket.AF_INET) -> bytes:
    if mtype == RTM_GETROUTE:
        body = _RTMSG.pack(family, 0, 0, 0, 0, 0, 0, 0, 0)
    else:
        body = _IFINFOMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    return _NLMSGHDR.pack(_NLMSGHDR.size + len(body), mtype, NLM_F_REQUEST | NLM_F_DUMP,
                          seq, 0) + body


# -- the element ---------------------------------------------------------------------------
def _interface_pair(text: str, where: str) -> tuple[str, int]:
    parts = text.split()
    if len(parts) != 2 or not parts[1].isdigit():
        raise ArgumentError(f"{where}: interface mapping '{text}' must be 'DEVNAME PORT', "
                            "such as 'eth1 0'")
    if len(parts[0]) > 15:
        raise ArgumentError(f"{where}: interface name '{parts[0]}' is longer than 15 characters")
    return parts[0], int(parts[1])


def _kernel_table(text: str) -> int:
    t = text.strip().lower()
    if t == "main":
        return RT_TABLE_MAIN
    if t.isdigit() and 1 <= int(t) <= 0xFFFFFFFF:
        return int(t)
    raise ArgumentError(f"expected 'main' or a kernel table number 1..4294967295, got {text!r}")


class KernelRouteMirror(Element):
    """KernelRouteMirror(TABLE [, DEVNAME PORT, ...], KEYWORDS) -- mirror a kernel routing table into a route table element

    Ports: none.

    Keeps the IPv4 (or IPv6) routes of a Linux kernel routing table (the
    main table of namespace NETNS, where a routing daemon such as BIRD
    installs its routes) in TABLE, a RadixIPLookup or RadixIP6Lookup (or
    another dynamic lookup element) of the same router.  At initialize it dumps the kernel table; then it
    listens for route and link notifications on a non-blocking netlink
    socket opened in the namespace and applies every change at once, so a
    route the daemon installs is in vforward's FIB a few milliseconds
    later.

    Each 'DEVNAME PORT' argument says that packets the kernel would send
    out of interface DEVNAME leave TABLE by output PORT ('eth1 0, eth2 1').
    Without them the map comes from the graph: a KernelTap or KernelTun in
    NETNS whose DEVNAME is reachable from TABLE's output PORT without going
    through TABLE again (or an element that feeds TABLE) belongs to that output (so in a lab router's
    generated config, where rt[P] leads to interface P's wire, and the wire
    back to that interface's KernelTap, every interface maps to its own
    output).  A device reachable from two outputs is an error: give the map.

    A kernel route 'PREFIX via GW dev DEV' becomes 'PREFIX GW PORT'; a route
    without gateway (the connected 'proto kernel scope link' routes and any
    'dev DEV' route) becomes 'PREFIX PORT'.  Where the kernel holds several
    routes for a prefix, the one it uses is mirrored: TOS 0 and the lowest
    metric.  A multipath route (RTA_MULTIPATH, as BIRD installs with 'merge
    paths') becomes a multipath route of TABLE, 'PREFIX GW1 PORT1 GW2 PORT2
    ...', over its usable next hops in the kernel's order (TABLE picks one
    per flow by a hash of the 5-tuple); unusable hops (dead, an interface not
    in the map, an unconnected output, an IPv6 gateway) are left out, and a
    route with one usable hop becomes a plain route.  Not mirrored, and
    counted in `skipped`: routes whose next hops all leave by an interface the map does
    not know (lo, a device of nobody) or an output TABLE has not connected,
    dead next hops, IPv6 gateways, nexthop-object routes, blackhole /
    unreachable / prohibit routes, TOS-specific routes.  The kernel's local
    and broadcast entries live in its local table, which is not followed.

    Routes written through TABLE's own handlers (add, set, remove, ctrl)
    live beside mirrored ones.  The mirror owns only what it wrote: it
    removes or replaces a route only while TABLE still holds exactly that
    route, never a route a user (or the configuration) put there.  Where
    TABLE already has another route for a prefix, that route wins and the
    kernel route is listed in `unmirrored`; a `resync` installs it once the
    prefix is free.

    The table's address family picks the kernel routes that are followed:
    a RadixIPLookup mirrors the IPv4 routes, a RadixIP6Lookup (or
    LookupIP6Route) the IPv6 ones, next hops included (OSPFv3's are
    link-local addresses, which IP6NDSolicitor resolves like any other).
    IPv6 routes to link-local (fe80::/10) and multicast (ff00::/8)
    destinations are never forwarded and so never mirrored.  A dual-stack
    router runs one mirror per family.

    Linux does not announce the IPv4 routes it flushes when an interface
    goes down or disappears; link notifications therefore trigger a
    resync, as does a netlink buffer overrun.

    Keyword arguments:
      NETNS (string)                 the namespace whose table is mirrored
                                     (default: the router's own)
      KERNEL_TABLE (main or number)  the kernel table to follow (default main)

    Handlers:
      routes (read)      the routes the mirror wrote into TABLE, one
                         'ADDR/LEN GATEWAY OUTPUT' line each ('-' for none)
      count (read)       changes the mirror made to TABLE (routes set or removed)
      skipped (read)     times a kernel route could not be mirrored
      unmirrored (read)  the kernel's prefixes not mirrored now, with the reason
      interfaces (read)  the interface map, one 'DEVNAME PORT' line each
      resyncs (read)     full dumps done (the first one at initialize included)
      resync (write)     dump the kernel table again and reconcile TABLE with it:
                         mirrored routes the kernel no longer has are removed,
                         missing ones added (the write returns at once; the
                         dump completes on the event loop)
    """
    PORTS = "0/0"
    NETLINK_GROUPS = RTMGRP_LINK | RTMGRP_IPV4_ROUTE    # what the netlink socket follows
    DUMPS = (RTM_GETLINK, RTM_GETROUTE)                 # what a resync reads again

    def configure(self, args):
        self._configure_mirror(args)
        args.finish()

    def _configure_mirror(self, args) -> None:
        """TABLE, the interface map, NETNS and KERNEL_TABLE (shared with FPMServer)."""
        self.table_name = args.positional("TABLE", word)
        pairs = args.rest()
        self.netns = args.keyword("NETNS", word, default=None)
        self.kernel_table = args.keyword("KERNEL_TABLE", _kernel_table, default=RT_TABLE_MAIN)
        self.interfaces: dict[str, int] = {}
        for text in pairs:
            dev, port = _interface_pair(text, args.where)
            if dev in self.interfaces:
                raise ArgumentError(f"{args.where}: interface {dev} is mapped twice; "
                                    "give each DEVNAME once")
            self.interfaces[dev] = port
        self.count = 0
        self.skipped = 0
        self.resyncs = 0
        self.rt = None
        self._sock = None
        self._buf = bytearray(1 << 20)
        self._portid = 0
        self._seq = int(time.time()) & 0x7FFFFFFF
        self._ifname: dict[int, str] = {}
        self._ifflags: dict[int, int] = {}
        self._kernel: dict[tuple[int, int], dict[tuple[int, int], KernelRoute]] = {}
        self._owned: dict[tuple[int, int], IPRoute] = {}
        self._unmirrored: dict[tuple[int, int], str] = {}
        self._pending_dumps: list[int] = []     # RTM_GETLINK / RTM_GETROUTE still to send
        self._dump_type = 0                     # the dump in progress (0: none)
        self._dump_seq = 0
        self._dump_intr = False
        self._seen: set = set()
        self._resync_timer = None
        self._family = socket.AF_INET

    def _where(self) -> str:
        loc = f"{self.location}: " if self.location is not None else ""
        return f"{loc}{self.name} :: {self.class_name()}"

    # -- life cycle --------------------------------------------------------------------------
    def initialize(self):
        rt = self.router.element(self.table_name)
        if rt is None:
            raise ElementError(f"{self._where()}: TABLE '{self.table_name}' is not an element "
                               "of this router; name its RadixIPLookup")
        if not isinstance(rt, DynamicIPRouteTable):
            raise ElementError(f"{self._where()}: TABLE '{self.table_name}' is a "
                               f"{rt.class_name()}, whose routes cannot change; use RadixIPLookup")
        self.rt = rt
        # The table's address family decides which kernel routes are followed.
        self._family = socket.AF_INET if rt.FAMILY.name == "IPv4" else socket.AF_INET6
        if not self.interfaces:
            self.interfaces = self._interfaces_from_graph()
        try:
            with _netns.entered(self.netns):
                sock = socket.socket(socket.AF_NETLINK,
                                     socket.SOCK_RAW | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC,
                                     NETLINK_ROUTE)
        except _netns.NetnsError as e:
            raise ElementError(f"{self._where()}: {e}") from None
        self._sock = sock
        try:
            for opt in (SO_RCVBUFFORCE, socket.SO_RCVBUF):
                try:
                    sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF)
                    break
                except OSError:
                    continue
            groups = self.NETLINK_GROUPS
            if self._family == socket.AF_INET6 and groups & RTMGRP_IPV4_ROUTE:
                groups = groups & ~RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE
            sock.bind((0, groups))
            self._portid = sock.getsockname()[0]
            self._request_dumps()
            deadline = time.monotonic() + DUMP_TIMEOUT
            while self._dump_type:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ElementError(f"{self._where()}: the kernel did not finish dumping "
                                       f"its tables within {DUMP_TIMEOUT:.0f}s")
                select.select([sock], [], [], left)
                self._read(unbounded=True)
        except BaseException:
            self.cleanup()      # the router cleans up only the elements that initialized
            raise
        self.router.add_reader(sock.fileno(), self._on_readable)

    def cleanup(self):
        if self._resync_timer is not None:
            self._resync_timer.cancel()
            self._resync_timer = None
        if self._sock is not None:
            if self.router is not None:
                try:
                    self.router.remove_reader(self._sock.fileno())
                except Exception:
                    pass
            self._sock.close()
            self._sock = None

    def _interfaces_from_graph(self) -> dict[str, int]:
        from vforward.elements.io.kerneltun import KernelTun
        graph = self.router.graph
        outputs: dict[str, list[tuple[int, str]]] = {}
        for c in graph.connections:
            outputs.setdefault(c.from_name, []).append((c.from_port, c.to_name))
        # An element feeding TABLE (FlowRoutes, ICMPError) is a routing stage
        # ahead of it: what lies beyond it is another routing decision, not
        # this output's wire, so the walk stops there as at TABLE.
        stops = {self.rt.name} | {c.from_name for c in graph.connections
                                  if c.to_name == self.rt.name}
        found: dict[str, int] = {}
        for port in range(self.rt.n_outputs):
            stack = [to for p, to in outputs.get(self.rt.name, []) if p == port]
            seen = set()
            while stack:
                name = stack.pop()
                if name in seen or name in stops:
                    continue
                seen.add(name)
                e = graph.elements[name]
                dev = getattr(e, "dev_name", None)
                if isinstance(e, KernelTun) and dev and "%" not in dev and \
                        (e.netns or None) == (self.netns or None):
                    if dev in found and found[dev] != port:
                        raise ElementError(
                            f"{self._where()}: device {dev} ('{name}') is reachable from outputs "
                            f"{found[dev]} and {port} of '{self.rt.name}'; give the interface "
                            f"map as arguments, e.g. {self.class_name()}({self.rt.name}, "
                            f"{dev} {found[dev]}, ...)")
                    found[dev] = port
                stack.extend(to for _, to in outputs.get(name, []))
        if not found:
            space = f"namespace {self.netns}" if self.netns else "the router's namespace"
            raise ElementError(f"{self._where()}: no KernelTap or KernelTun in {space} "
                               "is reachable from an output "
                               f"of '{self.rt.name}'; give the interface map as arguments "
                               "'DEVNAME PORT', e.g. 'eth1 0, eth2 1'")
        return found

    # -- netlink ---------------------------------------------------------------------------
    def _request_dumps(self) -> None:
        """Queue a link dump then a route dump (one netlink dump at a time per socket)."""
        for mtype in self.DUMPS:
            if mtype not in self._pending_dumps:
                self._pending_dumps.append(mtype)
        if not self._dump_type:
            self._next_dump()

    def _next_dump(self) -> None:
        if not self._pending_dumps or self._sock is None:
            self._dump_type = 0
            return
        mtype = self._pending_dumps.pop(0)
        self._seq = (self._seq + 1) & 0x7FFFFFFF or 1
        self._dump_type, self._dump_seq, self._dump_intr = mtype, self._seq, False
        if mtype == RTM_GETROUTE:
            self._seen = set()
        self._sock.send(_dump_request(mtype, self._seq, self._family))

    def _on_readable(self) -> None:
        self._read(unbounded=False)

    def _read(self, unbounded: bool) -> None:
        for _ in range(1 << 30 if unbounded else READS_PER_WAKEUP):
            if self._sock is None:
                return
            try:
                n = self._sock.recv_into(self._buf)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno == errno.ENOBUFS:      # notifications were lost: read the table again
                    self.schedule_resync(0)
                    continue
                raise
            if n == 0:
                return
            for mtype, flags, seq, pid, body in iter_messages(memoryview(self._buf)[:n]):
                self._message(mtype, flags, seq, pid, body)

    def _message(self, mtype, flags, seq, pid, body) -> None:
        dump = bool(self._dump_type) and seq == self._dump_seq and pid == self._portid
        if dump and flags & NLM_F_DUMP_INTR:
            self._dump_intr = True
        if mtype == NLMSG_DONE:
            if dump:
                self._dump_done()
        elif mtype == NLMSG_ERROR:
            if dump:
                code = -_I32.unpack_from(body)[0] if len(body) >= 4 else 0
                if code == errno.EBUSY:
                    self._pending_dumps.insert(0, self._dump_type)
                    self._dump_type = 0
                    self.schedule_resync()
                else:
                    raise OSError(code, f"netlink dump failed: {os.strerror(code)}")
        elif mtype in (RTM_NEWROUTE, RTM_DELROUTE):
            self._route_message(mtype, body, dump)
        elif mtype in (RTM_NEWLINK, RTM_DELLINK):
            self._link_message(mtype, body)

    def _dump_done(self) -> None:
        if self._dump_type == RTM_GETROUTE:
            for key, entries in list(self._kernel.items()):
                for ident in [i for i in entries if (key, i) not in self._seen]:
                    del entries[ident]
                if not entries:
                    del self._kernel[key]
            self._seen = set()
        if self._dump_type == self.DUMPS[-1]:
            self.resyncs += 1
            self._apply_all()
        if self._dump_intr:       # the table changed while it was dumped: once more
            self._pending_dumps.append(self._dump_type)
        self._next_dump()

    def schedule_resync(self, delay: float = RESYNC_DELAY) -> None:
        """Dump links and routes again soon (coalescing several requests into one)."""
        if self._resync_timer is not None or self.router is None:
            return

        def fire():
            self._resync_timer = None
            self._request_dumps()
        self._resync_timer = self.router.call_later(delay, fire)

    # -- state -----------------------------------------------------------------------------
    def _link_message(self, mtype, body) -> None:
        link = decode_link(body)
        if link is None:
            return
        index, flags, name = link
        old_name = self._ifname.get(index)
        old_flags = self._ifflags.get(index)
        if mtype == RTM_DELLINK:
            self._ifname.pop(index, None)
            self._ifflags.pop(index, None)
            self._relink(index)
            self.schedule_resync()
            return
        self._ifname[index] = name or old_name or ""
        self._ifflags[index] = flags
        if old_name != self._ifname[index]:
            self._relink(index)
        if old_flags is not None and old_flags & ~flags & (IFF_UP | IFF_LOWER_UP):
            self.schedule_resync()      # going down: the kernel flushes routes silently

    def _apply_all(self) -> None:
        for key in set(self._kernel) | set(self._owned) | set(self._unmirrored):
            self._apply(key)

    def _relink(self, index: int) -> None:
        """An interface appeared, was renamed or went: its routes may map differently now."""
        for key, entries in list(self._kernel.items()):
            if any(h.ifindex == index for r in entries.values() for h in r.hops):
                self._apply(key)

    def _route_message(self, mtype, body, dump: bool) -> None:
        route = decode_route(body, self._family)
        if route is None or route.table != self.kernel_table:
            return
        key, ident = route.key, route.ident
        if mtype == RTM_NEWROUTE:
            self._kernel.setdefault(key, {})[ident] = route
            if dump or self._dump_type == RTM_GETROUTE:
                self._seen.add((key, ident))
        else:
            entries = self._kernel.get(key)
            if entries is not None:
                entries.pop(ident, None)
                if not entries:
                    del self._kernel[key]
            self._seen.discard((key, ident))
        self._apply(key)

    def _desired(self, key) -> tuple[IPRoute | None, str]:
        """The route TABLE should hold for key according to the kernel, or (None, why not)."""
        entries = self._kernel.get(key)
        if not entries:
            return None, ""
        candidates = [r for r in entries.values() if r.tos == 0]
        if not candidates:
            return None, "TOS-specific routes are not mirrored"
        best = min(candidates, key=lambda r: r.metric)
        if self._family == socket.AF_INET6 and best.prefix >> 118 in (0x3FA, 0x3FC, 0x3FD,
                                                                      0x3FE, 0x3FF):
            return None, "link-local and multicast destinations are not forwarded"
        if best.type != RTN_UNICAST:
            return None, f"{RTN_NAMES.get(best.type, best.type)} routes are not mirrored"
        reasons, usable = [], []
        for hop in best.hops:
            dev = self._ifname.get(hop.ifindex) or (f"#{hop.ifindex}" if hop.ifindex else "none")
            if hop.unusable:
                reasons.append(f"next hop via {dev}: {hop.unusable}")
                continue
            if hop.flags & RTNH_F_DEAD:
                reasons.append(f"next hop via {dev} is dead")
                continue
            port = self.interfaces.get(dev)
            if port is None:
                reasons.append(f"interface {dev} is not in the interface map")
                continue
            if port >= self.rt.n_outputs:
                reasons.append(f"interface {dev} maps to output {port}, which "
                               f"'{self.rt.name}' has not connected")
                continue
            if (hop.gateway, port) not in usable:
                usable.append((hop.gateway, port))
        if usable:
            (gw, port), *more = usable
            return IPRoute(best.prefix, best.plen, gw, port, tuple(more), self.rt.FAMILY), ""
        return None, "; ".join(reasons) or "the route has no next hop"

    def _apply(self, key) -> None:
        """Make TABLE's route for key follow the kernel, touching only the mirror's own."""
        desired, reason = self._desired(key)
        table = self.rt.table
        current = table.routes.get(key)
        mine = self._owned.get(key)
        if mine is not None and current is not mine:
            del self._owned[key]            # a user replaced or removed it: theirs now
            mine = None
        if desired is None:
            if mine is not None:
                table.remove(key)
                del self._owned[key]
                self.count += 1
            self._note(key, reason)
            return
        if mine is not None:
            if desired != mine:
                self._write(desired)
            else:
                self._note(key, "")
        elif current is None:
            self._write(desired)
        elif current == desired:
            self._note(key, "")             # already there, written by someone else
        else:
            self._note(key, f"'{self.rt.name}' holds '{current}' for this prefix, not written "
                            "by the mirror")

    def _write(self, route: IPRoute) -> None:
        try:
            self.rt.table.set(route)
        except RouteError as e:             # the table ran out of next-hop indices
            self._owned.pop(route.key, None)
            self._note(route.key, str(e))
            return
        self._owned[route.key] = route
        self.count += 1
        self._note(route.key, "")

    def _note(self, key, reason: str) -> None:
        if reason:
            if self._unmirrored.get(key) != reason:
                self.skipped += 1
            self._unmirrored[key] = reason
        else:
            self._unmirrored.pop(key, None)

    # -- handlers --------------------------------------------------------------------------
    @read_handler("routes")
    def read_routes(self):
        return "".join(f"{self._owned[k]}\n" for k in sorted(self._owned))

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("skipped")
    def read_skipped(self):
        return self.skipped

    @read_handler("unmirrored")
    def read_unmirrored(self):
        return "".join(f"{self.rt.FAMILY.ntoa(k[0])}/{k[1]}\t{self._unmirrored[k]}\n"
                       for k in sorted(self._unmirrored))

    @read_handler("interfaces")
    def read_interfaces(self):
        return "".join(f"{dev} {port}\n" for dev, port in sorted(self.interfaces.items(),
                                                                  key=lambda kv: kv[1]))

    @read_handler("resyncs")
    def read_resyncs(self):
        return self.resyncs

    @write_handler("resync")
    def write_resync(self, value):
        self._request_dumps()
