"""FPMServer: routes from FRR's zebra over the Forwarding Plane Manager protocol.

zebra's dplane_fpm_nl module connects to a TCP server (127.0.0.1:2620 by
default) and sends every route it selects as a netlink RTM_NEWROUTE or
RTM_DELROUTE message, each in an FPM frame: version (1), type (1 =
netlink), and the frame's length, 16 bits in network order, header
included.  The messages are the kernel's own route messages, so this
element is a KernelRouteMirror whose routes come from zebra instead of
the kernel's notifications; only the interface names still come from the
namespace's kernel (link dump and notifications over netlink).
"""
from __future__ import annotations

import errno
import socket
import struct

from vforward import netns as _netns
from vforward.args import ArgumentError, ip_address, unsigned
from vforward.element import ElementError, read_handler

from vforward.elements.ip.iproutetable import _ntoa
from vforward.elements.ip.kernelroutes import (RTM_DELROUTE, RTM_GETLINK, RTM_NEWROUTE,
                                               RTMGRP_LINK, KernelRouteMirror, decode_route,
                                               iter_messages)

FPM_PORT = 2620
FPM_VERSION = 1
FPM_NETLINK = 1
_FPM_HEADER = struct.Struct("!BBH")
READS_PER_WAKEUP = 64


class FPMServer(KernelRouteMirror):
    """FPMServer(TABLE [, DEVNAME PORT, ...], KEYWORDS) -- take FRR's routes over FPM into a route table element

    Ports: none.

    Listens for FRR's zebra on a TCP port (ADDRESS:PORT, 127.0.0.1:2620 by
    default, inside namespace NETNS) and keeps the routes zebra sends over
    the Forwarding Plane Manager protocol in TABLE, a RadixIPLookup of the
    same router.  zebra needs the dplane_fpm_nl module ('zebra -M
    dplane_fpm_nl') and, in its configuration,

        fpm address 127.0.0.1 port 2620
        no fpm use-next-hop-groups

    Each FPM frame carries a netlink route message; zebra sends the one
    route it selected per prefix, so a new message for a prefix replaces
    the one before, and a delete removes it.  Routes are turned into
    TABLE's routes as KernelRouteMirror does (see there): the interface map
    ('DEVNAME PORT' arguments, or derived from the KernelTaps behind
    TABLE's outputs), the first usable next hop of a multipath route, and
    routes via unknown interfaces, nexthop-group routes and IPv6 gateways
    skipped and counted.  The interface indices in zebra's messages are
    those of NETNS, whose links this element follows over netlink.

    One zebra is served at a time: a new connection replaces the old one.
    When zebra disconnects, the routes it sent are removed from TABLE (it
    sends them all again when it reconnects).  Routes written through
    TABLE's own handlers are never touched, as with KernelRouteMirror.

    Keyword arguments:
      NETNS (string)                 namespace to listen in and whose interfaces
                                     zebra's indices name (default: the router's own)
      ADDRESS (IP address)           address to listen on (default 127.0.0.1)
      PORT (integer)                 TCP port to listen on (default 2620)
      KERNEL_TABLE (main or number)  the table id of the routes taken (default main)

    Handlers:
      routes, count, skipped, unmirrored, interfaces   as KernelRouteMirror's
      resync (write)    apply every route zebra sent again (installing those a
                        user's route had kept out, where the prefix is now free)
      connected (read)  'true' while zebra is connected
      frames (read)     FPM frames received
      errors (read)     connections closed because of a malformed frame
    """
    NETLINK_GROUPS = RTMGRP_LINK
    DUMPS = (RTM_GETLINK,)

    def configure(self, args):
        self._configure_mirror(args)
        self.address = args.keyword("ADDRESS", ip_address, default=0x7F000001)
        self.port = args.keyword("PORT", unsigned, default=FPM_PORT)
        args.finish()
        if not 0 < self.port < 65536:
            raise ArgumentError(f"{args.where}: argument PORT: {self.port} is not a TCP port "
                                "1..65535")
        self.frames = 0
        self.errors = 0
        self._listener = None
        self._conn = None
        self._inbuf = bytearray()

    def initialize(self):
        super().initialize()
        try:
            self._listen()
        except BaseException:
            self.cleanup()      # the router cleans up only the elements that initialized
            raise

    def _listen(self) -> None:
        with _netns.entered(self.netns):
            listener = socket.socket(socket.AF_INET,
                                     socket.SOCK_STREAM | socket.SOCK_NONBLOCK | socket.SOCK_CLOEXEC)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((_ntoa(self.address), self.port))
        except OSError as e:
            listener.close()
            raise ElementError(f"{self._where()}: cannot listen on {_ntoa(self.address)}:"
                               f"{self.port}: {e.strerror}; is another FPM server there? "
                               "Give another PORT (and the same in zebra's 'fpm address')") from None
        listener.listen(4)
        self._listener = listener
        self.router.add_reader(listener.fileno(), self._on_accept)

    def cleanup(self):
        self._disconnect(forget=False)
        if self._listener is not None:
            if self.router is not None:
                try:
                    self.router.remove_reader(self._listener.fileno())
                except Exception:
                    pass
            self._listener.close()
            self._listener = None
        super().cleanup()

    # -- connections -------------------------------------------------------------------------
    def _on_accept(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        self._disconnect()
        conn.setblocking(False)
        self._conn = conn
        self._inbuf = bytearray()
        self.router.add_reader(conn.fileno(), self._on_conn_readable)

    def _disconnect(self, forget: bool = True) -> None:
        """Close zebra's connection; with forget, withdraw the routes it sent."""
        if self._conn is None:
            return
        if self.router is not None:
            try:
                self.router.remove_reader(self._conn.fileno())
            except Exception:
                pass
        self._conn.close()
        self._conn = None
        self._inbuf = bytearray()
        if forget:
            keys = list(self._kernel)
            self._kernel.clear()
            for key in keys:
                self._apply(key)

    def _on_conn_readable(self) -> None:
        for _ in range(READS_PER_WAKEUP):
            if self._conn is None:
                return
            try:
                data = self._conn.recv(1 << 18)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as e:
                if e.errno in (errno.ECONNRESET, errno.ETIMEDOUT, errno.EPIPE):
                    self._disconnect()
                    return
                raise
            if not data:
                self._disconnect()
                return
            self._inbuf += data
            self._frames()

    def _frames(self) -> None:
        buf = self._inbuf
        off = 0
        while len(buf) - off >= _FPM_HEADER.size:
            version, mtype, length = _FPM_HEADER.unpack_from(buf, off)
            if version != FPM_VERSION or length < _FPM_HEADER.size:
                self.errors += 1
                self._disconnect()
                return
            if len(buf) - off < length:
                break
            self.frames += 1
            if mtype == FPM_NETLINK:
                body = bytes(buf[off + _FPM_HEADER.size:off + length])
                for ntype, _flags, _seq, _pid, payload in iter_messages(body):
                    if ntype in (RTM_NEWROUTE, RTM_DELROUTE):
                        self._route_message(ntype, payload, False)
            off += length
        del buf[:off]

    # -- routes ----------------------------------------------------------------------------
    def _route_message(self, mtype, body, dump: bool) -> None:
        """zebra sends one route per prefix: a new one replaces, a delete removes it."""
        route = decode_route(body)
        if route is None or route.table != self.kernel_table:
            return
        key = route.key
        if mtype == RTM_NEWROUTE:
            self._kernel[key] = {route.ident: route}
        else:
            self._kernel.pop(key, None)
        self._apply(key)

    @read_handler("connected")
    def read_connected(self):
        return self._conn is not None

    @read_handler("frames")
    def read_frames(self):
        return self.frames

    @read_handler("errors")
    def read_errors(self):
        return self.errors
