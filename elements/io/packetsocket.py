"""Opening AF_PACKET sockets for FromDevice and ToDevice.

`open_receiver` and `open_sender` make a packet socket (inside a named
network namespace when asked), set up its memory-mapped ring and bind it to
one device.  The `PacketSocket` they return carries the socket and the
object that moves packets through it:

- receive: a TPACKET_V3 block ring walked by the compiled `RxRing`
  (cext/afpacket.pyx), or with no block timeout a TPACKET_V2 frame ring
  walked by `RxFrameRing`;
- send: a TPACKET_V2 frame ring filled by the compiled `TxRing`, with
  PACKET_QDISC_BYPASS when the kernel has it;
- with ring=False, or when the kernel refuses a ring, the per-packet
  `RxSocket` / `TxSocket` of cext/afpacket_reference.py on the same socket.

`PacketSocket.method` says which one is in use.  Setup is plain Python: it
runs once; only the per-batch work is compiled.
"""
from __future__ import annotations

import errno
import fcntl
import mmap
import socket
import struct

from vforward import netns as _netns
from vforward import kernels
from vforward.cext import afpacket_reference

# The rings are compiled; the reference (VFORWARD_REFERENCE=afpacket) is the plain
# socket, one system call per packet, that a kernel without rings gets too.
afpacket = None if kernels.reference_requested("afpacket") else kernels.load("afpacket")

# <linux/if_ether.h>, <linux/if_packet.h>, <linux/socket.h>, <linux/sockios.h>
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_ADD_MEMBERSHIP = 1
PACKET_MR_PROMISC = 1
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_TX_RING = 13
PACKET_LOSS = 14
PACKET_VNET_HDR = 15
PACKET_QDISC_BYPASS = 20
PACKET_IGNORE_OUTGOING = 23
TPACKET_V2 = 1
TPACKET_V3 = 2
SO_SNDBUFFORCE = 32
SO_RCVBUFFORCE = 33
SIOCGIFMTU = 0x8921
SIOCGIFINDEX = 0x8933

RX_FRAME_SIZE = 2048        # tp_frame_size for V3: only a unit of the ring's bookkeeping
# With offloads: RX blocks that hold a 64 KB super-frame with room to spare, and
# TX frames of 17 pages (a 65,535-byte frame, its virtio_net_hdr and the ring's header).
OFFLOAD_BLOCK_SIZE = 1 << 18
OFFLOAD_FRAME_SIZE = 17 * 4096
OFFLOAD_TX_FRAMES = 256
TX_BLOCK_SIZE = 1 << 16


class DeviceError(OSError):
    """A device could not be opened; the message names the device and the fix."""

    def __str__(self):
        return self.args[0] if self.args else "device error"


class DeviceKey(tuple):
    """(netns, devname): what exclusive_resource() names, printed for people."""

    def __new__(cls, netns: str | None, devname: str):
        return super().__new__(cls, (netns, devname))

    def __repr__(self):
        netns, devname = self
        return repr(devname) + (f" in network namespace {netns!r}" if netns else "")


def _where(devname: str, netns: str | None) -> str:
    return f"device {devname!r}" + (f" in network namespace {netns!r}" if netns else "")


class PacketSocket:
    """An AF_PACKET socket bound to one device, with what moves packets through it.

    `rx` (receivers) or `tx` (senders) is an afpacket.RxRing / TxRing or
    their per-packet reference twins; `method` names it for handlers.
    """

    def __init__(self, sock: socket.socket, devname: str, netns: str | None, method: str,
                 rx=None, tx=None):
        self.sock = sock
        self.devname = devname
        self.netns = netns
        self.method = method
        self.rx = rx
        self.tx = tx
        self.fd = sock.fileno()
        self._kernel_packets = 0
        self._kernel_drops = 0

    def kernel_stats(self) -> tuple[int, int]:
        """(packets, drops) the kernel counted for this socket since it was opened.

        PACKET_STATISTICS resets the kernel's counters on every read, so the
        totals are kept here.
        """
        if self.sock.fileno() >= 0:
            raw = self.sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 12)
            packets, drops = struct.unpack_from("II", raw)
            self._kernel_packets += packets
            self._kernel_drops += drops
        return self._kernel_packets, self._kernel_drops

    def close(self) -> None:
        if self.sock.fileno() < 0:
            return
        if self.rx is not None:
            self.kernel_stats()
        for ring in (self.rx, self.tx):
            if ring is not None:
                ring.close()
        self.sock.close()


def _packet_socket(devname: str, netns: str | None) -> socket.socket:
    """A non-blocking packet socket with protocol 0: it sees no packet until bound."""
    try:
        with _netns.entered(netns):
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    except PermissionError:
        raise DeviceError(f"opening a packet socket for {_where(devname, netns)} needs root "
                          "(or CAP_NET_RAW); run vforward as root") from None
    except _netns.NetnsError as e:
        raise DeviceError(str(e)) from None
    sock.setblocking(False)
    return sock


def _bind(sock: socket.socket, devname: str, netns: str | None, protocol: int) -> None:
    try:
        sock.bind((devname, protocol))
    except OSError as e:
        sock.close()
        if e.errno == errno.ENODEV:
            raise DeviceError(f"no {_where(devname, netns)}; check its name with "
                              f"'ip{' -n ' + netns if netns else ''} link'") from None
        raise DeviceError(f"cannot bind a packet socket to {_where(devname, netns)}: "
                          f"{e.strerror}") from None


def _set_optional(sock: socket.socket, option: int, value: int | bytes = 1) -> bool:
    """Set a SOL_PACKET option the kernel may not know or may refuse; True if set."""
    try:
        sock.setsockopt(SOL_PACKET, option, value)
        return True
    except OSError:
        return False


def _set_buffer(sock: socket.socket, force: int, plain: int, size: int) -> None:
    try:
        sock.setsockopt(socket.SOL_SOCKET, force, size)
    except OSError:
        sock.setsockopt(socket.SOL_SOCKET, plain, size)


def device_mtu(sock: socket.socket, devname: str) -> int:
    """The device's MTU, asked through the socket (so in the socket's namespace)."""
    req = struct.pack("16si", devname.encode(), 0)
    return struct.unpack_from("16si", fcntl.ioctl(sock.fileno(), SIOCGIFMTU, req))[1]


def open_receiver(devname: str, netns: str | None = None, *, ring: bool = True,
                  promisc: bool = False, outbound: bool = False,
                  block_size: int = 1 << 16, block_nr: int = 64,
                  block_timeout_ms: int = 1, offload: bool = False) -> PacketSocket:
    """A socket receiving every frame of `devname`, through a TPACKET_V3 ring
    of block_nr blocks of block_size bytes when ring is true.

    Frames the host sends out of the device are skipped unless outbound is
    true (with PACKET_IGNORE_OUTGOING in the kernel when it has it, so they
    are never even copied).  A block is handed over when full or after
    block_timeout_ms, so that is the latency added at low rates; with
    block_timeout_ms 0 the ring is TPACKET_V2 instead, whose fixed-size
    frames (each large enough for an MTU-sized frame) are handed over one
    at a time, at once.

    With offload, TCP super-frames of up to 64 KB come whole with their
    offload state (PACKET_VNET_HDR) into the pool's offload annotations: the
    ring is then a block ring of blocks of at least OFFLOAD_BLOCK_SIZE.
    """
    if offload and ring and block_timeout_ms == 0:
        raise DeviceError(f"{_where(devname, netns)}: offloads need the block ring (a block "
                          "timeout above 0): a frame ring of 64 KB frames would be huge")
    if offload:
        block_size = max(block_size, OFFLOAD_BLOCK_SIZE)
    if block_size <= 0 or block_size % mmap.PAGESIZE:
        raise DeviceError(f"ring block size {block_size} is not a multiple of the "
                          f"{mmap.PAGESIZE}-byte page size")
    ring = ring and afpacket is not None
    sock = _packet_socket(devname, netns)
    try:
        if not outbound:
            _set_optional(sock, PACKET_IGNORE_OUTGOING)
        # Each frame comes with a virtio_net_hdr, which says when its TCP/UDP
        # checksum is still to be computed (CHECKSUM_PARTIAL: local traffic
        # on veth); the receivers fill it in, so forwarded frames are valid.
        vnet = _set_optional(sock, PACKET_VNET_HDR)
        if offload and not vnet:
            raise DeviceError(f"{_where(devname, netns)}: this kernel has no PACKET_VNET_HDR; "
                              "run without OFFLOAD")
        rx = None
        method = "plain socket, one recvmsg per packet"
        if ring and block_timeout_ms == 0 and _set_optional(sock, PACKET_VERSION, TPACKET_V2):
            frame_size = RX_FRAME_SIZE
            try:
                mtu = device_mtu(sock, devname)
            except OSError as e:        # the name is wrong: say so as bind() would
                _bind(sock, devname, netns, 0)
                raise DeviceError(f"{_where(devname, netns)}: {e.strerror}") from None
            while frame_size < mtu + 18 + 128:
                frame_size *= 2          # 18: Ethernet header and a VLAN tag; 128: ring headers
            block_size = max(block_size, frame_size)
            frames = block_size // frame_size * block_nr
            req = struct.pack("4I", block_size, block_nr, frame_size, frames)
            if _set_optional(sock, PACKET_RX_RING, req):
                try:
                    rx = afpacket.RxFrameRing(sock.fileno(), block_size, block_nr, frame_size,
                                              not outbound, vnet)
                except OSError as e:
                    raise DeviceError(f"cannot map the {frames}-frame receive ring of "
                                      f"{_where(devname, netns)}: {e.strerror}; "
                                      "lower RING_BLOCKS or BLOCK_SIZE") from None
                method = f"TPACKET_V2 ring, {frames} frames of {frame_size} bytes"
        elif ring and _set_optional(sock, PACKET_VERSION, TPACKET_V3):
            frames = block_size // RX_FRAME_SIZE * block_nr
            req = struct.pack("7I", block_size, block_nr, RX_FRAME_SIZE, frames,
                              max(1, block_timeout_ms), 0, 0)
            # A kernel that refuses the ring leaves a plain socket: use it per packet.
            if _set_optional(sock, PACKET_RX_RING, req):
                try:
                    rx = afpacket.RxRing(sock.fileno(), block_size, block_nr, not outbound, vnet)
                except OSError as e:
                    raise DeviceError(f"cannot map the {block_nr} x {block_size}-byte receive "
                                      f"ring of {_where(devname, netns)}: {e.strerror}; "
                                      "lower RING_BLOCKS or BLOCK_SIZE") from None
                method = f"TPACKET_V3 ring, {block_nr} x {block_size} bytes"
        if rx is None:
            _set_buffer(sock, SO_RCVBUFFORCE, socket.SO_RCVBUF, block_size * block_nr)
            rx = afpacket_reference.RxSocket(sock, not outbound, vnet)
        rx.keep_offload = offload
        _bind(sock, devname, netns, ETH_P_ALL)   # bind() byte-swaps it itself
        if promisc:
            mreq = struct.pack("iHH8s", _ifindex(sock), PACKET_MR_PROMISC, 0, b"")
            sock.setsockopt(SOL_PACKET, PACKET_ADD_MEMBERSHIP, mreq)
    except BaseException:
        if sock.fileno() >= 0:
            sock.close()
        raise
    return PacketSocket(sock, devname, netns, method, rx=rx)


def _ifindex(sock: socket.socket) -> int:
    """The index of the device a packet socket is bound to (valid in its namespace)."""
    # getsockname() on a bound packet socket returns (ifname, proto, ...) but not
    # the index; SIOCGIFINDEX through the socket answers in the socket's namespace.
    name = sock.getsockname()[0]
    req = struct.pack("16si", name.encode(), 0)
    return struct.unpack_from("16si", fcntl.ioctl(sock.fileno(), SIOCGIFINDEX, req))[1]


def open_sender(devname: str, netns: str | None = None, *, ring: bool = True,
                frame_nr: int = 1024, qdisc_bypass: bool = True,
                offload: bool = False) -> PacketSocket:
    """A socket sending frames out of `devname`, through a TPACKET_V2 ring of
    frame_nr frames when ring is true (each frame holds one MTU-sized packet).

    It never receives (it is bound with protocol 0).  With qdisc_bypass the
    kernel hands frames straight to the driver (PACKET_QDISC_BYPASS), as a
    router wants; frames the device refuses are dropped (PACKET_LOSS) rather
    than blocking the ring.

    With offload every frame goes with a virtio_net_hdr (PACKET_VNET_HDR)
    made from the packet's offload annotations, so TCP super-frames leave
    whole; ring frames then hold 64 KB, and there are at most
    OFFLOAD_TX_FRAMES of them.
    """
    ring = ring and afpacket is not None
    sock = _packet_socket(devname, netns)
    try:
        _bind(sock, devname, netns, 0)
        if offload and not _set_optional(sock, PACKET_VNET_HDR):
            raise DeviceError(f"{_where(devname, netns)}: this kernel has no PACKET_VNET_HDR; "
                              "run without OFFLOAD")
        bypass = qdisc_bypass and _set_optional(sock, PACKET_QDISC_BYPASS)
        _set_buffer(sock, SO_SNDBUFFORCE, socket.SO_SNDBUF, 4 << 20)
        tx = None
        method = "plain socket, one send per packet"
        if ring and _set_optional(sock, PACKET_VERSION, TPACKET_V2):
            frame_size = 2048
            while frame_size < device_mtu(sock, devname) + 18 + afpacket.TX_DATA_OFFSET:
                frame_size *= 2          # 18: Ethernet header and one VLAN tag
            if offload:                  # a 64 KB super-frame and its virtio_net_hdr
                frame_size = OFFLOAD_FRAME_SIZE
                frame_nr = min(frame_nr, OFFLOAD_TX_FRAMES)
            block_size = max(TX_BLOCK_SIZE, frame_size)
            per_block = block_size // frame_size
            block_nr = max(1, -(-frame_nr // per_block))
            req = struct.pack("4I", block_size, block_nr, frame_size, per_block * block_nr)
            # PACKET_LOSS: a frame the device refuses is dropped instead of stopping the ring.
            _set_optional(sock, PACKET_LOSS)
            if _set_optional(sock, PACKET_TX_RING, req):
                try:
                    tx = afpacket.TxRing(sock.fileno(), block_size, block_nr, frame_size,
                                         offload)
                except OSError as e:
                    raise DeviceError(f"cannot map the transmit ring of "
                                      f"{_where(devname, netns)}: {e.strerror}") from None
                method = f"TPACKET_V2 ring, {tx.frame_nr} frames of {frame_size} bytes"
        if tx is None:
            tx = afpacket_reference.TxSocket(sock, offload)
        if bypass:
            method += ", qdisc bypass"
    except BaseException:
        if sock.fileno() >= 0:
            sock.close()
        raise
    return PacketSocket(sock, devname, netns, method, tx=tx)
