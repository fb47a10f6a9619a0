"""Burst UDP I/O over IPv6 sockets: compiled against the reference.

The sockets are the host stack's own on ::1 (ports chosen by the kernel).
Senders land in dst_ip6 (network order) with dst_ip 0; sends take their
destination from addr6 or, per packet, from dst_ip6.
"""
import select
import socket

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from vforward.cext import udpio
from vforward.cext import udpio_reference as reference
from vforward.packet import PacketPool

IMPLS = [pytest.param(udpio, id="compiled"), pytest.param(reference, id="reference")]
LOOPBACK6 = socket.inet_pton(socket.AF_INET6, "::1")


def _udp6_socket():
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind(("::1", 0))
    s.setblocking(False)
    return s


def _recv_all(recv, sock, pool, want, timeout=1.0):
    got, dropped = [], 0
    while len(got) + dropped < want:
        if not select.select([sock], [], [], timeout)[0]:
            break
        idx, d = recv(sock.fileno(), pool, 64)
        got.extend(int(s) for s in idx)
        dropped += d
    return got, dropped


@pytest.mark.parametrize("impl", IMPLS)
def test_recv_burst_puts_an_ipv6_sender_in_dst_ip6_and_clears_dst_ip(impl):
    rx, tx = _udp6_socket(), _udp6_socket()
    with rx, tx:
        grams = [bytes([i]) * (i * 7) for i in range(30)] + [b"\xab" * 1950]
        for g in grams:
            tx.sendto(g, rx.getsockname())
        pool = PacketPool(128)
        pool.dst_ip[:] = 0xDEADBEEF          # stale annotations of earlier packets
        got, dropped = _recv_all(impl.recv_burst, rx, pool, len(grams))
        assert dropped == 1
        assert [pool.packet_bytes(s) for s in got] == grams[:-1]
        port = tx.getsockname()[1]
        for s in got:
            assert pool.dst_ip6[s].tobytes() == LOOPBACK6
            assert pool.dst_ip[s] == 0 and pool.port[s] == port


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("gso", [0, 1452], ids=["plain", "gso"])
def test_send_burst_to_a_fixed_ipv6_address_delivers_every_datagram_in_order(impl, gso):
    grams = [bytes([i]) * 100 for i in range(40)] + [bytes([i]) * (i * 13) for i in range(50)]
    rx, tx = _udp6_socket(), _udp6_socket()
    with rx, tx:
        pool = PacketPool(256)
        batch = pool.from_bytes(grams)
        n, err = impl.send_burst(tx.fileno(), pool, batch.idx, 0, rx.getsockname()[1], False,
                                 gso, LOOPBACK6)
        assert (n, err) == (len(grams), 0)
        out = []
        while len(out) < len(grams) and select.select([rx], [], [], 1.0)[0]:
            out.append(rx.recv(4096))
        assert out == grams


@pytest.mark.parametrize("impl", IMPLS)
def test_send_burst_per_packet_ipv6_destinations_and_the_connected_peer(impl):
    a, b, tx = _udp6_socket(), _udp6_socket(), _udp6_socket()
    with a, b, tx:
        pool = PacketPool(64)
        batch = pool.from_bytes([b"to-a-%d" % i for i in range(3)] + [b"to-b", b"default"])
        pa, pb = a.getsockname()[1], b.getsockname()[1]
        pool.dst_ip6[batch.idx] = 0
        pool.dst_ip6[batch.idx[:4]] = np.frombuffer(LOOPBACK6, np.uint8)
        pool.dst_ip[batch.idx] = 0x01020304   # an IPv6 socket never reads dst_ip
        pool.port[batch.idx[:3]] = pa
        pool.port[batch.idx[3]] = pb
        tx.connect(("::1", pb))
        n, err = impl.send_burst(tx.fileno(), pool, batch.idx, 0, 0, True, 1452, bytes(16))
        assert (n, err) == (5, 0)
        select.select([a], [], [], 1.0)
        assert [a.recv(100) for _ in range(3)] == [b"to-a-0", b"to-a-1", b"to-a-2"]
        select.select([b], [], [], 1.0)
        assert [b.recv(100), b.recv(100)] == [b"to-b", b"default"]


@pytest.mark.parametrize("impl", IMPLS)
def test_send_burst_refuses_an_addr6_that_is_not_16_bytes(impl):
    with _udp6_socket() as tx:
        pool = PacketPool(8)
        batch = pool.from_bytes([b"x"])
        with pytest.raises(ValueError, match="16 bytes"):
            impl.send_burst(tx.fileno(), pool, batch.idx, 0, 9, False, 0, b"\0" * 4)


@pytest.mark.parametrize("impl", IMPLS)
def test_gro_receiver_puts_the_ipv6_sender_on_every_cut_datagram(impl):
    grams = [bytes([i]) * 300 for i in range(60)] + [bytes([i]) * 64 for i in range(20)]
    rx, tx = _udp6_socket(), _udp6_socket()
    with rx, tx:
        rx.setsockopt(udpio.SOL_UDP, udpio.UDP_GRO, 1)
        pool = PacketPool(512)
        batch = pool.from_bytes(grams)
        n, err = udpio.send_burst(tx.fileno(), pool, batch.idx, 0, rx.getsockname()[1], False,
                                  1452, LOOPBACK6)
        assert (n, err) == (len(grams), 0)
        pool.free(batch.idx)
        got, dropped = _recv_all(impl.GROReceiver(8).recv_burst, rx, pool, len(grams))
        assert dropped == 0
        assert [pool.packet_bytes(s) for s in got] == grams
        port = tx.getsockname()[1]
        assert all(pool.dst_ip6[s].tobytes() == LOOPBACK6 and pool.port[s] == port
                   and pool.dst_ip[s] == 0 for s in got)


def _exchange(sender, receiver, grams, per_packet, gso):
    """grams sent by `sender` over ::1, received by `receiver`: what the receiver saw."""
    rx, tx = _udp6_socket(), _udp6_socket()
    with rx, tx:
        pool = PacketPool(256)
        batch = pool.from_bytes(grams)
        port = rx.getsockname()[1]
        if per_packet:
            pool.dst_ip6[batch.idx] = np.frombuffer(LOOPBACK6, np.uint8)
            pool.port[batch.idx] = port
        n, err = sender.send_burst(tx.fileno(), pool, batch.idx, 0, 0 if per_packet else port,
                                   per_packet, gso, bytes(16) if per_packet else LOOPBACK6)
        pool.free(batch.idx)
        got, dropped = _recv_all(receiver.recv_burst, rx, pool, len(grams), timeout=0.5)
        return (n, err, dropped, [pool.packet_bytes(s) for s in got],
                [(pool.dst_ip6[s].tobytes(), int(pool.port[s]) == tx.getsockname()[1],
                  int(pool.dst_ip[s])) for s in got])


@settings(max_examples=25, deadline=None)
@given(grams=st.lists(st.binary(max_size=1600), min_size=1, max_size=40),
       per_packet=st.booleans(), gso=st.sampled_from([0, 1452]))
def test_compiled_and_reference_send_and_receive_the_same_over_ipv6(grams, per_packet, gso):
    assert _exchange(udpio, udpio, grams, per_packet, gso) == \
        _exchange(reference, reference, grams, per_packet, gso)
