"""Socket: a UDP socket as a packet source and sink (Click's Socket, type UDP).

Datagrams are received a burst at a time with one recvmmsg() straight into
pool slots and sent a batch at a time with one sendmmsg() straight out of
them (cext/udpio.pyx); a `BurstWriter` (burstwriter.py) keeps what the
kernel will not take yet.  The socket can be opened inside a named network
namespace, which is how a virtual node's router reaches its underlay.
"""
from __future__ import annotations

import errno
import os
import socket
import sys

from vforward import netns as _netns
from vforward.args import ArgumentError, boolean, unsigned, word
from vforward.element import ElementError, read_handler, write_handler
from vforward.elements.io.burstwriter import BurstSink
from vforward.elements.io.underlayaddress import (address_and_port, address_text, endpoint_text,
                                                  udp_port, underlay_address)
from vforward.offload import software_offload
from vforward.packet import Batch

from vforward import kernels

_io = kernels.load("udpio")

_IP_MTU = 14                     # <linux/in.h>: getsockopt on a connected socket
_IPV6_MTU = 24                   # <linux/in6.h>: the same for IPv6
_UDP_IP_HEADERS = {4: 28, 6: 48}
_AF = {4: socket.AF_INET, 6: socket.AF_INET6}
_GRO_MESSAGES = 32               # 64 KiB of scratch each: up to 2048 datagrams a burst
_TRANSIENT_READ_ERRORS = (errno.EINTR, errno.EAGAIN, errno.ENOBUFS, errno.ENOMEM,
                          errno.ECONNREFUSED)


class _Sender:
    """What BurstWriter calls to write: send_burst with the element's destination rule.
    addr is an int; an IPv6 socket's goes to send_burst as addr6, 16 bytes."""

    __slots__ = ("io", "addr", "port", "per_packet", "gso_max", "v6")

    def __init__(self, io, v6: bool = False):
        self.io = io
        self.addr = self.port = 0
        self.per_packet = False
        self.gso_max = 0
        self.v6 = v6

    def write_burst(self, fd, pool, idx):
        if self.v6:
            return self.io.send_burst(fd, pool, idx, 0, self.port, self.per_packet,
                                      self.gso_max, self.addr.to_bytes(16, "big"))
        return self.io.send_burst(fd, pool, idx, self.addr, self.port, self.per_packet,
                                  self.gso_max)


class Socket(BurstSink):
    """Socket(TYPE, ADDR, PORT [, LOCAL_ADDR, LOCAL_PORT] [, KEYWORDS]) -- a UDP socket transport

    Ports: at most 1 input (agnostic), at most 1 push output.

    Sends the packets that arrive on the input as UDP datagrams and emits
    the datagrams it receives on output 0, as Click's Socket does for TYPE
    UDP (the only type vforward has; TCP and UNIX are not supported).
    Packets do not flow through a Socket: what goes in leaves the host,
    what comes out arrived from the network.

    A Socket is a server or a client.  A server (the default) binds ADDR:PORT
    and receives from anyone.  A client binds LOCAL_ADDR:LOCAL_PORT (any
    address and a free port by default) and sends to ADDR:PORT; it is a
    client when CLIENT is true, when LOCAL_ADDR or LOCAL_PORT is given, or
    when it has no output.  The address is whatever the configuration says:
    127.0.0.1 for routers on one machine, a host's real address in a lab of
    several machines.  ADDR and LOCAL_ADDR are IPv4 or IPv6 addresses (both
    of one family): with IPv6 ones the socket is an IPv6 socket, and where
    this page says dst_ip it means the dst_ip6 annotation (dst_ip is then
    0 on what it receives).  An IPv6 server bound to :: also receives IPv4
    datagrams, with their senders as IPv4-mapped addresses (::ffff:a.b.c.d).

    Output 0 emits each received datagram's payload (no IP or UDP header)
    with ts_ns set to the time of receipt and the sender's address and port
    in the dst_ip and port annotations: the address a reply must go to.
    Datagrams longer than SNAPLEN or than a packet slot are dropped and
    counted in `rx_drops`.

    Where sent packets go:
      - a client with ADDR not 0.0.0.0 sends every packet to ADDR:PORT;
      - a client with ADDR 0.0.0.0 sends each packet to its dst_ip
        annotation, at PORT (or at its port annotation when PORT is 0), as
        Click's Socket does with the destination annotation;
      - a server sends each packet to its dst_ip:port annotations when dst_ip
        is set (so `s :: Socket(UDP, 0.0.0.0, 9000); s -> s` echoes), and to
        the last sender otherwise, as Click's server does.
    Packets with nowhere to go are dropped and counted in `drops`.

    The input is agnostic.  Pushed packets are sent at once, a batch per
    sendmmsg(); when the kernel pushes back (EAGAIN) up to QUEUE of them wait
    for the socket to become writable and further ones are dropped and
    counted.  On a pull input Socket pulls while the socket takes packets.
    With GSO (the default where Linux offers UDP_SEGMENT), runs of
    same-sized datagrams to one destination cross the sender's stack as one
    message; receivers see ordinary datagrams.  With GRO (the default where
    Linux offers UDP_GRO) such runs also cross the receiving stack as one.

    Arguments:
      TYPE (word)                 UDP
      ADDR (IP or IPv6 address)   server: address to bind; client: where to send
      PORT (port)                 server: port to bind; client: port to send to
      LOCAL_ADDR (IP or IPv6)     client: address to bind (default 0.0.0.0 or ::)
      LOCAL_PORT (port)           client: port to bind (default: any free one)

    Keyword arguments:
      CLIENT (boolean)            be a client (see above for the default)
      CONNECT (boolean, false)    connect() a client to ADDR:PORT: faster sends,
                                  and the kernel silently drops datagrams from
                                  any other sender
      SNDBUF (integer)            socket send buffer size in bytes
      RCVBUF (integer)            socket receive buffer size in bytes
      SNAPLEN (integer, 2048)     longest datagram received
      TIMESTAMP (boolean, true)   accepted for Click compatibility (ts_ns is always set)
      BURST (integer, 256)        most datagrams (GRO: messages, at most 32) received
                                  per readiness, or packets pulled
      QUEUE (integer, 1000)       most packets waiting for a blocked socket
      GSO (boolean, true)         use UDP segmentation offload when sending
      GRO (boolean, true)         receive with UDP GRO: a peer's GSO runs cross
                                  this host's stack as one and are cut into
                                  datagrams here (one copy each, from a scratch
                                  buffer, instead of one skb each in the kernel)
      NETNS (string)              open the socket inside this network namespace
      VERBOSE (boolean, false)    print send and receive errors as they happen

    Handlers:
      count (read)          datagrams received
      tx_count (read)       datagrams sent
      drops (read)          packets not sent: backlog full, no destination, refused
      rx_drops (read)       datagrams dropped: too long, or the packet pool was empty
      queue_length (read)   packets waiting for the socket
      local (read)          the bound address, ADDR:PORT ([ADDR]:PORT for IPv6)
      remote (read/write)   where a client sends, ADDR:PORT (empty for a server); writing
                            re-points an unconnected client (a peer that moved) to an
                            address of the socket's family
      last_sender (read)    ADDR:PORT of the last datagram received
      gso (read)            whether sends use UDP GSO
      gro (read)            whether receives use UDP GRO
      reset (write)         set the counters to zero
    """
    PORTS = "0-1/0-1"
    PROCESSING = "a/h"

    def configure(self, args):
        kind = args.positional("TYPE", word).upper()
        if kind != "UDP":
            raise ArgumentError(f"{args.where}: Socket type {kind} is not supported; "
                                "vforward's Socket speaks UDP")
        family, self.addr = args.positional("ADDR", underlay_address)
        self.port = args.positional("PORT", udp_port)
        local_addr = args.positional("LOCAL_ADDR", underlay_address, default=None)
        if local_addr is not None:
            if local_addr[0] != family:
                raise ArgumentError(
                    f"{args.where}: ADDR {address_text(family, self.addr)} is IPv{family} and "
                    f"LOCAL_ADDR {address_text(*local_addr)} IPv{local_addr[0]}; a socket "
                    "speaks one family: give both addresses of one")
            local_addr = local_addr[1]
        self.family = family
        local_port = args.positional("LOCAL_PORT", udp_port, default=None)
        self.client_flag = args.keyword("CLIENT", boolean, default=None)
        self.connect = args.keyword("CONNECT", boolean, default=False)
        self.sndbuf = args.keyword("SNDBUF", unsigned, default=None)
        self.rcvbuf = args.keyword("RCVBUF", unsigned, default=None)
        self.snaplen = args.keyword("SNAPLEN", unsigned, default=2048)
        args.keyword("TIMESTAMP", boolean, default=True)
        self.burst = args.keyword("BURST", unsigned, default=256)
        self.queue_capacity = args.keyword("QUEUE", unsigned, default=1000)
        self.want_gso = args.keyword("GSO", boolean, default=True)
        self.want_gro = args.keyword("GRO", boolean, default=True)
        self.netns = args.keyword("NETNS", word, default=None)
        self.verbose = args.keyword("VERBOSE", boolean, default=False)
        args.finish()
        if not 1 <= self.burst <= 1024:
            raise ArgumentError(f"{args.where}: argument BURST: must be between 1 and 1024")
        if self.client_flag is False and (local_addr is not None or local_port is not None):
            local_addr = local_port = None       # Click: a server ignores LOCAL_*
        self.local_addr = local_addr or 0
        self.local_port = local_port or 0
        self._local_given = local_addr is not None or local_port is not None
        self.io = _io
        self.count = self.rx_drops = 0
        self.no_destination = 0
        self.client = False
        self._sock: socket.socket | None = None
        self._sender = _Sender(self.io, family == 6)
        self._recv = self.io.recv_burst
        self.gro = False
        self._reading = False
        self._last = (0, 0)
        self._reported: set = set()

    def exclusive_resource(self):
        """A fixed local port can be bound by one element (per namespace)."""
        if self._is_client_by_config() is False and self.port:
            return ("UDP port", f"{self.netns or ''}:{self._text(self.addr)}:{self.port}")
        if self.local_port:
            return ("UDP port",
                    f"{self.netns or ''}:{self._text(self.local_addr)}:{self.local_port}")
        return None

    def _is_client_by_config(self):
        if self.client_flag is not None:
            return self.client_flag
        return True if self._local_given else None

    def _text(self, addr: int) -> str:
        return address_text(self.family, addr)

    def _where(self) -> str:
        loc = f"{self.location}: " if self.location is not None else ""
        return f"{loc}Socket '{self.name}'"

    def _say_once(self, key, message: str) -> None:
        if key not in self._reported or self.verbose:
            self._reported.add(key)
            print(f"{self._where()}: {message}", file=sys.stderr)

    # -- life cycle -------------------------------------------------------------
    def initialize(self):
        client = self._is_client_by_config()
        if client is None:
            client = self.n_outputs == 0
        self.client = client
        bind = (self.local_addr, self.local_port) if client else (self.addr, self.port)
        self._sock = self._open(bind)
        s = self._sender
        s.gso_max = self._gso_max() if self.want_gso else 0
        if self.want_gro and self.n_outputs:
            self._use_gro()
        if client and self.addr:
            if self.connect:
                s.addr = s.port = 0                     # the connected peer
            else:
                s.addr, s.port = self.addr, self.port
        else:
            s.per_packet = True
        fd = self._sock.fileno()
        self._start_writer(fd, s)
        if self.n_outputs:
            self.router.add_reader(fd, self._on_readable, poll=True)
            self._reading = True
        self._start_pulling()

    def _open(self, bind) -> socket.socket:
        where = f" in namespace {self.netns!r}" if self.netns else ""
        try:
            with _netns.entered(self.netns):
                sock = socket.socket(_AF[self.family], socket.SOCK_DGRAM)
        except _netns.NetnsError as e:
            raise ElementError(f"{self._where()}: {e}") from None
        try:
            sock.setblocking(False)
            if self.sndbuf is not None:
                _set_buffer(sock, socket.SO_SNDBUF, 32, self.sndbuf)
            if self.rcvbuf is not None:
                _set_buffer(sock, socket.SO_RCVBUF, 33, self.rcvbuf)
            try:
                sock.bind((self._text(bind[0]), bind[1]))
            except OSError as e:
                hint = {errno.EADDRINUSE: "another socket has that port; choose another",
                        errno.EADDRNOTAVAIL: "no interface has that address"
                                             f"{where}; give one it has"}.get(e.errno, "")
                raise ElementError(f"{self._where()}: cannot bind UDP "
                                   f"{endpoint_text(self.family, *bind)}{where}: {e.strerror}"
                                   + (f"; {hint}" if hint else "")) from None
            if self.connect and self.client and self.addr:
                sock.connect((self._text(self.addr), self.port))
        except Exception:
            sock.close()
            raise
        return sock

    def _gso_max(self) -> int:
        """Largest datagram to coalesce: path MTU less headers; 0 without UDP GSO."""
        try:
            self._sock.setsockopt(self.io.SOL_UDP, self.io.UDP_SEGMENT, 0)
        except OSError:
            return 0
        mtu = 1500
        if self.client and self.addr:
            try:
                with _netns.entered(self.netns):
                    probe = socket.socket(_AF[self.family], socket.SOCK_DGRAM)
                with probe:
                    probe.connect((self._text(self.addr), self.port or 9))
                    mtu = probe.getsockopt(*((socket.IPPROTO_IPV6, _IPV6_MTU) if self.family == 6
                                             else (socket.IPPROTO_IP, _IP_MTU)))
            except OSError:
                pass
        return max(0, min(mtu, 65535) - _UDP_IP_HEADERS[self.family])

    def _use_gro(self) -> None:
        """Receive with UDP_GRO where Linux offers it: a peer's GSO runs arrive as one."""
        try:
            self._sock.setsockopt(self.io.SOL_UDP, self.io.UDP_GRO, 1)
        except OSError:
            return
        self._recv = self.io.GROReceiver(min(self.burst, _GRO_MESSAGES)).recv_burst
        self.gro = True

    def cleanup(self):
        if self._sock is None:
            return
        if self._reading:
            self._reading = False
            self.router.remove_reader(self._sock.fileno())
        if self._writer is not None:
            self._writer.close()
        self._sock.close()
        self._sock = None

    # -- receiving ------------------------------------------------------------------
    def _on_readable(self):
        pool = self.router.pool
        fd = self._sock.fileno()
        try:
            idx, dropped = self._recv(fd, pool, self.burst)
        except OSError as e:
            self._on_read_error(e)
            return
        self.rx_drops += dropped
        if len(idx) == 0:
            if pool.n_free == 0:
                self.rx_drops += self._drain()
                self._say_once("pool", "packet pool exhausted; dropping received datagrams")
            return
        last = idx[-1]
        if self.family == 6:
            self._last = (int.from_bytes(pool.dst_ip6[last].tobytes(), "big"), int(pool.port[last]))
        else:
            self._last = (int(pool.dst_ip[last]), int(pool.port[last]))
        if self.snaplen < pool.slot_size:
            long = pool.length[idx] > self.snaplen
            if long.any():
                self.rx_drops += int(long.sum())
                pool.free(idx[long])
                idx = idx[~long]
        self.count += len(idx)
        self.emit(0, Batch(pool, idx))

    def _drain(self) -> int:
        n = 0
        while n < self.burst:
            try:
                self._sock.recv(1)
            except OSError:
                break
            n += 1
        return n

    def _on_read_error(self, e: OSError) -> None:
        if e.errno in _TRANSIENT_READ_ERRORS:
            self._say_once(("read", e.errno), f"receiving: {e.strerror}")
            return
        self._say_once(("read", e.errno), f"receiving failed: {e.strerror}; no longer receiving")
        self._reading = False
        self.router.remove_reader(self._sock.fileno())

    # -- sending ----------------------------------------------------------------------
    def push(self, port, batch):
        if self._sock is None:
            batch.kill()
            return
        batch, dropped = software_offload(batch)
        self._writer.drops += dropped
        s = self._sender
        if s.per_packet:
            batch = self._routable(batch)
            if not len(batch.idx):
                return
        self._writer.send(batch)

    def _routable(self, batch: Batch) -> Batch:
        """Give per-packet sends their destination; drop packets that have none."""
        pool = batch.pool
        idx = batch.idx
        s = self._sender
        if self.client:
            if self.port:
                pool.port[idx] = self.port
            s.addr, s.port = 0, 0
        else:
            s.addr, s.port = self._last
        if s.addr:
            return batch
        ok = pool.dst_ip6[idx].any(axis=1) if self.family == 6 else pool.dst_ip[idx] != 0
        if self.client:
            ok &= pool.port[idx] != 0
        if ok.all():
            return batch
        good, bad = batch.split(ok)
        self.no_destination += len(bad.idx)
        self._writer.drops += len(bad.idx)
        self._say_once("nodest", "dropping packets with no destination (no dst_ip annotation "
                                 "and no sender to answer yet)")
        bad.kill()
        return good

    def _on_write_error(self, err: int) -> None:
        self._say_once(("write", err), f"sending failed: {os.strerror(err)}")

    def _is_open(self) -> bool:
        return self._sock is not None

    # -- handlers -----------------------------------------------------------------------
    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("rx_drops")
    def read_rx_drops(self):
        return self.rx_drops

    @read_handler("local")
    def read_local(self):
        if self._sock is None:
            return ""
        host, port = self._sock.getsockname()[:2]
        return f"[{host}]:{port}" if self.family == 6 else f"{host}:{port}"

    @read_handler("remote")
    def read_remote(self):
        return endpoint_text(self.family, self.addr, self.port) if self.client and self.addr else ""

    @write_handler("remote")
    def write_remote(self, value):
        """A client's destination moves (a peer restarted with a new address): ADDR:PORT."""
        try:
            (family, new_addr), new_port = address_and_port(value)
        except ArgumentError as e:
            raise ElementError(f"remote: {e}; write ADDR:PORT such as 192.0.2.7:20001 or "
                               "[2001:db8::7]:20001") from None
        if new_port is None:
            new_port = self.port
        if not self.client or self.connect:
            raise ElementError("remote: only an unconnected client Socket can be re-pointed")
        if family != self.family:
            raise ElementError(f"remote: {address_text(family, new_addr)} is IPv{family} and "
                               f"this socket IPv{self.family}; give an IPv{self.family} address")
        self.addr, self.port = new_addr, new_port
        self._sender.addr, self._sender.port = new_addr, new_port

    @read_handler("last_sender")
    def read_last_sender(self):
        return endpoint_text(self.family, *self._last) if self._last[0] else ""

    @read_handler("gso")
    def read_gso(self):
        return self._sender.gso_max > 0

    @read_handler("gro")
    def read_gro(self):
        return self.gro

    @write_handler("reset")
    def write_reset(self, value):
        self.count = self.rx_drops = self.no_destination = 0
        self._reset_writer_counts()


def _set_buffer(sock: socket.socket, option: int, force_option: int, size: int) -> None:
    """SO_SNDBUF/SO_RCVBUF, past the sysctl limits (the *FORCE options) when allowed."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, force_option, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, option, size)
