"""The AF_PACKET ring kernels (cext/afpacket.pyx) against their per-packet
references (cext/afpacket_reference.py), on real frames through a veth pair.

Frames are injected at one end of a veth pair; at the other end a ring
socket and a plain socket both receive every frame, and the compiled walker
and the reference must put the same bytes, lengths and packet types into
their pools.  On the transmit side, TxRing and TxSocket send the same batch
and a plain socket at the far end must see the same frames.
"""
from __future__ import annotations

import random
import socket
import time
import uuid

import numpy as np
import pytest

from vforward import netns as ns
from vforward.cext import afpacket, afpacket_reference
from vforward.elements.io import packetsocket
from vforward.packet import BROADCAST, HOST, MULTICAST, OTHERHOST, OUTGOING, PacketPool


# -- a veth pair between two namespaces ----------------------------------------
def _name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def _quiet(name: str) -> None:
    """No IPv6 in the namespace, so the only frames on its links are ours."""
    ns.run(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1")
    ns.run(name, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1")


@pytest.fixture
def link(netns):
    """(ns_x, x, ns_y, y, y_mac): a veth pair x<->y, one end in each namespace."""
    nx, ny = netns("x"), netns("y")
    for n in (nx, ny):
        _quiet(n)
    x, y = _name("vx"), _name("vy")
    ns.veth_pair(x, nx, y, ny)
    mac = bytes.fromhex(open_mac(ny, y).replace(":", ""))
    return nx, x, ny, y, mac


def open_mac(netns_name: str, dev: str) -> str:
    out = ns.ip("-o", "link", "show", dev, netns=netns_name)
    return out.split("link/ether ")[1].split()[0]


def raw_socket(netns_name: str, dev: str, protocol: int = 0) -> socket.socket:
    with ns.entered(netns_name):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(protocol))
    s.bind((dev, protocol))            # bind() byte-swaps the protocol itself
    return s


def random_frames(rng: random.Random, n: int, host_mac: bytes, sizes=(60, 1514)):
    """Frames with every kind of destination: host, broadcast, multicast, other."""
    src = bytes.fromhex("020000000001")
    kinds = [(host_mac, HOST), (b"\xff" * 6, BROADCAST),
             (bytes.fromhex("01005e000001"), MULTICAST), (bytes.fromhex("020000000099"), OTHERHOST)]
    frames, types = [], []
    for i in range(n):
        dst, kind = kinds[i % len(kinds)]
        size = rng.randint(*sizes)
        body = i.to_bytes(4, "big") + rng.randbytes(size - 18)
        frames.append(dst + src + b"\x88\xb5" + body)       # 0x88b5: local experimental
        types.append(kind)
    return frames, types


def drain(rx, pool: PacketPool, want: int, timeout: float = 3.0) -> tuple[list, list, list]:
    """Receive until `want` frames arrived or timeout: (bytes, ptypes, ts_ns)."""
    got_bytes, got_types, got_ts = [], [], []
    deadline = time.monotonic() + timeout
    while len(got_bytes) < want and time.monotonic() < deadline:
        batch = pool.alloc(64)
        n = rx.receive(pool, batch.idx)
        for slot in batch.idx[:n]:
            got_bytes.append(pool.packet_bytes(int(slot)))
            got_types.append(int(pool.ptype[slot]))
            got_ts.append(int(pool.ts_ns[slot]))
            assert pool.off[slot] == pool.headroom
        pool.free(batch.idx)
        if n == 0:
            time.sleep(0.005)
    return got_bytes, got_types, got_ts


# -- receive ------------------------------------------------------------------------
def test_ring_walker_and_reference_receive_the_same_frames(link):
    nx, x, ny, y, mac = link
    ring = packetsocket.open_receiver(y, ny, ring=True, block_size=8192, block_nr=64)
    plain = packetsocket.open_receiver(y, ny, ring=False)
    assert isinstance(ring.rx, afpacket.RxRing)
    assert isinstance(plain.rx, afpacket_reference.RxSocket)
    tx = raw_socket(nx, x)
    try:
        frames, types = random_frames(random.Random(7), 300, mac)
        for f in frames:
            tx.send(f)
        pool_k, pool_r = PacketPool(512), PacketPool(512)
        kb, kt, kts = drain(ring.rx, pool_k, len(frames))
        rb, rt, rts = drain(plain.rx, pool_r, len(frames))
        assert kb == frames          # every frame, in order, byte for byte
        assert rb == frames
        assert kt == rt == types     # sll_pkttype -> ptype
        now = time.time_ns()
        assert all(0 < now - t < 10e9 for t in kts + rts)
        assert max(abs(a - b) for a, b in zip(kts, rts)) < 50e6
        assert ring.rx.too_long == plain.rx.too_long == 0
        assert ring.kernel_stats()[1] == 0
        assert pool_k.n_used == pool_r.n_used == 0
    finally:
        tx.close()
        ring.close()
        plain.close()


def test_burst_larger_than_a_block_spans_blocks_and_resumes_mid_block(link):
    nx, x, ny, y, mac = link
    # 4 KiB blocks hold about 25 minimum-size frames: 1000 frames fill ~40 blocks.
    ring = packetsocket.open_receiver(y, ny, block_size=4096, block_nr=128)
    tx = raw_socket(nx, x)
    try:
        frames, _ = random_frames(random.Random(3), 1000, mac, sizes=(60, 60))
        for f in frames:
            tx.send(f)
        time.sleep(0.05)
        assert ring.rx.pending_blocks() > 30
        pool = PacketPool(256)
        got, _, _ = drain(ring.rx, pool, len(frames))   # 64 slots at a time: stops mid-block
        assert got == frames
        assert ring.rx.pending_blocks() == 0             # every block went back to the kernel
        assert ring.kernel_stats()[1] == 0
    finally:
        tx.close()
        ring.close()


@pytest.mark.parametrize("use_ring", [True, False], ids=["ring", "reference"])
def test_frames_longer_than_max_len_are_dropped_and_counted(link, use_ring):
    nx, x, ny, y, mac = link
    sock = packetsocket.open_receiver(y, ny, ring=use_ring, block_size=8192, block_nr=8)
    sock.rx.max_len = 200
    tx = raw_socket(nx, x)
    try:
        frames, _ = random_frames(random.Random(5), 40, mac, sizes=(60, 400))
        for f in frames:
            tx.send(f)
        pool = PacketPool(128)
        want = [f for f in frames if len(f) <= 200]
        got, _, _ = drain(sock.rx, pool, len(want))
        time.sleep(0.02)
        assert got == want
        assert sock.rx.too_long == len(frames) - len(want)
    finally:
        tx.close()
        sock.close()


@pytest.mark.parametrize("use_ring", [True, False], ids=["ring", "reference"])
def test_outgoing_frames_are_skipped_unless_outbound(link, use_ring):
    nx, x, ny, y, mac = link
    quiet = packetsocket.open_receiver(y, ny, ring=use_ring, block_size=8192, block_nr=8)
    loud = packetsocket.open_receiver(y, ny, ring=use_ring, block_size=8192, block_nr=8,
                                      outbound=True)
    out = raw_socket(ny, y)           # sends out of y itself: OUTGOING on y
    try:
        frames, _ = random_frames(random.Random(9), 10, bytes.fromhex("020000000077"))
        for f in frames:
            out.send(f)
        pool = PacketPool(64)
        got, types, _ = drain(loud.rx, pool, len(frames))
        assert got == frames and set(types) == {OUTGOING}
        assert drain(quiet.rx, pool, 1, timeout=0.1)[0] == []
    finally:
        out.close()
        quiet.close()
        loud.close()


def test_discard_drops_ready_frames_without_a_pool(link):
    nx, x, ny, y, mac = link
    ring = packetsocket.open_receiver(y, ny, block_size=4096, block_nr=16)
    tx = raw_socket(nx, x)
    try:
        for f in random_frames(random.Random(1), 50, mac, sizes=(60, 60))[0]:
            tx.send(f)
        time.sleep(0.05)
        assert ring.rx.discard(30) == 30
        assert ring.rx.discard(100) == 20
        assert ring.rx.pending_blocks() == 0
    finally:
        tx.close()
        ring.close()


# -- transmit -----------------------------------------------------------------------
def _capture(netns_name: str, dev: str) -> socket.socket:
    s = raw_socket(netns_name, dev, 0x0003)
    s.setblocking(False)
    return s


def _read_all(sock: socket.socket, want: int, timeout: float = 3.0) -> list[bytes]:
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < want and time.monotonic() < deadline:
        try:
            out.append(sock.recv(65535))
        except BlockingIOError:
            time.sleep(0.005)
    return out


@pytest.mark.parametrize("use_ring", [True, False], ids=["ring", "reference"])
def test_transmit_sends_every_packet_of_a_batch_in_order(link, use_ring):
    nx, x, ny, y, mac = link
    sender = packetsocket.open_sender(x, nx, ring=use_ring, frame_nr=64)
    assert isinstance(sender.tx, afpacket.TxRing if use_ring else afpacket_reference.TxSocket)
    cap = _capture(ny, y)
    try:
        frames, _ = random_frames(random.Random(11), 50, mac)
        pool = PacketPool(128)
        batch = pool.from_bytes(frames)
        # Move some packets' start inside the headroom: the sender must honour off.
        pool.off[batch.idx[::3]] -= 10
        pool.length[batch.idx[::3]] += 10
        want = [pool.packet_bytes(int(s)) for s in batch.idx]
        sent_total = 0
        start = 0
        while start < len(batch.idx):      # the ring holds 64 frames: may need rounds
            consumed, queued = sender.tx.send(pool, batch.idx, start)
            start += consumed
            sent_total += queued
            if start < len(batch.idx):
                time.sleep(0.005)
                sender.tx.flush()
        assert sent_total == len(frames)
        assert sender.tx.last_errno == 0
        assert _read_all(cap, len(want)) == want
    finally:
        cap.close()
        sender.close()


def test_tx_ring_skips_packets_longer_than_a_frame(link):
    nx, x, ny, y, mac = link
    sender = packetsocket.open_sender(x, nx, frame_nr=32)
    cap = _capture(ny, y)
    try:
        pool = PacketPool(16)
        frames, _ = random_frames(random.Random(2), 3, mac, sizes=(100, 100))
        batch = pool.from_bytes(frames)
        pool.length[batch.idx[1]] = sender.tx.frame_room + 1
        consumed, queued = sender.tx.send(pool, batch.idx)
        assert (consumed, queued) == (3, 2)
        assert sender.tx.too_long == 1
        assert _read_all(cap, 2) == [frames[0], frames[2]]
    finally:
        cap.close()
        sender.close()


def test_tx_ring_fills_while_the_device_is_down_and_sends_when_it_comes_up(link):
    nx, x, ny, y, mac = link
    sender = packetsocket.open_sender(x, nx, frame_nr=32)
    cap = _capture(ny, y)
    try:
        ns.ip("link", "set", x, "down", netns=nx)
        pool = PacketPool(128)
        frames, _ = random_frames(random.Random(4), 40, mac, sizes=(80, 80))
        batch = pool.from_bytes(frames)
        consumed, queued = sender.tx.send(pool, batch.idx)
        assert consumed == queued == sender.tx.frame_nr == 32   # full: 8 left over
        assert sender.tx.last_errno != 0                        # ENETDOWN
        assert sender.tx.free_frames() == 0
        ns.ip("link", "set", x, "up", netns=nx)
        time.sleep(0.05)
        assert sender.tx.flush() == 0
        consumed2, queued2 = sender.tx.send(pool, batch.idx, consumed)
        assert consumed2 == queued2 == 8
        assert _read_all(cap, 40) == frames
    finally:
        cap.close()
        sender.close()


def test_tx_frames_carry_data_right_after_the_aligned_tpacket2_header():
    assert afpacket.TX_DATA_OFFSET == 32


def _udp_checksum_ok(frame: bytes) -> bool:
    """The UDP checksum of an Ethernet/IPv4/UDP frame verifies (sums to 0xFFFF)."""
    ihl = (frame[14] & 0xF) * 4
    ip, udp = frame[14:14 + ihl], frame[14 + ihl:]
    ulen = int.from_bytes(udp[4:6], "big")
    data = ip[12:20] + b"\0\x11" + ulen.to_bytes(2, "big") + udp[:ulen]
    if len(data) % 2:
        data += b"\0"
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s == 0xFFFF


def test_checksums_left_to_the_device_are_completed_by_both(link):
    """A UDP socket on veth leaves its checksum to the 'device' (CHECKSUM_PARTIAL):
    the frame a packet socket sees has only the pseudo-header sum in it.  Both
    receivers must fill it in, identically, so the frame can be forwarded."""
    nx, x, ny, y, mac = link
    ns.ip("addr", "add", "10.88.0.1/24", "dev", x, netns=nx)
    ns.ip("neigh", "replace", "10.88.0.2", "lladdr", mac.hex(":"), "dev", x, netns=nx)
    ring = packetsocket.open_receiver(y, ny, block_size=8192, block_nr=16)
    plain = packetsocket.open_receiver(y, ny, ring=False)
    assert ring.rx.vnet_hdr and plain.rx.vnet_hdr
    with ns.entered(nx):
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sizes = [1, 2, 17, 100, 333, 1000, 1472]          # odd and even payloads
        for n in sizes:
            udp.sendto(random.Random(n).randbytes(n), ("10.88.0.2", 9999))
        pool_k, pool_r = PacketPool(64), PacketPool(64)
        kb, _, _ = drain(ring.rx, pool_k, len(sizes))
        rb, _, _ = drain(plain.rx, pool_r, len(sizes))
        assert len(kb) == len(sizes)
        assert kb == rb
        assert all(_udp_checksum_ok(f) for f in kb)
        assert ring.rx.checksummed == plain.rx.checksummed == len(sizes)
    finally:
        udp.close()
        ring.close()
        plain.close()


def test_frame_ring_receives_what_the_reference_does_at_once(link):
    """block_timeout_ms 0: a TPACKET_V2 ring, each frame readable as soon as it arrives
    (no block to wait for), the same bytes and types as the plain socket, across the
    ring's end more than once."""
    nx, x, ny, y, mac = link
    ring = packetsocket.open_receiver(y, ny, block_size=8192, block_nr=4, block_timeout_ms=0)
    plain = packetsocket.open_receiver(y, ny, ring=False)
    assert isinstance(ring.rx, afpacket.RxFrameRing) and "TPACKET_V2" in ring.method
    tx = raw_socket(nx, x)
    try:
        pool_k, pool_r = PacketPool(512), PacketPool(512)
        frames, types = random_frames(random.Random(11), 40, mac)
        tx.send(frames[0])
        deadline = time.monotonic() + 0.05     # well under any block timeout
        while ring.rx.pending_blocks() == 0 and time.monotonic() < deadline:
            pass
        assert ring.rx.pending_blocks() == 1
        kb, kt, _ = drain(ring.rx, pool_k, 1)
        rb, _, _ = drain(plain.rx, pool_r, 1)
        assert kb == rb == frames[:1]
        for r in range(3):                      # 16 frames in the ring: wraps around
            part = frames[1 + 12 * r:13 + 12 * r]
            for f in part:
                tx.send(f)
            kb, kt, _ = drain(ring.rx, pool_k, len(part))
            rb, rt, _ = drain(plain.rx, pool_r, len(part))
            assert kb == rb == part
            assert kt == rt == types[1 + 12 * r:13 + 12 * r]
        assert ring.rx.pending_blocks() == 0
        assert pool_k.n_used == pool_r.n_used == 0
    finally:
        tx.close()
        ring.close()
        plain.close()


def test_rings_refuse_slot_indices_beyond_the_pool_and_wrong_index_types(link):
    """The rings reach the pool's columns through raw pointers: an index past
    the pool, or an index array of the wrong type, is an error, never a write
    or read outside the pool."""
    nx, x, ny, y, mac = link
    receiver = packetsocket.open_receiver(y, ny, block_timeout_ms=0)
    sender = packetsocket.open_sender(x, nx, frame_nr=32)
    try:
        pool = PacketPool(16)
        with pytest.raises(IndexError, match="beyond the pool"):
            receiver.rx.receive(pool, np.array([3, 16], dtype=np.uint32))
        with pytest.raises(TypeError, match="slots must be"):
            receiver.rx.receive(pool, np.array([3], dtype=np.int64))
        batch = pool.from_bytes([bytes(60)])
        with pytest.raises(IndexError, match="beyond the pool"):
            sender.tx.send(pool, np.array([batch.idx[0], 99], dtype=np.uint32))
        with pytest.raises(TypeError, match="idx must be"):
            sender.tx.send(pool, batch.idx.astype(np.int32))
        with pytest.raises(ValueError, match="negative"):
            sender.tx.send(pool, batch.idx, -1)
        assert sender.tx.send(pool, batch.idx) == (1, 1)
    finally:
        receiver.close()
        sender.close()


@pytest.mark.parametrize("timeout_ms", [0, 1], ids=["frame-ring", "block-ring"])
def test_ready_says_how_many_frames_wait_so_an_idle_read_takes_one_slot(link, timeout_ms):
    """ready(max_n): 0 on an empty ring; on the frame ring exactly the frames
    waiting (at most max_n), on the block ring those of the handed-over
    block; the plain socket 0 or max_n (it cannot count without reading)."""
    nx, x, ny, y, mac = link
    ring = packetsocket.open_receiver(y, ny, block_size=8192, block_nr=4,
                                      block_timeout_ms=timeout_ms)
    plain = packetsocket.open_receiver(y, ny, ring=False)
    tx = raw_socket(nx, x)
    try:
        assert ring.rx.ready(256) == 0 and plain.rx.ready(256) == 0
        frames, _ = random_frames(random.Random(5), 3, mac, sizes=(60, 60))
        for f in frames:
            tx.send(f)
        deadline = time.monotonic() + 2
        while ring.rx.ready(256) < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert ring.rx.ready(256) == 3 and ring.rx.ready(2) == 2
        assert plain.rx.ready(256) == 256
        pool = PacketPool(16)
        batch = pool.alloc(ring.rx.ready(256))
        assert ring.rx.receive(pool, batch.idx) == 3
        assert [pool.packet_bytes(int(s)) for s in batch.idx] == frames
        assert ring.rx.ready(256) == 0
    finally:
        tx.close()
        ring.close()
        plain.close()
