"""Burst TAP I/O: the compiled loops against the per-packet reference, on real devices.

Two TAP devices enslaved to a kernel bridge inside a namespace make a loop:
a frame written into one device's fd is received by the kernel, flooded by
the bridge and comes out of the other device's fd byte for byte.  IPv6 is
off in the namespace, multicast off on the devices and multicast snooping
off on the bridge, so the kernel sends nothing of its own.
"""
import errno
import os
import select
import time
import uuid

import numpy as np
import pytest

from vforward import netns as ns
from vforward.cext import tapio
from vforward.cext import tapio_reference as reference
from vforward.elements.io.tundevice import open_device
from vforward.packet import PacketPool

ETHERTYPE = b"\x88\xb5"     # IEEE local experimental: nothing else in the namespace uses it
IMPLS = [pytest.param(tapio, id="compiled"), pytest.param(reference, id="reference")]


def _names():
    tag = uuid.uuid4().hex[:6]
    return f"tpa{tag}", f"tpb{tag}"


@pytest.fixture
def tap_loop(netns):
    """(fd_a, fd_b): frames written to one come out of the other."""
    name = netns("tio")
    ns.run(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1")
    a_name, b_name = _names()
    devs = [open_device(a_name, True, name), open_device(b_name, True, name)]
    try:
        ns.ip("link", "add", "br0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0",
              netns=name)
        for dev in ["br0"] + [d.name for d in devs]:   # no IGMP reports of the kernel's own
            ns.ip("link", "set", dev, "multicast", "off", netns=name)
        for d in devs:
            ns.ip("link", "set", d.name, "master", "br0", "up", netns=name)
        ns.ip("link", "set", "br0", "up", netns=name)
        yield devs[0].fd, devs[1].fd
    finally:
        for d in devs:
            d.close()


def _random_frames(rng, n, lo=60, hi=1514):
    frames = []
    for i in range(n):
        size = int(rng.integers(lo, hi + 1))
        body = rng.integers(0, 256, size - 14, dtype=np.uint8).tobytes()
        dst = b"\x02\x00\x00\xaa\xbb" + bytes([i % 200])   # unknown unicast: the bridge floods it
        src = b"\x02\x00\x00\x11\x22\x33"
        frames.append(dst + src + ETHERTYPE + body)
    return frames


def _read_all(impl, fd, pool, want, timeout=3.0):
    """Read bursts until `want` of our frames arrived; returns their bytes and the slots used."""
    got, slots = [], []
    deadline = time.monotonic() + timeout
    while len(got) < want and time.monotonic() < deadline:
        select.select([fd], [], [], 0.2)
        idx = impl.read_burst(fd, pool, 64)
        for s in idx:
            frame = pool.packet_bytes(int(s))
            if frame[12:14] == ETHERTYPE:
                got.append(frame)
                slots.append(int(s))
            else:
                pool.free(np.array([s], dtype=np.uint32))
    return got, slots


@pytest.mark.parametrize("writer,reader", [
    pytest.param(reference, tapio, id="reference-writes-compiled-reads"),
    pytest.param(tapio, reference, id="compiled-writes-reference-reads"),
    pytest.param(tapio, tapio, id="compiled-both"),
])
def test_frames_cross_the_tap_loop_byte_for_byte(tap_loop, writer, reader):
    fd_a, fd_b = tap_loop
    pool = PacketPool(1024)
    frames = _random_frames(np.random.default_rng(7), 300)
    batch = pool.from_bytes(frames)
    n, err = writer.write_burst(fd_a, pool, batch.idx)
    assert (n, err) == (300, 0)
    batch.kill()
    got, slots = _read_all(reader, fd_b, pool, 300)
    assert got == frames
    assert (pool.off[slots] == pool.headroom).all()
    assert (pool.ts_ns[slots] > 0).all()
    pool.free(np.array(slots, dtype=np.uint32))
    assert pool.n_used == 0


@pytest.mark.parametrize("impl", IMPLS)
def test_read_burst_stops_at_max_n_and_at_an_empty_device(tap_loop, impl):
    fd_a, fd_b = tap_loop
    pool = PacketPool(256)
    frames = _random_frames(np.random.default_rng(1), 10, 60, 200)
    batch = pool.from_bytes(frames)
    assert tapio.write_burst(fd_a, pool, batch.idx) == (10, 0)
    batch.kill()
    select.select([fd_b], [], [], 2)
    time.sleep(0.05)
    first = impl.read_burst(fd_b, pool, 4, headroom=40)
    assert len(first) == 4
    assert pool.n_used == 4                                   # the other 252 slots came back
    assert (pool.off[first] == 40).all()
    rest = impl.read_burst(fd_b, pool, 64)
    assert [pool.packet_bytes(int(s)) for s in np.concatenate((first, rest))] == frames
    assert len(impl.read_burst(fd_b, pool, 64)) == 0          # EAGAIN: nothing, no error
    assert pool.n_used == 10


@pytest.mark.parametrize("impl", IMPLS)
def test_read_burst_with_an_exhausted_pool_reads_nothing(tap_loop, impl):
    fd_a, fd_b = tap_loop
    pool = PacketPool(8)
    held = pool.alloc(8)
    assert len(impl.read_burst(fd_b, pool, 16)) == 0
    held.kill()


@pytest.mark.parametrize("impl", IMPLS)
def test_write_burst_stops_at_the_packet_the_device_refuses(tap_loop, impl):
    fd_a, _ = tap_loop
    pool = PacketPool(64)
    frames = _random_frames(np.random.default_rng(3), 3)
    frames[1] = frames[1][:10]                                # shorter than an Ethernet header
    batch = pool.from_bytes(frames)
    assert impl.write_burst(fd_a, pool, batch.idx) == (1, errno.EINVAL)
    batch.kill()


@pytest.mark.parametrize("impl", IMPLS)
def test_write_burst_reports_eagain_when_the_fd_is_full(impl):
    # A packet-mode pipe keeps write boundaries and fills after 16 writes of any size.
    r, w = os.pipe2(os.O_NONBLOCK | os.O_DIRECT)
    try:
        pool = PacketPool(64)
        batch = pool.from_bytes([bytes([i]) * 100 for i in range(40)])
        n, err = impl.write_burst(w, pool, batch.idx)
        assert err == errno.EAGAIN and 0 < n < 40
        got = [os.read(r, 4096) for _ in range(n)]
        assert got == batch.to_bytes()[:n]
        assert impl.write_burst(w, pool, batch.idx[n:n + 3]) == (3, 0)
        batch.kill()
    finally:
        os.close(r)
        os.close(w)


def test_both_implementations_agree_on_a_pipe():
    pool = PacketPool(128)
    rng = np.random.default_rng(11)
    frames = [rng.integers(0, 256, int(rng.integers(1, 1500)), dtype=np.uint8).tobytes()
              for _ in range(12)]
    results = []
    for impl in (reference, tapio):
        r, w = os.pipe2(os.O_NONBLOCK | os.O_DIRECT)
        try:
            batch = pool.from_bytes(frames)
            assert impl.write_burst(w, pool, batch.idx) == (12, 0)
            batch.kill()
            idx = impl.read_burst(r, pool, 32, headroom=64)
            results.append(([pool.packet_bytes(int(s)) for s in idx], pool.off[idx].tolist()))
            pool.free(idx)
        finally:
            os.close(r)
            os.close(w)
    assert results[0] == results[1]
    assert results[0][0] == frames
    assert pool.n_used == 0


@pytest.mark.parametrize("impl", IMPLS)
def test_read_burst_raises_on_a_bad_fd_and_keeps_the_pool_whole(impl):
    r, w = os.pipe()
    os.close(r)
    os.close(w)
    pool = PacketPool(16)
    with pytest.raises(OSError) as e:
        impl.read_burst(r, pool, 8)
    assert e.value.errno == errno.EBADF
    assert pool.n_used == 0


@pytest.mark.parametrize("impl", IMPLS)
def test_drain_throws_frames_away(impl):
    r, w = os.pipe2(os.O_NONBLOCK | os.O_DIRECT)
    try:
        for i in range(5):
            os.write(w, bytes(100))
        assert impl.drain(r, 3) == 3
        assert impl.drain(r, 10) == 2
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("impl", IMPLS)
def test_write_burst_checks_slot_bounds(impl):
    pool = PacketPool(4)
    b = pool.alloc(1, 10)
    with pytest.raises(IndexError):
        impl.write_burst(1, pool, np.array([7], dtype=np.uint32))
    pool.off[b.idx] = pool.slot_size - 5
    with pytest.raises(ValueError):
        impl.write_burst(1, pool, b.idx)
    b.kill()
