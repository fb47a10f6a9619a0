"""Packets are rows in a preallocated pool; batches are index vectors.

A `PacketPool` owns every packet buffer a router will ever use: one numpy
row of SLOT bytes per packet, with HEADROOM bytes in front of the packet so
that encapsulation writes in place.  Per-packet metadata (Click's
annotations) are numpy columns indexed by slot.  A `Batch` is a uint32 vector
of slot indices: elements hand batches to each other, split them by output
port and free them, and packet bytes never move.
"""
from __future__ import annotations

import mmap

import numpy as np

SLOT_SIZE = 2048
HEADROOM = 128
DEFAULT_SLOTS = 32768
# Slots for GSO super-frames (devices with offloads): as large as a uint16 offset
# allows while consecutive slots start a cache line apart modulo 64 KB (a 64 KB
# stride would put every packet's headers in the same cache set); fewer of them.
GSO_SLOT_SIZE = 65536 - 64
GSO_DEFAULT_SLOTS = 8192
HUGE_PAGE = 2 << 20

# Packet-type annotation values (Click's PACKET_TYPE_ANNO).
HOST, BROADCAST, MULTICAST, OTHERHOST, OUTGOING = 0, 1, 2, 3, 4

# Annotation columns: name -> dtype.  Kernels in cext/ read these by name.
ANNOTATIONS = {
    "nh": np.uint16,        # network (IP) header position inside the slot (absolute)
    "dst_ip": np.uint32,    # destination / next-hop IPv4 address, host byte order
    "dst_ip6": np.dtype((np.uint8, 16)),  # destination / next-hop IPv6 address, network order
    "port": np.uint16,      # output port chosen by a lookup, or input device id
    "paint": np.uint8,      # Paint / CheckPaint
    "ptype": np.uint8,      # packet type: HOST, BROADCAST, ...
    "ts_ns": np.uint64,     # receive or creation time, CLOCK_REALTIME ns
    "user": np.uint32,      # free for experiments (Click's user annotations)
    "vlan_tci": np.uint16,  # 802.1Q tag control information (Click's VLAN_TCI_ANNO), host order
    "fix_ip_src": np.uint8, # 1: FixIPSrc should set the source (Click's FIX_IP_SRC_ANNO; ICMPError sets it)
    "fwd_rate": np.int32,   # rate IPRateMonitor measured for the packet's address (FWD_RATE_ANNO); Block reads it
    "rev_rate": np.int32,   # the reverse rate beside it (Click's REV_RATE_ANNO)
    "ipsec_spi": np.uint32,  # the SPI of the packet's ESP security association (Click's IPSEC_SPI_ANNO)
    "ipsec_sa": np.uint32,   # that SA's handle (Click's IPSEC_SA_DATA_REFERENCE_ANNO); 0: none
    "ipsec_state": np.uint8, # how far the ESP elements got with it (elements/ipsec/securityassociation.py)
    # Offload state of a packet read from a device with offloads (virtio_net_hdr,
    # see cext/gso.pyx): a partial checksum still to finish, or a GSO super-frame.
    "csum_start": np.uint16,  # absolute slot position where the partial checksum's sum begins; 0: complete
    "csum_offset": np.uint8,  # checksum field position, from csum_start
    "gso_type": np.uint8,     # GSO_NONE, GSO_TCPV4, GSO_TCPV6, GSO_UDP_L4 (| GSO_ECN)
    "gso_size": np.uint16,    # payload bytes per segment of a GSO super-frame; 0: not one
}
# Annotations only device and offload code sets; Paint and friends leave them alone.
OFFLOAD_ANNOTATIONS = ("csum_start", "csum_offset", "gso_type", "gso_size")
# virtio_net_hdr gso_type values (linux/virtio_net.h).
GSO_NONE, GSO_TCPV4, GSO_UDP, GSO_TCPV6, GSO_UDP_L4, GSO_ECN = 0, 1, 3, 4, 5, 0x80


from vforward import kernels as _kernels

_poolops = _kernels.load("poolops")
SlotAllocator, _partition = _poolops.SlotAllocator, _poolops.partition


def _packet_memory(n_slots: int, slot_size: int, huge_pages: bool = True) -> np.ndarray:
    """Zeroed (n_slots, slot_size) bytes; a pool of big slots asks for transparent
    huge pages, so that packets 64 KB apart do not cost a TLB miss each, unless
    huge_pages is false (then a packet touches a 4 KB page, not a 2 MB one)."""
    size = n_slots * slot_size
    if size < HUGE_PAGE or (slot_size <= SLOT_SIZE and huge_pages):   # small slots share pages anyway
        return np.zeros((n_slots, slot_size), dtype=np.uint8)
    mem = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        # Without huge pages explicitly: numpy would ask for them on a big array.
        mem.madvise(mmap.MADV_HUGEPAGE if huge_pages else mmap.MADV_NOHUGEPAGE)
    except (AttributeError, OSError):
        pass                    # no THP here: ordinary pages work the same
    return np.frombuffer(mem, dtype=np.uint8).reshape(n_slots, slot_size)


class PoolExhausted(RuntimeError):
    """The pool has no free slot left: some element holds too many packets."""


class PacketPool:
    """Preallocated packet storage with a free list of slots."""


    def __init__(self, n_slots: int = DEFAULT_SLOTS, slot_size: int = SLOT_SIZE,
                 headroom: int = HEADROOM, huge_pages: bool = True):
        if not 0 < headroom < slot_size <= 65535:
            raise ValueError("need 0 < headroom < slot_size <= 65535")
        self.n_slots = n_slots
        self.slot_size = slot_size
        self.headroom = headroom
        # huge_pages=False: a small packet in a 64 KB slot then touches 4 KB, not 2 MB
        # (labs of many routers, where memory per router counts more than TLB misses).
        self.data = _packet_memory(n_slots, slot_size, huge_pages)
        self.off = np.full(n_slots, headroom, dtype=np.uint16)
        self.length = np.zeros(n_slots, dtype=np.uint16)
        for name, dtype in ANNOTATIONS.items():
            setattr(self, name, np.zeros(n_slots, dtype=dtype))
        # LIFO free stack: recently freed slots are warm in cache.
        self._free = np.arange(n_slots - 1, -1, -1, dtype=np.uint32)
        self._in_use = np.zeros(n_slots, dtype=np.bool_)
        self._slots = SlotAllocator(self)

    # Copies (copy.deepcopy, pickle) rebuild the compiled allocator's pointers.
    def __getstate__(self):
        state = self.__dict__.copy()
        state["_slots"] = self._slots.n_free
        return state

    def __setstate__(self, state):
        n_free = state.pop("_slots")
        self.__dict__.update(state)
        self._slots = SlotAllocator(self)
        self._slots.n_free = n_free

    # -- slot accounting ------------------------------------------------
    @property
    def n_free(self) -> int:
        return self._slots.n_free

    @property
    def n_used(self) -> int:
        return self.n_slots - self._slots.n_free

    def alloc(self, n: int, length: int = 0) -> "Batch":
        """Take n fresh slots: offset at headroom, given length, annotations cleared."""
        if n > self._slots.n_free:
            raise PoolExhausted(
                f"packet pool exhausted: {n} slots asked, {self._slots.n_free} free of "
                f"{self.n_slots}; raise the pool size or look for an element that keeps packets")
        return Batch(self, self._slots.alloc(n, length))

    def alloc_upto(self, n: int, length: int = 0) -> "Batch":
        """Like alloc, but take fewer slots when fewer are free (sources use this)."""
        return self.alloc(min(n, self._slots.n_free), length)

    def free(self, idx: np.ndarray) -> None:
        """Return slots to the pool.  Freeing a slot twice is a bug and raises."""
        if len(idx):
            self._slots.free_slots(idx)

    def clone(self, idx: np.ndarray) -> "Batch":
        """Copy packets (bytes and annotations) into new slots, as Tee needs."""
        out = self.alloc(len(idx))
        dst = out.idx
        if len(idx):
            # Copy only the span any packet occupies, not whole slots.
            lo = int(self.off[idx].min())
            hi = int((self.off[idx].astype(np.int32) + self.length[idx]).max())
            self.data[dst, lo:hi] = self.data[idx, lo:hi]
        self.off[dst] = self.off[idx]
        self.length[dst] = self.length[idx]
        for name in ANNOTATIONS:
            col = getattr(self, name)
            col[dst] = col[idx]
        return out

    def copy_in(self, batch: "Batch") -> "Batch":
        """Copies of another pool's packets (bytes and annotations) in new slots
        of this one, one memcpy each, as many as there are free slots: how a
        packet crosses between two routers that do not share a pool.  The
        originals stay where they are."""
        n = min(len(batch.idx), self._slots.n_free)
        out = self.alloc(n)
        try:
            self._slots.copy_from(batch.pool._slots, batch.idx[:n], out.idx)
        except ValueError:
            self.free(out.idx)
            raise
        return out

    # -- building packets from bytes -------------------------------------
    def from_bytes(self, frames) -> "Batch":
        """A batch holding copies of the given byte strings (tests, pcap, sockets)."""
        frames = list(frames)
        batch = self.alloc(len(frames))
        room = self.slot_size - self.headroom
        for slot, frame in zip(batch.idx, frames):
            n = len(frame)
            if n > room:
                self.free(batch.idx)
                raise ValueError(f"packet of {n} bytes does not fit a {room}-byte slot")
            self.data[slot, self.headroom:self.headroom + n] = np.frombuffer(frame, np.uint8)
            self.length[slot] = n
        return batch

    def packet_bytes(self, slot: int) -> bytes:
        o = int(self.off[slot])
        return self.data[slot, o:o + int(self.length[slot])].tobytes()


class Batch:
    """A vector of slot indices into one pool: the unit elements pass around."""

    __slots__ = ("pool", "idx")

    def __init__(self, pool: PacketPool, idx: np.ndarray):
        self.pool = pool
        self.idx = idx

    def __len__(self) -> int:
        return len(self.idx)

    def __bool__(self) -> bool:
        return len(self.idx) > 0

    def __repr__(self) -> str:
        return f"<Batch of {len(self.idx)} packets>"

    def select(self, mask: np.ndarray) -> "Batch":
        """The packets where mask is true, in order."""
        return Batch(self.pool, self.idx[mask])

    def split(self, mask: np.ndarray) -> tuple["Batch", "Batch"]:
        """(packets where mask is true, the rest): a two-way partition."""
        return Batch(self.pool, self.idx[mask]), Batch(self.pool, self.idx[~mask])

    def partition(self, ports: np.ndarray, n_ports: int) -> list["Batch"]:
        """Split by a per-packet output port number in [0, n_ports); order kept per port."""
        if n_ports == 1:
            return [self]
        out, bounds = _partition(self.idx, np.asarray(ports).astype(np.uint16, copy=False), n_ports)
        b = bounds.tolist()
        return [Batch(self.pool, out[b[i]:b[i + 1]]) for i in range(n_ports)]

    def concat(self, other: "Batch") -> "Batch":
        return Batch(self.pool, np.concatenate((self.idx, other.idx)))

    def kill(self) -> None:
        """Drop every packet: slots go back to the pool."""
        self.pool.free(self.idx)
        self.idx = self.idx[:0]

    def packets(self):
        """Per-packet views for Python elements (slower than a kernel, never wrong)."""
        pool = self.pool
        for slot in self.idx:
            yield PacketView(pool, int(slot))

    def lengths(self) -> np.ndarray:
        return self.pool.length[self.idx]

    def byte_count(self) -> int:
        return int(self.pool._slots.byte_count(self.idx))

    def to_bytes(self) -> list[bytes]:
        return [self.pool.packet_bytes(int(s)) for s in self.idx]


class PacketView:
    """One packet of a pool, for elements written in plain Python.

    `data` is a writable numpy view of the packet's bytes; push/pull move the
    packet's start into or out of the headroom, put/take change its tail.
    """

    __slots__ = ("pool", "slot")

    def __init__(self, pool: PacketPool, slot: int):
        self.pool = pool
        self.slot = slot

    @property
    def offset(self) -> int:
        return int(self.pool.off[self.slot])

    @property
    def length(self) -> int:
        return int(self.pool.length[self.slot])

    @property
    def data(self) -> np.ndarray:
        o = self.offset
        return self.pool.data[self.slot, o:o + self.length]

    def bytes(self) -> bytes:
        return self.data.tobytes()

    def headroom(self) -> int:
        return self.offset

    def tailroom(self) -> int:
        return self.pool.slot_size - self.offset - self.length

    def push(self, n: int) -> np.ndarray:
        """Prepend n bytes (from headroom); returns the view of the new header bytes."""
        o = self.offset
        if n > o:
            raise ValueError(f"push of {n} bytes exceeds the {o}-byte headroom")
        self.pool.off[self.slot] = o - n
        self.pool.length[self.slot] = self.length + n
        return self.pool.data[self.slot, o - n:o]

    def pull(self, n: int) -> None:
        """Remove n bytes from the front."""
        if n > self.length:
            raise ValueError(f"pull of {n} bytes from a {self.length}-byte packet")
        self.pool.off[self.slot] = self.offset + n
        self.pool.length[self.slot] = self.length - n

    def put(self, n: int) -> np.ndarray:
        """Append n bytes at the tail; returns the view of them."""
        if n > self.tailroom():
            raise ValueError(f"put of {n} bytes exceeds the {self.tailroom()}-byte tailroom")
        end = self.offset + self.length
        self.pool.length[self.slot] = self.length + n
        return self.pool.data[self.slot, end:end + n]

    def take(self, n: int) -> None:
        """Remove n bytes from the tail."""
        if n > self.length:
            raise ValueError(f"take of {n} bytes from a {self.length}-byte packet")
        self.pool.length[self.slot] = self.length - n

    def set_bytes(self, payload: bytes) -> None:
        """Replace the whole packet with payload (starting at the current offset)."""
        n = len(payload)
        if self.offset + n > self.pool.slot_size:
            raise ValueError(f"{n} bytes do not fit the slot")
        o = self.offset
        self.pool.data[self.slot, o:o + n] = np.frombuffer(payload, np.uint8)
        self.pool.length[self.slot] = n

    # Annotations as attributes: pkt.paint, pkt.dst_ip, pkt.port, ...
    def __getattr__(self, name):
        if name in ANNOTATIONS:
            return int(getattr(self.pool, name)[self.slot])
        raise AttributeError(name)

    def __setattr__(self, name, value):
        if name in ANNOTATIONS:
            getattr(self.pool, name)[self.slot] = value
        else:
            object.__setattr__(self, name, value)

    @property
    def network_header(self) -> np.ndarray:
        """Bytes from the IP header (the nh annotation) to the packet's end."""
        end = self.offset + self.length
        return self.pool.data[self.slot, int(self.pool.nh[self.slot]):end]

