"""KernelTun and KernelTap: the kernel's own network stack as a device of the router.

Both classes share one implementation over a Linux TUN/TAP device
(`tundevice.py` opens and configures it): frames are read a burst at a time
into pool slots and written a batch at a time by the compiled loops of
cext/tapio.pyx, and a `BurstWriter` (burstwriter.py) keeps what the kernel
will not take yet.

With OFFLOAD true the device is opened with IFF_VNET_HDR and offers the
kernel checksum, TSO and USO offloads, as a virtio NIC does: the kernel
then hands over TCP super-frames of up to 64 KB with their checksums left
to finish, and takes them back the same way, so TCP through the router
moves a few large packets instead of many small ones.  The offload state
travels in the pool's offload annotations (packet.py); a device without
OFFLOAD, and any other sink that cannot pass it on, finishes checksums and
segments super-frames in software first (vforward/offload.py).  OFFLOAD
needs 64 KB pool slots, which the router then gives its whole pool.

A KernelTap gives the loop a compiled reader (cext/taprx.pyx) instead
of `_on_readable`: when its output leads to the
fused input and forwarding passes and on to another KernelTap, a frame is
read, forwarded and written in that one call, with no Python frame; any
batch that leaves the common case goes to the same push as before.
"""
from __future__ import annotations

import errno
import functools
import ipaddress
import os
import sys

import numpy as np

from vforward.args import ArgumentError, boolean, ip_address, ip_address_and_prefix, \
    mac_address, unsigned, word
from vforward.element import HandlerError, read_handler, write_handler
from vforward.elements.io.burstwriter import BurstSink
from vforward.elements.io.tundevice import TunDevice, check_name, configure_device, \
    enable_offloads, open_device, set_persist
from vforward.offload import software_offload
from vforward.packet import GSO_SLOT_SIZE, Batch

from vforward import kernels

_io = kernels.load("tapio")
_rx = kernels.load("taprx")

ETHER_HLEN = 14
VLAN_HLEN = 4
TUNSETCARRIER = 0x400454E2      # _IOW('T', 226, int), Linux 5.0 and later
GSO_MAX_FRAME = 65535           # the IP length field's limit, Ethernet header aside
_TRANSIENT_READ_ERRORS = (errno.EINTR, errno.EAGAIN, errno.ENOBUFS, errno.ENOMEM)


def _addr_mask(text: str) -> tuple[int, int]:
    """ADDR/MASK as Click writes it: 10.0.0.1/24, 10.0.0.1/255.255.255.0 or '10.0.0.1 255.255.255.0'."""
    parts = text.split()
    if len(parts) == 2 and "/" not in text:
        text = "/".join(parts)
    return ip_address_and_prefix(text)


def _text_of(address: int, prefixlen: int) -> str:
    return f"{ipaddress.IPv4Address(address)}/{prefixlen}"


class _VnetWriter:
    """The write side of a device with virtio_net_hdr, as BurstWriter calls it."""

    def __init__(self, io):
        self.write_burst = io.write_burst_vnet


class KernelTun(BurstSink):
    """KernelTun(ADDR/MASK [, GATEWAY, KEYWORDS]) -- interface to a Linux TUN device

    Ports: at most 1 input (agnostic), 1 or 2 push outputs.

    Creates a TUN device (or a TAP device with TAP true, as KernelTap does),
    gives the kernel's side of it the address ADDR with netmask MASK, brings
    it up, and exchanges IP packets with the kernel through it: whatever
    the kernel routes to the device comes out of output 0, and what arrives
    on the input is handed to the kernel's IP stack as if received on the
    device.  With GATEWAY (an address inside ADDR/MASK) the kernel also gets
    a default route via GATEWAY on the device.  With NETNS the device is
    created, addressed and routed inside that network namespace (which must
    exist), so a virtual node's kernel talks to the router through it.

    Packets sent to ADDR itself stay in the kernel; packets to other
    addresses of ADDR/MASK, or routed to the device, reach the router.  With
    `tun :: KernelTun(10.9.0.1/24)`, "ping 10.9.0.2" sends ICMP echo
    requests out of output 0.

    Output 0 emits IPv4 and IPv6 packets, a burst at a time whenever the
    device is readable, with the nh annotation on the IP header and ts_ns
    set to the time of reading.  A frame that is not IP (or not a plausible
    IP header) goes to output 1, or is dropped if output 1 is not connected.

    The input is agnostic.  Pushed packets are written at once; when the
    kernel pushes back, up to QUEUE of them wait for the device to become
    writable and further ones are dropped (the `drops` handler).  On a pull
    input, KernelTun pulls whenever its upstream Queue has packets and
    waits while writes would block.  A packet is written from its network
    header when nh is set (from its start otherwise); packets that are not
    IPv4/IPv6 or are longer than MTU are dropped and counted in `drops`.

    Closing the device at shutdown removes it from the kernel, unless
    PERSIST is true: the device then stays (down, without carrier) until its
    namespace is deleted, which removes all its devices at once; a lab uses
    this so that destroying a hundred nodes takes a moment, not seconds.
    The device DEVNAME may be used by one element only (the graph check
    refuses two).

    Arguments:
      ADDR/MASK (IP address and prefix)  the kernel's address on the device;
                                         0.0.0.0/0 leaves the device without one
      GATEWAY (IP address)               add a default route via this address
      DEV_GATEWAY (IP address)           the same as GATEWAY
      DEVNAME (string, default vf-tunN)  the device name (at most 15 characters;
                                         %d is numbered by the kernel)
      NETNS (string)                     create the device in this network namespace
      MTU (integer, default 1500)        the device MTU; longer packets are not sent
      ETHER (Ethernet address)           the device's MAC (TAP only; random by default)
      TAP (boolean, default false)       make a TAP (Ethernet) device instead
      BURST (integer, default 256)       most frames read per readiness, or pulled
      QUEUE (integer, default 1000)      most packets waiting for a blocked device
      HEADROOM (integer)                 accepted for Click compatibility; the
                                         packet pool sets the headroom
      IGNORE_QUEUE_OVERFLOWS (boolean)   accepted for Click compatibility
      PERSIST (boolean, default false)   leave the device in place at shutdown (to go
                                         with its NETNS namespace)
      OFFLOAD (boolean, default false)   checksum and segmentation offloads (IFF_VNET_HDR):
                                         TCP moves as 64 KB super-frames

    Handlers:
      count (read)        frames read from the device
      packets (read)      the same, under Click's name
      gso_count (read)    frames read that were GSO super-frames (with OFFLOAD)
      tx_count (read)     packets written to the device
      drops (read)        packets not written: backlog full, refused or invalid
      rx_drops (read)     frames read and dropped because the packet pool was empty
      queue_length (read) packets waiting for the device
      dev_name (read)     the device's name
      address (read)      ADDR/MASK
      netns (read)        the namespace of the device
      carrier (read/write) the link's carrier: false is a pulled cable (TUNSETCARRIER)
      reset (write)       set the counters to zero
    """
    PORTS = "0-1/1-2"
    PROCESSING = "a/h"
    TAP = False

    def configure(self, args):
        self.address, self.prefixlen = args.positional("ADDR", _addr_mask)
        gateway = args.positional("GATEWAY", ip_address, default=0)
        dev_gateway = args.keyword("DEV_GATEWAY", ip_address, default=0)
        name = args.keyword("DEVNAME", word, default=None)
        old_name = args.keyword("DEV_NAME", word, default=None)
        self.netns = args.keyword("NETNS", word, default=None)
        self.mtu = args.keyword("MTU", unsigned, default=1500)
        self.ether = args.keyword("ETHER", mac_address, default=None)
        self.tap = self._read_tap(args)
        self.burst = args.keyword("BURST", unsigned, default=256)
        self.queue_capacity = args.keyword("QUEUE", unsigned, default=1000)
        self.persist = args.keyword("PERSIST", boolean, default=False)
        self.offload = args.keyword("OFFLOAD", boolean, default=False)
        args.keyword("HEADROOM", unsigned, default=0)
        args.keyword("IGNORE_QUEUE_OVERFLOWS", boolean, default=False)
        args.finish()
        where = args.where
        if gateway and dev_gateway and gateway != dev_gateway:
            raise ArgumentError(f"{where}: GATEWAY and DEV_GATEWAY differ; give one of them")
        self.gateway = gateway or dev_gateway
        mask = (0xFFFFFFFF << (32 - self.prefixlen)) & 0xFFFFFFFF
        if self.gateway and (not self.address
                             or (self.gateway & mask) != (self.address & mask)):
            raise ArgumentError(f"{where}: GATEWAY {ipaddress.IPv4Address(self.gateway)} is not "
                                f"inside ADDR/MASK {_text_of(self.address, self.prefixlen)}; "
                                "give a gateway on the device's network")
        self.dev_name = name or old_name
        if self.dev_name is not None:
            try:
                check_name(self.dev_name)
            except ValueError as e:
                raise ArgumentError(f"{where}: argument DEVNAME: {e}") from None
        if not 68 <= self.mtu <= 65535 - ETHER_HLEN - VLAN_HLEN:
            raise ArgumentError(f"{where}: argument MTU: {self.mtu} is outside 68..65517")
        if self.burst < 1:
            raise ArgumentError(f"{where}: argument BURST: must be at least 1")
        self.io = _io
        self.slot_size_needed = GSO_SLOT_SIZE if self.offload else 0
        self.count = self.rx_drops = self.gso_count = 0
        self._dev: TunDevice | None = None
        self._carrier = True
        self._reading = False
        self._rx = None                 # the compiled reader, when the device has one
        self._reported: set = set()

    def _read_tap(self, args) -> bool:
        return args.keyword("TAP", boolean, default=False)

    def exclusive_resource(self):
        """A named device can belong to one element (per namespace)."""
        if self.dev_name is None or "%" in self.dev_name:
            return None
        return ("device", f"{self.netns}:{self.dev_name}" if self.netns else self.dev_name)

    def _where(self) -> str:
        loc = f"{self.location}: " if self.location is not None else ""
        return f"{loc}{self.class_name()} '{self.name}'"

    def _say_once(self, key, message: str) -> None:
        if key not in self._reported:
            self._reported.add(key)
            print(f"{self._where()}: {message}", file=sys.stderr)

    # -- life cycle -------------------------------------------------------------
    def initialize(self):
        pool = self.router.pool
        room = pool.slot_size - pool.headroom
        frame = self.mtu + (ETHER_HLEN + VLAN_HLEN if self.tap else 0)
        if frame > room:
            raise ArgumentError(f"{self._where()}: MTU {self.mtu} needs {frame}-byte frames but "
                                f"the packet pool's slots hold {room} bytes after the headroom; "
                                "lower MTU or run with bigger pool slots")
        if self.offload and pool.slot_size < GSO_SLOT_SIZE:
            raise ArgumentError(f"{self._where()}: OFFLOAD needs {GSO_SLOT_SIZE}-byte pool slots "
                                f"for 64 KB super-frames, the pool has {pool.slot_size}; let the "
                                "router size its pool (Router(graph)) or set OFFLOAD false")
        dev = open_device(self.dev_name, self.tap, self.netns, vnet_hdr=self.offload)
        try:
            if self.ether is not None and not self.tap:
                self._say_once("ether", "ETHER is ignored: a TUN device has no Ethernet address")
            if self.offload:
                enable_offloads(dev)
            # The kernel's super-frames must fit a slot with room for a VLAN tag.
            configure_device(dev, self.address, self.prefixlen, self.mtu,
                             self.ether if self.tap else None, self.gateway,
                             gso_max_size=room - 64 if self.offload else None)
            if self.persist:
                set_persist(dev)
        except Exception:
            dev.close()
            raise
        self._dev = dev
        self.dev_name = dev.name
        if self.offload:
            l2_len = ETHER_HLEN if self.tap else 0
            # (a partial, not a lambda: no Python frame per read)
            self._read_burst = functools.partial(self.io.read_burst_vnet, l2_len=l2_len)
            self._start_writer(dev.fd, _VnetWriter(self.io))
        else:
            self._read_burst = self.io.read_burst
            self._start_writer(dev.fd, self.io)
        self.router.add_reader(dev.fd, self._reader(), poll=True)
        self._reading = True
        self._start_pulling()

    def cleanup(self):
        if self._dev is None:
            return
        if self._reading:
            self._reading = False
            self.router.remove_reader(self._dev.fd)
        if self._writer is not None:
            self._writer.close()
        self._dev.close()
        self._dev = None

    # -- from the device ----------------------------------------------------------
    def _reader(self):
        """The device's readiness callback.  A TAP gets the compiled one
        (cext/taprx.pyx): read, the fused input and forwarding passes and the
        write to the next TAP in one call, with Python only where a batch
        leaves that common case."""
        if not self.tap:
            return self._on_readable
        from vforward.elements.ip.fusedforward import FusedForward
        from vforward.elements.ip.fusedinput import FusedInput
        self._rx = _rx.TapReceive(self, self.router.pool, self._read_burst, {
            "fused_input": FusedInput, "fused_forward": FusedForward, "sink": KernelTun,
            "sink_push": KernelTun.push, "batch": Batch,
            "forward_to_port": kernels.load("ipforward").forward_to_port})
        return self._rx

    def _on_readable(self):
        pool = self.router.pool
        fd = self._dev.fd
        try:
            idx = self._read_burst(fd, pool, self.burst)
        except OSError as e:
            self._on_read_error(e)
            return
        if len(idx) == 0:
            if pool.n_free == 0:
                self._on_pool_exhausted()
            return
        self.count += len(idx)
        if self.offload:
            gso = pool.gso_size
            # One frame (an idle one): a scalar read, not a gather (numpy's is cold).
            self.gso_count += int(gso.item(idx.item(0)) != 0) if len(idx) == 1 \
                else int(np.count_nonzero(gso[idx]))
        self._emit_received(Batch(pool, idx))

    def _on_pool_exhausted(self) -> None:
        # Nothing to read into: throw frames away rather than spin on a readable fd.
        self.rx_drops += self.io.drain(self._dev.fd, self.burst)
        self._say_once("pool", "packet pool exhausted; dropping received frames")

    def _emit_received(self, batch: Batch) -> None:
        if self.tap:                    # Ethernet frames: all of them go to output 0
            self._out_push[0](self._out_port[0], batch)     # (never empty: emit's check)
            return
        pool = batch.pool
        idx = batch.idx
        off = pool.off[idx]
        pool.nh[idx] = off
        length = pool.length[idx]
        first = pool.data[idx, off]
        version = first >> 4
        ihl = (first & 15).astype(np.uint16) * 4
        ip = ((version == 4) & (length >= 20) & (ihl >= 20) & (ihl <= length)) | \
             ((version == 6) & (length >= 40))
        if ip.all():
            self.emit(0, batch)
        else:
            good, bad = batch.split(ip)
            self.emit(0, good)
            self.emit_or_drop(1, bad)

    def _on_read_error(self, e: OSError) -> None:
        if e.errno in _TRANSIENT_READ_ERRORS:
            self._say_once(("read", e.errno), f"reading {self._dev.where()}: {e.strerror}")
            return
        print(f"{self._where()}: reading {self._dev.where()} failed: {e.strerror}; "
              "no longer reading it", file=sys.stderr)
        self._reading = False
        self.router.remove_reader(self._dev.fd)

    # -- to the device --------------------------------------------------------------
    def push(self, port, batch):
        if self._dev is None:
            batch.kill()
            return
        if not self.offload:
            batch, dropped = software_offload(batch)
            if dropped:
                self._writer.drops += dropped
        batch = self._sendable(batch)
        if len(batch.idx):
            self._writer.send(batch)

    def _sendable(self, batch: Batch) -> Batch:
        """Start IP packets at their network header; drop what the device must not get."""
        pool = batch.pool
        idx = batch.idx
        if self.tap and len(idx) == 1:      # an idle packet: no array work
            n = int(pool.length[idx[0]])
            if ETHER_HLEN <= n <= self.mtu + ETHER_HLEN + VLAN_HLEN:
                return batch
        length = pool.length[idx]
        limit = self.mtu + (ETHER_HLEN + VLAN_HLEN if self.tap else 0)
        if self.offload:        # super-frames may pass the MTU; the kernel segments them
            limit = np.where(pool.gso_size[idx] > 0, GSO_MAX_FRAME + ETHER_HLEN + VLAN_HLEN, limit)
        if self.tap:
            ok = (length >= ETHER_HLEN) & (length <= limit)
        else:
            off = pool.off[idx]
            nh = pool.nh[idx]
            inside = (nh > off) & (nh < off.astype(np.int64) + length)
            if inside.any():
                moved = idx[inside]
                cut = nh[inside] - off[inside]
                pool.off[moved] = nh[inside]
                pool.length[moved] = length[inside] - cut
                off = pool.off[idx]
                length = pool.length[idx]
            version = pool.data[idx, np.minimum(off, pool.slot_size - 1)] >> 4
            ok = (length >= 1) & (length <= limit) & ((version == 4) | (version == 6))
        if ok.all():
            return batch
        good, bad = batch.split(ok)
        self._writer.drops += len(bad.idx)
        self._say_once("invalid", f"dropping packets that are too short, longer than MTU "
                                  f"{self.mtu}{'' if self.tap else ' or not IP'}")
        bad.kill()
        return good

    def _on_write_error(self, err: int) -> None:
        self._say_once(("write", err), f"writing to {self._dev.where()} failed: "
                                        f"{os.strerror(err)}")

    def _is_open(self) -> bool:
        return self._dev is not None

    # -- handlers ---------------------------------------------------------------------
    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("packets")
    def read_packets(self):
        return self.count

    @read_handler("gso_count")
    def read_gso_count(self):
        return self.gso_count

    @read_handler("rx_drops")
    def read_rx_drops(self):
        return self.rx_drops

    @read_handler("dev_name")
    def read_dev_name(self):
        return self.dev_name or ""

    @read_handler("address")
    def read_address(self):
        return _text_of(self.address, self.prefixlen)

    @read_handler("netns")
    def read_netns(self):
        return self.netns or ""

    @write_handler("reset")
    def write_reset(self, value):
        self.count = self.rx_drops = self.gso_count = 0
        self._reset_writer_counts()

    @read_handler("carrier")
    def read_carrier(self):
        return self._carrier

    @write_handler("carrier")
    def write_carrier(self, value):
        """Carrier on or off, as a cable plugged or pulled: the kernel (and a
        routing daemon on it) sees the link go down at once."""
        on = boolean(value)
        if self._dev is None:
            raise HandlerError("the device is not open")
        import fcntl
        import struct
        try:
            fcntl.ioctl(self._dev.fd, TUNSETCARRIER, struct.pack("i", 1 if on else 0))
        except OSError as e:
            raise HandlerError(f"cannot set carrier on {self.dev_name}: {e.strerror}") from None
        self._carrier = on


class KernelTap(KernelTun):
    """KernelTap(ADDR/MASK [, GATEWAY, KEYWORDS]) -- interface to a Linux TAP device

    Ports: at most 1 input (agnostic), 1 push output.

    Like KernelTun, but the device is a TAP: the router reads and writes
    whole Ethernet frames, and the kernel side of the device (address
    ADDR/MASK, MAC address ETHER or a random one) answers ARP and sends
    ARP queries as any Ethernet interface does.  Every frame read goes to
    output 0, with ts_ns set; frames written must hold an Ethernet header and
    at most MTU bytes after it (one 802.1Q tag allowed), others are dropped
    and counted in `drops`.

    Two KernelTaps in two namespaces bridged by the router,

        a :: KernelTap(10.0.0.1/24, NETNS left);
        b :: KernelTap(10.0.0.2/24, NETNS right);
        a -> b;  b -> a;

    let `ip netns exec left ping 10.0.0.2` cross the router, ARP included.

    Arguments:
      ADDR/MASK (IP address and prefix)  the kernel's address on the device;
                                         0.0.0.0/0 leaves the device without one
      GATEWAY (IP address)               add a default route via this address
      DEV_GATEWAY (IP address)           the same as GATEWAY
      DEVNAME (string, default vf-tapN)  the device name (at most 15 characters;
                                         %d is numbered by the kernel)
      NETNS (string)                     create the device in this network namespace
      ETHER (Ethernet address)           the device's MAC (default: random)
      MTU (integer, default 1500)        the device MTU (without the Ethernet header)
      BURST (integer, default 256)       most frames read per readiness, or pulled
      QUEUE (integer, default 1000)      most packets waiting for a blocked device
      HEADROOM (integer)                 accepted for Click compatibility; the
                                         packet pool sets the headroom
      IGNORE_QUEUE_OVERFLOWS (boolean)   accepted for Click compatibility
      PERSIST (boolean, default false)   leave the device in place at shutdown (to go
                                         with its NETNS namespace)
      OFFLOAD (boolean, default false)   checksum and segmentation offloads (IFF_VNET_HDR):
                                         TCP moves as 64 KB super-frames

    Handlers:
      count (read)        frames read from the device
      packets (read)      the same, under Click's name
      gso_count (read)    frames read that were GSO super-frames (with OFFLOAD)
      tx_count (read)     frames written to the device
      drops (read)        frames not written: backlog full, refused or invalid
      rx_drops (read)     frames read and dropped because the packet pool was empty
      queue_length (read) frames waiting for the device
      dev_name (read)     the device's name
      address (read)      ADDR/MASK
      netns (read)        the namespace of the device
      carrier (read/write) the link's carrier: false is a pulled cable (TUNSETCARRIER)
      reset (write)       set the counters to zero
    """
    PORTS = "0-1/1"
    TAP = True

    def _read_tap(self, args) -> bool:
        return True

