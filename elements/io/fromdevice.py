"""FromDevice: receive the frames of a network device through an AF_PACKET ring."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, boolean, seconds, unsigned, word
from vforward.element import PUSH_ONLY, Element, read_handler, write_handler
from vforward.elements.io import packetsocket
from vforward.packet import GSO_SLOT_SIZE

_METHODS = ("LINUX", "PCAP", "DEFAULT")
_MAX_BURSTS = 32      # BURSTs read per readiness callback, for fairness among sources


class FromDevice(Element):
    """FromDevice(DEVNAME [, PROMISC, SNAPLEN, KEYWORDS]) -- read packets from a network device

    Ports: no inputs; 1 push output.

    Reads every Ethernet frame that arrives on the device DEVNAME through a
    memory-mapped AF_PACKET receive ring (see BLOCK_TIMEOUT) and pushes them in
    batches of at most BATCH.  Each time the device is readable it reads up
    to 32 x BURST frames (Click's BURST is the frames read per scheduling),
    then lets the loop serve the other devices and timers.  Each packet gets
    its timestamp (ts_ns, the kernel's receive time) and its packet type
    annotation (ptype: HOST, BROADCAST, MULTICAST, OTHERHOST or OUTGOING)
    from the kernel.

    Like Click's user-level FromDevice, this is a sniffer: the host kernel
    also receives and processes every frame.  A router should therefore run
    on devices that have no addresses and with forwarding off in their
    namespace (as `vforward topo` sets things up).  Frames the host sends out
    of the device -- including those of a ToDevice on the same device -- are
    not seen unless OUTBOUND is true.

    Local traffic on veth and TAP devices leaves its TCP/UDP checksum to the
    "device" (CHECKSUM_PARTIAL); FromDevice asks the kernel for each frame's
    virtio-net header and fills such checksums in, so forwarded frames are
    valid on the next link.

    Frames longer than SNAPLEN or than a pool slot's room (1920 bytes with
    the default pool) are dropped and counted in drops, never truncated: a
    router must not forward a cut packet.  Such frames appear when the
    sending host segments late (TSO/GSO over veth, GRO on a NIC): turn that
    off on the devices that feed the router (`ethtool -K DEV tso off gso off
    gro off`), or TCP through the router crawls.

    PROMISC and SNAPLEN may be given in Click's positional order after
    DEVNAME (`FromDevice(eth0, true)`) or as keywords.

    Keyword arguments:
      SNIFFER (boolean, default true)   Click's switch to stop the kernel from
                          also processing the frames (Click installs
                          KernelFilter rules).  An AF_PACKET socket cannot do
                          that: false is accepted, warned about, and acts as
                          true; filter in the kernel (nftables) if you need it.
      PROMISC (boolean, default false)  put the device in promiscuous mode
                          while the element runs.
      BURST (integer, default 256)      Click's burst: at most 32 x BURST frames
                          are read each time the device is readable.
      BATCH (integer, default 256)      most packets per pushed batch (vforward
                          extension): a batch costs the graph about the same
                          whatever its size, so a small BURST from a Click
                          config does not make small batches.
      OUTBOUND (boolean, default false) also emit frames the host sends out
                          of the device (ptype OUTGOING).
      SNAPLEN (integer, default 2046)   longest frame accepted (65535 with OFFLOAD).
      HEADROOM (integer)                ignored: the pool sets the headroom.
      METHOD (LINUX or PCAP, default LINUX)  accepted for compatibility; both
                          mean the AF_PACKET ring.
      NETNS (word)                      open the device inside this named
                          network namespace (vforward extension).
      RING (boolean, default true)      false: one recvmsg per packet on a
                          plain packet socket instead of the ring (slower; the
                          baseline the ring is measured against).
      RING_BLOCKS (integer, default 64) blocks in the receive ring.
      BLOCK_SIZE (integer, default 65536) bytes per ring block, a multiple of
                          the page size; the ring holds RING_BLOCKS x
                          BLOCK_SIZE bytes of frames (about 160 bytes per
                          minimum-size frame).
      BLOCK_TIMEOUT (time, default 0; 1ms with OFFLOAD) 0 reads through a
                          TPACKET_V2 ring, whose frames are handed over one at
                          a time, at once: the lowest latency, and as many
                          packets/s as the block ring.  Above 0 the ring is a
                          TPACKET_V3 block ring: the kernel hands a partly
                          filled block over after this long, which is the
                          latency added at low rates (OFFLOAD needs it).
      OFFLOAD (boolean, default false) take TCP super-frames (a device with TSO
                          or GRO, such as a veth) whole, with their offload
                          state (PACKET_VNET_HDR); needs the block ring.

    Handlers:
      count (read)          packets emitted
      gso_count (read)      of those, super-frames (with OFFLOAD)
      drops (read)          frames lost: kernel_drops plus frames dropped here
                            (too long, or no free pool slot)
      kernel_drops (read)   frames the kernel dropped because the ring was full
                            (PACKET_STATISTICS tp_drops)
      dev_name (read)       the device's name
      encap (read)          the link encapsulation: ETHER
      method (read)         how frames are read (ring geometry or plain socket)
      reset_counts (write)  reset count and drops
    """
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        self.devname = args.positional("DEVNAME", word)
        # Click's order: FromDevice(DEVNAME, PROMISC, SNAPLEN, KEYWORDS)
        self.promisc = args.positional("PROMISC", boolean, default=False)
        snaplen = args.positional("SNAPLEN", unsigned, default=None)
        sniffer = args.keyword("SNIFFER", boolean, default=True)
        self.burst = args.keyword("BURST", unsigned, default=256)
        self.batch = args.keyword("BATCH", unsigned, default=256)
        self.outbound = args.keyword("OUTBOUND", boolean, default=False)
        args.keyword("HEADROOM", unsigned, default=None)
        method = args.keyword("METHOD", word, default="LINUX").upper()
        self.netns = args.keyword("NETNS", word, default=None)
        self.ring = args.keyword("RING", boolean, default=True)
        self.ring_blocks = args.keyword("RING_BLOCKS", unsigned, default=64)
        self.block_size = args.keyword("BLOCK_SIZE", unsigned, default=1 << 16)
        self.block_timeout = args.keyword("BLOCK_TIMEOUT", seconds, default=None)
        self.offload = args.keyword("OFFLOAD", boolean, default=False)
        if self.block_timeout is None:      # super-frames need the block ring
            self.block_timeout = 0.001 if self.offload else 0.0
        args.finish()
        # Super-frames are up to 64 KB: that is the default length limit with OFFLOAD.
        self.snaplen = snaplen if snaplen is not None else 0xFFFF if self.offload else 2046
        where = f"{self.name} :: {self.class_name()}"
        if method not in _METHODS:
            raise ArgumentError(f"{where}: METHOD {method} is not known; use LINUX "
                                "(PCAP is accepted and means the same)")
        if self.burst < 1 or self.batch < 1:
            raise ArgumentError(f"{where}: BURST and BATCH must be at least 1")
        if self.ring_blocks < 1 or self.block_size < 4096 or self.block_size % 4096:
            raise ArgumentError(f"{where}: the ring needs RING_BLOCKS >= 1 and a BLOCK_SIZE that "
                                "is a multiple of 4096, such as 65536")
        if not sniffer:
            args.warn(f"SNIFFER false cannot keep the kernel from receiving "
                      f"{self.devname}'s frames with AF_PACKET; running as a sniffer")
        if self.offload and self.block_timeout == 0:
            raise ArgumentError(f"{where}: OFFLOAD needs the block ring; give BLOCK_TIMEOUT "
                                "above 0 (64 KB frames would make a per-frame ring huge)")
        self.slot_size_needed = GSO_SLOT_SIZE if self.offload else 0
        self.count = self.gso_count = 0
        self._own_drops = 0
        self._kernel_base = 0
        self._sock = None
        self._rx = None

    def exclusive_resource(self):
        return ("rxdevice", packetsocket.DeviceKey(self.netns, self.devname))

    def opened_device(self):
        return self.devname, self.netns

    def initialize(self):
        self._sock = packetsocket.open_receiver(
            self.devname, self.netns, ring=self.ring, promisc=self.promisc,
            outbound=self.outbound, block_size=self.block_size, block_nr=self.ring_blocks,
            block_timeout_ms=0 if self.block_timeout == 0 else max(1, round(self.block_timeout * 1000)),
            offload=self.offload)
        self._rx = self._sock.rx
        self._rx.max_len = self.snaplen
        self.router.add_reader(self._sock.fd, self._readable, poll=True)

    def cleanup(self):
        if self._sock is not None:
            if self.router is not None:
                try:
                    self.router.remove_reader(self._sock.fd)
                except Exception:
                    pass   # the loop is already closed
            self._sock.close()

    def _readable(self):
        """Push every ready frame, BATCH at a time, until the ring is empty or
        _MAX_BURSTS x BURST frames went out; the fd stays readable, so the loop
        calls again after it has served timers and other devices."""
        pool = self.router.pool
        rx = self._rx
        left = self.burst * _MAX_BURSTS
        out, out_port = self._out_push[0], self._out_port[0]
        while left > 0:
            size = min(self.batch, left)
            # As many slots as frames wait: an idle device's frame takes one
            # slot, not a batch's worth to be cleared and handed back.
            ready = rx.ready(size)
            if ready == 0:
                return
            left -= ready
            batch = pool.alloc_upto(ready)
            want = len(batch.idx)
            if want == 0:
                # No free slot: the frames are lost, but the ring must keep moving.
                self._own_drops += rx.discard(ready)
                continue
            got = rx.receive(pool, batch.idx)
            if got < want:      # frames skipped (outgoing, too long) or read meanwhile
                pool.free(batch.idx[got:])
                batch.idx = batch.idx[:got]
            if got:
                self.count += got
                if self.offload:
                    self.gso_count += int(np.count_nonzero(pool.gso_size[batch.idx]))
                out(out_port, batch)
            if ready < size or got < want:
                return   # that was all the ring had

    # -- handlers ----------------------------------------------------------
    def _kernel_drops(self) -> int:
        if self._sock is None:
            return 0
        return self._sock.kernel_stats()[1] - self._kernel_base

    @read_handler("count")
    def read_count(self):
        return self.count

    @read_handler("gso_count")
    def read_gso_count(self):
        return self.gso_count

    @read_handler("kernel_drops")
    def read_kernel_drops(self):
        return self._kernel_drops()

    @read_handler("drops")
    def read_drops(self):
        rx = self._rx
        too_long = rx.too_long if rx is not None else 0
        return self._kernel_drops() + self._own_drops + too_long

    @read_handler("dev_name")
    def read_dev_name(self):
        return self.devname

    @read_handler("encap")
    def read_encap(self):
        return "ETHER"

    @read_handler("method")
    def read_method(self):
        return self._sock.method if self._sock is not None else "not open"

    @write_handler("reset_counts")
    def write_reset_counts(self, value):
        self.count = 0
        self._own_drops = 0
        if self._rx is not None:
            self._rx.too_long = 0
        if self._sock is not None:
            self._kernel_base = self._sock.kernel_stats()[1]
