"""Burst UDP I/O and tunnel header kernels: compiled against the reference.

Socket tests run on loopback sockets of the test's own namespace-free host
stack (127.0.0.1, ports chosen by the kernel); header tests run both
implementations on copies of one pool of random packets and demand the
same bytes and columns.
"""
import copy
import errno
import select
import socket
import struct

import dpkt
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vforward.cext import udpio
from vforward.cext import udpio_reference as reference
from vforward.packet import PacketPool

IMPLS = [pytest.param(udpio, id="compiled"), pytest.param(reference, id="reference")]
LOOPBACK = 0x7F000001


def _udp_socket(bind=("127.0.0.1", 0)):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
    s.bind(bind)
    s.setblocking(False)
    return s


def _recv_all(impl, sock, pool, want, timeout=2.0):
    got, dropped = [], 0
    while len(got) + dropped < want:
        if not select.select([sock], [], [], timeout)[0]:
            break
        idx, d = impl.recv_burst(sock.fileno(), pool, 64)
        got.extend(int(s) for s in idx)
        dropped += d
    return got, dropped


def _datagrams(rng, n, hi=1900):
    return [rng.integers(0, 256, int(rng.integers(0, hi)), dtype=np.uint8).tobytes()
            for _ in range(n)]


@pytest.mark.parametrize("impl", IMPLS)
def test_recv_burst_fills_slots_and_sender_annotations(impl):
    rng = np.random.default_rng(1)
    rx, tx = _udp_socket(), _udp_socket()
    with rx, tx:
        grams = _datagrams(rng, 50)
        grams.insert(7, b"\xab" * 1950)      # longer than a slot's room: dropped and counted
        for g in grams:
            tx.sendto(g, rx.getsockname())
        pool = PacketPool(256)
        got, dropped = _recv_all(impl, rx, pool, len(grams))
        assert dropped == 1
        assert [pool.packet_bytes(s) for s in got] == grams[:7] + grams[8:]
        port = tx.getsockname()[1]
        for s in got:
            assert pool.dst_ip[s] == LOOPBACK and pool.port[s] == port
            assert pool.off[s] == pool.headroom and pool.ts_ns[s] > 0
        assert pool.n_used == len(got)


def test_recv_burst_compiled_and_reference_agree_on_the_same_datagrams():
    rng = np.random.default_rng(2)
    grams = _datagrams(rng, 80)
    results = []
    for impl in (udpio, reference):
        rx, tx = _udp_socket(), _udp_socket()
        with rx, tx:
            for g in grams:
                tx.sendto(g, rx.getsockname())
            pool = PacketPool(256)
            got, dropped = _recv_all(impl, rx, pool, len(grams))
            results.append(([pool.packet_bytes(s) for s in got], dropped,
                            [int(pool.off[s]) for s in got]))
    assert results[0] == results[1]


@pytest.mark.parametrize("impl", IMPLS)
def test_recv_burst_on_an_empty_socket_returns_nothing_and_keeps_no_slot(impl):
    with _udp_socket() as rx:
        pool = PacketPool(64)
        idx, dropped = impl.recv_burst(rx.fileno(), pool, 32)
        assert len(idx) == 0 and dropped == 0 and pool.n_used == 0


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("gso", [0, 1472], ids=["plain", "gso"])
def test_send_burst_delivers_every_datagram_of_a_batch_in_order(impl, gso):
    rng = np.random.default_rng(3)
    # runs of equal sizes (what GSO coalesces), then mixed sizes
    grams = [bytes([i]) * 100 for i in range(40)] + [bytes([i]) * 60 for i in range(10)] + \
        _datagrams(rng, 60, hi=1400)
    rx, tx = _udp_socket(), _udp_socket()
    with rx, tx:
        pool = PacketPool(512)
        batch = pool.from_bytes(grams)
        n, err = impl.send_burst(tx.fileno(), pool, batch.idx, LOOPBACK, rx.getsockname()[1],
                                 False, gso)
        assert (n, err) == (len(grams), 0)
        out = []
        while len(out) < len(grams) and select.select([rx], [], [], 1.0)[0]:
            out.append(rx.recv(4096))
        assert out == grams


@pytest.mark.parametrize("impl", IMPLS)
def test_send_burst_per_packet_destinations_and_connected_peer(impl):
    a, b, tx = _udp_socket(), _udp_socket(), _udp_socket()
    with a, b, tx:
        pool = PacketPool(64)
        batch = pool.from_bytes([b"to-a-%d" % i for i in range(3)] + [b"to-b", b"default"])
        pa, pb = a.getsockname()[1], b.getsockname()[1]
        pool.dst_ip[batch.idx[:4]] = LOOPBACK
        pool.port[batch.idx[:3]] = pa
        pool.port[batch.idx[3]] = pb
        # the last packet has no dst_ip annotation: it goes to the connected peer (b)
        tx.connect(("127.0.0.1", pb))
        n, err = impl.send_burst(tx.fileno(), pool, batch.idx, 0, 0, True, 1472)
        assert (n, err) == (5, 0)
        select.select([a], [], [], 1.0)
        assert [a.recv(100) for _ in range(3)] == [b"to-a-0", b"to-a-1", b"to-a-2"]
        select.select([b], [], [], 1.0)
        assert [b.recv(100), b.recv(100)] == [b"to-b", b"default"]


@pytest.mark.parametrize("impl", IMPLS)
def test_send_burst_stops_at_an_error_and_says_which(impl):
    with _udp_socket() as tx:
        pool = PacketPool(64)
        batch = pool.from_bytes([b"x" * 10, b"y" * 1900, b"z"])
        # an unconnected socket with no destination: every send fails with EDESTADDRREQ
        n, err = impl.send_burst(tx.fileno(), pool, batch.idx, 0, 0, False, 0)
        assert (n, err) == (0, errno.EDESTADDRREQ)


# -- tunnel headers ---------------------------------------------------------------

def _random_pool(seed, n=60, slots=128):
    rng = np.random.default_rng(seed)
    pool = PacketPool(slots)
    frames = []
    for i in range(n):
        size = int(rng.integers(14, 1500))
        frames.append(rng.integers(0, 256, size, dtype=np.uint8).tobytes())
    batch = pool.from_bytes(frames)
    # some packets have lost most of their headroom (earlier pushes)
    tight = batch.idx[::9]
    for s in tight:
        o, ln = int(pool.off[s]), int(pool.length[s])
        new = int(rng.integers(0, 30))
        pool.data[s, new:new + ln] = pool.data[s, o:o + ln].copy()
        pool.off[s] = new
    pool.dst_ip[batch.idx] = rng.integers(1, 1 << 32, n, dtype=np.uint64).astype(np.uint32)
    return pool, batch.idx


def _state(pool, idx):
    return ([pool.packet_bytes(int(s)) for s in idx], pool.off[idx].tolist(),
            pool.length[idx].tolist(), pool.nh[idx].tolist(), pool.dst_ip[idx].tolist())


def _both(seed, call):
    pool, idx = _random_pool(seed)
    outs = []
    for impl in (udpio, reference):
        p = copy.deepcopy(pool)
        out = np.full(len(idx), 7, dtype=np.uint8)
        ret = call(impl, p, idx, out)
        outs.append((ret, out.tolist(), _state(p, idx)))
    assert outs[0] == outs[1]
    return outs[0], pool, idx


def test_push_header_compiled_matches_reference():
    header = np.frombuffer(b"\x08\x00\x00\x00\x00\x12\x34\x00", np.uint8)
    (ret, short, state), pool, idx = _both(4, lambda m, p, i, o: m.push_header(p, i, header, o))
    assert ret == sum(short) > 0
    for frame, s, was in zip(state[0], short, _state(pool, idx)[0]):
        assert frame == (was if s else bytes(header) + was)


@pytest.mark.parametrize("dst_anno", [False, True])
def test_push_ip_compiled_matches_reference_and_headers_are_valid(dst_anno):
    (ret, short, state), pool, idx = _both(
        5, lambda m, p, i, o: m.push_ip(p, i, 4, 0x0A000001, 0x0A000002, 0x10, 250, True,
                                        65530, dst_anno, o))
    assert ret == (65530 + short.count(0)) & 0xFFFF
    for frame, s, d in zip(state[0], short, _state(pool, idx)[4]):
        if s:
            continue
        ip = dpkt.ip.IP(frame)
        assert ip.p == 4 and ip.ttl == 250 and ip.tos == 0x10 and ip.df
        assert ip.dst == struct.pack("!I", d if dst_anno else 0x0A000002)
        assert ip.sum == dpkt.ip.IP(bytes(ip)).sum       # dpkt recomputes: the same


@pytest.mark.parametrize("checksum", [False, True])
@pytest.mark.parametrize("per_sport", [False, True])
def test_push_udp_ip_compiled_matches_reference_and_checksums_verify(checksum, per_sport):
    from vforward.cext import ipheader
    sports = np.arange(40000, 40060, dtype=np.uint16) if per_sport else None
    (ret, short, state), pool, idx = _both(
        6, lambda m, p, i, o: m.push_udp_ip(p, i, 0xC0A80001, 0xC0A80002, 1234, 4789, 0, 64,
                                            False, 7, checksum, False, sports, o))
    pushed = [i for i, s in enumerate(short) if not s]
    for i in pushed:
        ip = dpkt.ip.IP(state[0][i])
        assert ip.udp.sport == (40000 + i if per_sport else 1234) and ip.udp.dport == 4789
        assert ip.udp.ulen == len(state[0][i]) - 20
        assert (ip.udp.sum != 0) == checksum
    # the pushed packets' checksums verify with the IP header kernels
    p = copy.deepcopy(pool)
    out = np.zeros(len(idx), np.uint8)
    udpio.push_udp_ip(p, idx, 0xC0A80001, 0xC0A80002, 1234, 4789, 0, 64, False, 7, checksum,
                      False, sports, out)
    good = idx[out == 0]
    ok = np.zeros(len(good), np.uint8)
    assert ipheader.udp_tcp_checksum_ok(p, good, ok) == 0
    reasons = np.zeros(len(good), np.uint8)
    p.nh[good] = p.off[good]
    assert ipheader.check_ip_header(p, good, 0, True, reasons) == len(good)


def test_match_header_compiled_matches_reference_and_pops_matches():
    pattern = np.frombuffer(b"\x01\x00\xaa", np.uint8)
    mask = np.frombuffer(b"\xff\x00\xff", np.uint8)

    def setup(m, p, i, o):
        # every third packet gets the pattern; one becomes too short
        for j, s in enumerate(i[::3]):
            o0 = int(p.off[s])
            p.data[s, o0:o0 + 3] = [1, j & 255, 0xAA]
        p.length[i[1]] = 2
        return m.match_header(p, i, pattern, mask, True, o)
    (ret, out, state), pool, idx = _both(8, setup)
    assert ret == out.count(255) == len(idx[::3])
    assert out[1] == 254
    assert all(o in (0, 2, 254, 255) for o in out)


def test_flow_ports_compiled_matches_reference_stays_in_range_and_follows_flows():
    pool, idx = _random_pool(9)
    a = np.zeros(len(idx), np.uint16)
    b = np.zeros(len(idx), np.uint16)
    udpio.flow_ports(pool, idx, 32768, 60999, a)
    reference.flow_ports(pool, idx, 32768, 60999, b)
    assert a.tolist() == b.tolist()
    assert a.min() >= 32768 and a.max() <= 60999 and len(set(a.tolist())) > len(idx) // 2
    udpio.flow_ports(pool, idx, 1, 9, a, 8)
    reference.flow_ports(pool, idx, 1, 9, b, 8)
    assert a.tolist() == b.tolist() and set(a.tolist()) <= set(range(1, 10))
    # two frames of one TCP flow with different payloads hash alike
    eth = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00"
    tcp = dpkt.tcp.TCP(sport=5555, dport=80)
    frames = []
    for payload in (b"first", b"second segment"):
        tcp.data = payload
        ip = dpkt.ip.IP(src=b"\x0a\0\0\x01", dst=b"\x0a\0\0\x02", p=6, data=tcp)
        frames.append(eth + bytes(ip))
    batch = pool.from_bytes(frames)
    out = np.zeros(2, np.uint16)
    udpio.flow_ports(pool, batch.idx, 49152, 65535, out)
    assert out[0] == out[1] and out[0] >= 49152


@pytest.mark.parametrize("impl", IMPLS)
def test_gro_receiver_cuts_coalesced_datagrams_back_into_slots(impl):
    rng = np.random.default_rng(10)
    grams = [bytes([i]) * 300 for i in range(100)] + _datagrams(rng, 30) + [b""] + \
        [b"\xee" * 1950] + [bytes([i]) * 64 for i in range(70)]
    rx, tx = _udp_socket(), _udp_socket()
    with rx, tx:
        rx.setsockopt(udpio.SOL_UDP, udpio.UDP_GRO, 1)
        pool = PacketPool(1024)
        batch = pool.from_bytes(grams[:131])
        big = pool.from_bytes([b""])              # a datagram longer than a slot's room
        pool.length[big.idx] = 1950
        pool.off[big.idx] = 0
        pool.data[big.idx, :1950] = 0xEE
        rest = pool.from_bytes(grams[132:])
        idx = np.concatenate((batch.idx, big.idx, rest.idx))
        n, err = udpio.send_burst(tx.fileno(), pool, idx, LOOPBACK, rx.getsockname()[1],
                                  False, 1472)
        assert (n, err) == (len(grams), 0)
        pool.free(idx)
        receiver = impl.GROReceiver(8)
        got, dropped = [], 0
        while len(got) + dropped < len(grams) and select.select([rx], [], [], 1.0)[0]:
            idx, d = receiver.recv_burst(rx.fileno(), pool, 8)
            got += [int(s) for s in idx]
            dropped += d
        assert dropped == 1
        assert [pool.packet_bytes(s) for s in got] == grams[:131] + grams[132:]
        port = tx.getsockname()[1]
        assert all(pool.dst_ip[s] == LOOPBACK and pool.port[s] == port for s in got)
        pool.free(np.array(got, dtype=np.uint32))
        assert pool.n_used == 0


@pytest.mark.parametrize("impl", IMPLS)
def test_send_burst_with_gso_delivers_an_empty_datagram_that_follows_a_run(impl):
    # The kernel drops a 0-byte last segment of a GSO message: it must go on its own.
    grams = [b"a" * 100] * 3 + [b""] + [b"z"]
    rx, tx = _udp_socket(), _udp_socket()
    with rx, tx:
        pool = PacketPool(64)
        batch = pool.from_bytes(grams)
        n, err = impl.send_burst(tx.fileno(), pool, batch.idx, LOOPBACK, rx.getsockname()[1],
                                 False, 1472)
        assert (n, err) == (len(grams), 0)
        out = []
        while len(out) < len(grams) and select.select([rx], [], [], 1.0)[0]:
            out.append(rx.recv(4096))
        assert out == grams


def _ones_sum(b: bytes) -> int:
    b += b"\0" * (len(b) % 2)
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


SRC6 = bytes.fromhex("20010db8000000000000000000000001")
DST6 = bytes.fromhex("20010db8000000000000000000000002")


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), dst_anno=st.booleans(), per_sport=st.booleans(),
       tclass=st.integers(0, 255), hlim=st.integers(0, 255))
def test_push_udp_ip6_compiled_matches_reference_and_checksums_verify(seed, dst_anno, per_sport,
                                                                      tclass, hlim):
    pool, idx = _random_pool(seed)
    rng = np.random.default_rng(seed)
    pool.dst_ip6[idx] = rng.integers(0, 256, (len(idx), 16), dtype=np.uint8)
    sports = rng.integers(1, 65536, len(idx), dtype=np.uint64).astype(np.uint16) \
        if per_sport else None
    results = []
    for impl in (udpio, reference):
        p = copy.deepcopy(pool)
        out = np.full(len(idx), 7, dtype=np.uint8)
        impl.push_udp_ip6(p, idx, SRC6, DST6, 1234, 4789, tclass, hlim, 0, dst_anno, sports, out)
        results.append((out.tolist(), _state(p, idx), p.dst_ip6[idx].tolist()))
    assert results[0] == results[1]
    short, state, dst6 = results[0]
    assert 0 < short.count(1) < len(idx)          # both paths were taken
    for i, (frame, s) in enumerate(zip(state[0], short)):
        if s:
            continue
        ip6 = dpkt.ip6.IP6(frame)
        want_dst = pool.dst_ip6[idx[i]].tobytes() if dst_anno else DST6
        assert ip6.v == 6 and ip6.fc == tclass and ip6.hlim == hlim and ip6.nxt == 17
        assert ip6.src == SRC6 and ip6.dst == want_dst and bytes(dst6[i]) == want_dst
        assert ip6.plen == len(frame) - 40 and state[3][i] == state[1][i]   # nh at the header
        udp = frame[40:]
        assert struct.unpack("!HHH", udp[:6]) == (
            int(sports[i]) if per_sport else 1234, 4789, len(udp))
        assert udp[6:8] != b"\0\0"                # IPv6 needs a checksum
        pseudo = SRC6 + want_dst + struct.pack("!IxxxB", len(udp), 17)
        assert _ones_sum(pseudo + udp) == 0xFFFF  # and it verifies
