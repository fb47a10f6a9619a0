"""TAP I/O with virtio_net_hdr (KernelTap OFFLOAD): compiled loops and reference, on real devices.

The loop of test_tapio.py (two TAPs on a kernel bridge in a namespace)
carries a TCP super-frame written with a GSO header.  When the receiving
TAP has offloads too, the super-frame arrives whole with its offload state;
when it has none, Linux segments it, and our software segmentation
(cext/gso) must produce the very same bytes.
"""
import errno
import os
import select
import struct
import time
import uuid

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vforward import netns as ns
from vforward.cext import tapio
from vforward.cext import tapio_reference as reference
from vforward.elements.io.tundevice import enable_offloads, open_device
from vforward.offload import software_offload
from vforward.packet import GSO_SLOT_SIZE, GSO_TCPV4, PacketPool

IMPLS = [pytest.param(tapio, id="compiled"), pytest.param(reference, id="reference")]
SRC, DST = bytes([10, 1, 0, 1]), bytes([10, 1, 0, 2])


def _fold(s: int) -> int:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def _super_frame(payload_len: int, seq: int = 1000, flags: int = 0x18) -> bytes:
    """Ethernet + IPv4 + TCP as Linux hands a TSO frame over: the TCP checksum
    field holds the folded pseudo-header sum (partial checksum)."""
    rng = np.random.default_rng(payload_len)
    payload = rng.integers(0, 256, payload_len, dtype=np.uint8).tobytes()
    tcp_len = 20 + payload_len
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + tcp_len, 0x1234, 0x4000, 64, 6, 0,
                               SRC, DST))
    ip[10:12] = struct.pack("!H", 0xFFFF - _fold(sum(struct.unpack("!10H", bytes(ip)))))
    pseudo = _fold(sum(struct.unpack("!4H", SRC + DST)) + 6 + tcp_len)
    tcp = struct.pack("!HHIIBBHHH", 40000, 5201, seq, 77, 5 << 4, flags, 512, pseudo, 0)
    eth = b"\x02\x00\x00\xaa\xbb\x01" + b"\x02\x00\x00\x11\x22\x33" + b"\x08\x00"
    return eth + bytes(ip) + tcp + payload


@pytest.fixture
def vnet_loop(netns, request):
    """(fd_a, fd_b): a with offloads; b with offloads when request.param says so."""
    name = netns("tvn")
    ns.run(name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1")
    tag = uuid.uuid4().hex[:6]
    a = open_device(f"vna{tag}", True, name, vnet_hdr=True)
    b = open_device(f"vnb{tag}", True, name, vnet_hdr=request.param)
    try:
        enable_offloads(a)
        if request.param:
            enable_offloads(b)
        ns.ip("link", "add", "br0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0",
              netns=name)
        for dev in ("br0", a.name, b.name):
            ns.ip("link", "set", dev, "multicast", "off", netns=name)
        for d in (a, b):
            ns.ip("link", "set", d.name, "master", "br0", "up", netns=name)
        ns.ip("link", "set", "br0", "up", netns=name)
        yield a.fd, b.fd
    finally:
        a.close()
        b.close()


def _send_super_frame(impl, fd, pool, frame, gso_size):
    batch = pool.from_bytes([frame])
    s = batch.idx[0]
    pool.csum_start[s] = pool.off[s] + 34
    pool.csum_offset[s] = 16
    pool.gso_type[s] = GSO_TCPV4
    pool.gso_size[s] = gso_size
    assert impl.write_burst_vnet(fd, pool, batch.idx) == (1, 0)
    batch.kill()


def _read_tcp(read, fd, pool, want, timeout=3.0):
    slots = []
    deadline = time.monotonic() + timeout
    while len(slots) < want and time.monotonic() < deadline:
        select.select([fd], [], [], 0.2)
        for s in read(fd, pool, 64):
            if pool.packet_bytes(int(s))[23] == 6:      # TCP: nothing else of ours is
                slots.append(int(s))
            else:
                pool.free(np.array([s], dtype=np.uint32))
    return slots


@pytest.mark.parametrize("vnet_loop", [True], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
def test_a_super_frame_crosses_whole_to_a_device_with_offloads(vnet_loop, impl):
    fd_a, fd_b = vnet_loop
    pool = PacketPool(64, slot_size=GSO_SLOT_SIZE)
    frame = _super_frame(20000)
    _send_super_frame(impl, fd_a, pool, frame, 1448)
    slots = _read_tcp(impl.read_burst_vnet, fd_b, pool, 1)
    assert len(slots) == 1
    s = slots[0]
    assert pool.packet_bytes(s) == frame
    hr = pool.headroom
    assert (pool.gso_type[s], pool.gso_size[s]) == (GSO_TCPV4, 1448)
    assert (pool.csum_start[s], pool.csum_offset[s], pool.nh[s]) == (hr + 34, 16, hr + 14)


@pytest.mark.parametrize("vnet_loop", [False], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
def test_our_segmentation_matches_the_kernels(vnet_loop, impl):
    fd_a, fd_b = vnet_loop
    pool = PacketPool(256, slot_size=GSO_SLOT_SIZE)
    frame = _super_frame(10000, seq=0xFFFFF000, flags=0x19)      # seq wraps; FIN|PSH|ACK
    _send_super_frame(impl, fd_a, pool, frame, 1000)
    slots = _read_tcp(impl.read_burst, fd_b, pool, 10)
    kernel = [pool.packet_bytes(s) for s in slots]
    assert len(kernel) == 10 and all(len(k) == 14 + 40 + 1000 for k in kernel)
    ours = pool.from_bytes([frame])
    s = ours.idx[0]
    pool.nh[s] = pool.off[s] + 14
    pool.csum_start[s] = pool.off[s] + 34
    pool.csum_offset[s] = 16
    pool.gso_type[s] = GSO_TCPV4
    pool.gso_size[s] = 1000
    segments, dropped = software_offload(ours)
    assert dropped == 0
    assert segments.to_bytes() == kernel


@pytest.mark.parametrize("impl", IMPLS)
def test_write_refuses_offload_state_it_cannot_express(impl):
    pool = PacketPool(16, slot_size=GSO_SLOT_SIZE)
    frame = _super_frame(3000)
    r, w = os.pipe()
    try:
        for start, offset, gso in ((0, 0, 1000),            # GSO without a partial checksum
                                   (-10, 16, 0),            # checksum before the packet
                                   (34 + 3040, 16, 0),      # checksum field past its end
                                   (34, 16, 0)):            # fine: a plain partial checksum
            batch = pool.from_bytes([frame])
            s = batch.idx[0]
            pool.csum_start[s] = int(pool.off[s]) + start if start else 0
            pool.csum_offset[s] = offset
            pool.gso_type[s] = GSO_TCPV4 if gso else 0
            pool.gso_size[s] = gso
            want = (1, 0) if (start, gso) == (34, 0) else (0, errno.EINVAL)
            assert impl.write_burst_vnet(w, pool, batch.idx) == want
            batch.kill()
    finally:
        os.close(r)
        os.close(w)


@pytest.mark.parametrize("vnet_loop", [True], indirect=True)
@pytest.mark.parametrize("impl", IMPLS)
def test_without_headroom_for_the_header_a_second_iovec_carries_it(vnet_loop, impl):
    fd_a, fd_b = vnet_loop
    pool = PacketPool(64, slot_size=GSO_SLOT_SIZE)
    frame = _super_frame(5000)
    batch = pool.from_bytes([frame])
    s = batch.idx[0]
    pool.data[s, 4:4 + len(frame)] = pool.data[s, pool.headroom:pool.headroom + len(frame)]
    pool.off[s] = 4                             # too close to the slot's start for the header
    pool.csum_start[s], pool.csum_offset[s] = 4 + 34, 16
    pool.gso_type[s], pool.gso_size[s] = GSO_TCPV4, 1000
    assert impl.write_burst_vnet(fd_a, pool, batch.idx) == (1, 0)
    batch.kill()
    slots = _read_tcp(lambda fd, p, n: impl.read_burst_vnet(fd, p, n, 14, headroom=6), fd_b,
                      pool, 1)
    assert len(slots) == 1 and pool.packet_bytes(slots[0]) == frame
    assert (pool.off[slots[0]], pool.csum_start[slots[0]], pool.gso_size[slots[0]]) == (6, 40, 1000)


_annotations = st.tuples(
    st.integers(0, 200),                           # csum_start, from the packet's start (0: none)
    st.sampled_from([0, 6, 16, 255]),              # csum_offset
    st.sampled_from([0, 1, 3, 4, 5, 0x81]),        # gso_type
    st.sampled_from([0, 1, 536, 1448]))            # gso_size


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=1, max_size=600), _annotations), min_size=1,
                max_size=12),
       st.sampled_from([4, 64, 128]))
def test_both_implementations_agree_on_random_annotations(packets, headroom):
    """Random bytes with random, often impossible, offload annotations written to a
    packet pipe, then read back: both write the same headers (or refuse at the same
    packet) and read the same annotations back."""
    results = []
    for impl in (reference, tapio):
        pool = PacketPool(64)
        r, w = os.pipe2(os.O_NONBLOCK | os.O_DIRECT)
        try:
            sent = []
            for body, (start, offset, gtype, gsize) in packets:
                b = pool.from_bytes([body])
                s = b.idx[0]
                pool.data[s, headroom:headroom + len(body)] = list(body)
                pool.off[s] = headroom
                pool.csum_start[s] = headroom + start if start else 0
                pool.csum_offset[s], pool.gso_type[s], pool.gso_size[s] = offset, gtype, gsize
                sent.append(impl.write_burst_vnet(w, pool, b.idx))
                b.kill()
            idx = impl.read_burst_vnet(r, pool, 64, 14, headroom=headroom)
            got = [(pool.packet_bytes(int(s)), int(pool.csum_start[s]), int(pool.csum_offset[s]),
                    int(pool.gso_type[s]), int(pool.gso_size[s]), int(pool.nh[s])) for s in idx]
            results.append((sent, got))
            pool.free(idx)
            assert pool.n_used == 0
        finally:
            os.close(r)
            os.close(w)
    assert results[0] == results[1]
    assert len(results[0][1]) == sum(n for n, _ in results[0][0])
