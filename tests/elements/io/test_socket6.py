"""Socket over IPv6: an echo server on ::1, a client re-pointed, per-packet
destinations from dst_ip6, and the errors of mixed families."""
import socket

import numpy as np
import pytest

from vforward.element import ElementError
from vforward.graph import GraphError

from tests.elements.io.test_socket import wait_for


def _free_port6() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def _client6(timeout=2.0):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::1", 0))
    s.settimeout(timeout)
    return s


def test_ipv6_echo_server_answers_each_sender(make_router, running):
    port = _free_port6()
    r = make_router(f"s :: Socket(UDP, ::1, {port}); s -> s;")
    with running(r), _client6() as a, _client6() as b:
        for i in range(10):
            (a if i % 2 else b).sendto(b"ping %d" % i, ("::1", port))
        assert [a.recv(100) for _ in range(5)] == [b"ping %d" % i for i in range(1, 10, 2)]
        assert [b.recv(100) for _ in range(5)] == [b"ping %d" % i for i in range(0, 10, 2)]
        s = r.element("s")
        assert wait_for(lambda: s.read("tx_count") == "10")
        assert s.read("local") == f"[::1]:{port}"
        assert s.read("last_sender") == f"[::1]:{a.getsockname()[1]}"
    assert r.pool.n_used == 0


def test_ipv6_client_sends_to_its_remote_and_can_be_re_pointed(make_router, running):
    far, other = _client6(), _client6()
    r = make_router(f"src :: _SocketFrames -> s :: Socket(UDP, ::1, {far.getsockname()[1]}, "
                    f"::1, {_free_port6()}); s -> Discard;")
    with far, other, running(r):
        s = r.element("s")
        assert s.read("remote") == f"[::1]:{far.getsockname()[1]}"
        r.loop.call_soon_threadsafe(r.element("src").send, [b"one"])
        assert far.recv(100) == b"one"
        s.write("remote", f"[::1]:{other.getsockname()[1]}")
        r.loop.call_soon_threadsafe(r.element("src").send, [b"two"])
        assert other.recv(100) == b"two"
        with pytest.raises(ElementError, match="IPv4 and this socket IPv6"):
            s.write("remote", "127.0.0.1:9")


def test_ipv6_client_without_address_sends_to_each_packets_dst_ip6(make_router, running):
    a = _client6()
    r = make_router("src :: _SocketFrames -> s :: Socket(UDP, ::, 0, CLIENT true);")
    with a, running(r):
        pool = r.pool

        def send(payload, addr):
            batch = pool.from_bytes([payload])
            pool.dst_ip6[batch.idx] = np.frombuffer(socket.inet_pton(socket.AF_INET6, addr),
                                                    np.uint8)
            pool.port[batch.idx] = a.getsockname()[1]
            r.element("src").emit(0, batch)
        r.loop.call_soon_threadsafe(send, b"for a", "::1")
        r.loop.call_soon_threadsafe(send, b"for nobody", "::")
        assert a.recv(100) == b"for a"
        s = r.element("s")
        assert wait_for(lambda: s.read("drops") == "1")


@pytest.mark.parametrize("config, words", [
    ("Socket(UDP, 2001:db8::1, 7, 192.0.2.1, 7)", "one family"),
    ("Socket(UDP, 2001:db8::g, 7)", "IPv4 or IPv6 address"),
])
def test_bad_ipv6_socket_arguments_are_refused(make_router, config, words):
    with pytest.raises(GraphError, match=words):
        make_router(f"{config} -> Discard;")
