"""Socket (UDP): a router receiving datagrams and sending them, on loopback and in namespaces.

Routers run in a background thread (their sockets are opened by
`router.initialize()` in the test's thread, so setup errors surface there);
the test talks to them with ordinary Python sockets.
"""
import socket
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.element import PUSH_ONLY, Element, register
from vforward.graph import GraphError


class _Frames(Element):
    """_SocketFrames -- test source pushing the datagrams a test hands it"""
    CLASS_NAME = "_SocketFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, payloads, dst=None):
        batch = self.router.pool.from_bytes(payloads)
        if dst is not None:
            self.router.pool.dst_ip[batch.idx] = dst[0]
            self.router.pool.port[batch.idx] = dst[1]
        self.emit(0, batch)


register(_Frames)


def wait_for(predicate, timeout=2.0):
    """The router runs in another thread: its counters catch up a moment later."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.005)
    return predicate()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(timeout)
    return s


def test_udp_echo_server_answers_each_sender_and_counts(make_router, running):
    port = free_port()
    r = make_router(f"s :: Socket(UDP, 127.0.0.1, {port}); s -> s;")
    with running(r), client() as a, client() as b:
        sent = [b"ping %d" % i * (i + 1) for i in range(50)]
        for i, m in enumerate(sent):
            (a if i % 2 else b).sendto(m, ("127.0.0.1", port))
        got_a = [a.recv(4096) for _ in range(25)]
        got_b = [b.recv(4096) for _ in range(25)]
        assert got_a == sent[1::2] and got_b == sent[0::2]
        s = r.element("s")
        assert wait_for(lambda: s.read("tx_count") == "50")
        assert s.read("count") == "50"
        assert s.read("drops") == s.read("rx_drops") == "0"
        assert s.read("local") == f"127.0.0.1:{port}"
        assert s.read("last_sender").startswith("127.0.0.1:")
    assert r.pool.n_used == 0


def test_client_sends_to_its_remote_and_receives_from_it(make_router, running):
    far = client()
    local = free_port()
    far_port = far.getsockname()[1]
    r = make_router(f"src :: _SocketFrames -> s :: Socket(UDP, 127.0.0.1, {far_port}, "
                    f"127.0.0.1, {local}); s -> Discard;")
    with far, running(r):
        r.loop.call_soon_threadsafe(r.element("src").send, [b"one", b"two", b"three"])
        got = [far.recvfrom(100) for _ in range(3)]
        assert [g[0] for g in got] == [b"one", b"two", b"three"]
        assert {g[1] for g in got} == {("127.0.0.1", local)}
        far.sendto(b"back", ("127.0.0.1", local))
        s = r.element("s")
        assert wait_for(lambda: s.read("count") == "1") and s.read("tx_count") == "3"
        assert s.read("remote") == f"127.0.0.1:{far_port}"


def test_client_without_address_sends_to_each_packets_annotations(make_router, running):
    a, b = client(), client()
    r = make_router("src :: _SocketFrames -> s :: Socket(UDP, 0.0.0.0, 0, CLIENT true);")
    with a, b, running(r):
        src = r.element("src")
        r.loop.call_soon_threadsafe(src.send, [b"for a"], (0x7F000001, a.getsockname()[1]))
        r.loop.call_soon_threadsafe(src.send, [b"for b"], (0x7F000001, b.getsockname()[1]))
        r.loop.call_soon_threadsafe(src.send, [b"for nobody"], (0, 0))
        assert a.recv(100) == b"for a" and b.recv(100) == b"for b"
        assert wait_for(lambda: r.element("s").read("drops") == "1")     # no destination


def test_server_with_no_sender_yet_drops_what_has_no_destination(make_router):
    r = make_router(f"src :: _SocketFrames -> s :: Socket(UDP, 127.0.0.1, {free_port()}) "
                    "-> Discard;")
    r.initialize()
    r.element("src").send([b"a", b"b"])
    s = r.element("s")
    assert s.read("drops") == "2" and s.read("tx_count") == "0" and r.pool.n_used == 0


def test_blocked_socket_queues_then_drops_and_counts_without_failing(make_router, netns, running):
    """A rate-limited veth (tbf qdisc) and a tiny SNDBUF make sendmmsg return EAGAIN."""
    left, right = netns("sl"), netns("sr")
    tag = uuid.uuid4().hex[:6]
    va, vb = f"sa{tag}", f"sb{tag}"
    ns.veth_pair(va, left, vb, right)
    ns.ip("addr", "add", "10.91.0.1/24", "dev", va, netns=left)
    ns.ip("addr", "add", "10.91.0.2/24", "dev", vb, netns=right)
    ns.run(left, "tc", "qdisc", "add", "dev", va, "root", "tbf", "rate", "100kbit",
           "burst", "1600", "limit", "200000")
    r = make_router("src :: _SocketFrames -> s :: Socket(UDP, 10.91.0.2, 9, 10.91.0.1, 0, "
                    f"SNDBUF 1, QUEUE 20, NETNS {left});")
    total = 0
    with running(r):
        src, s = r.element("src"), r.element("s")
        for _ in range(20):
            r.loop.call_soon_threadsafe(src.send, [b"x" * 1000] * 50)
            total += 50
            time.sleep(0.01)
        time.sleep(0.3)
        tx, drops, queued = (int(s.read(h)) for h in ("tx_count", "drops", "queue_length"))
        assert drops > 0 and tx > 0
        assert tx + drops + queued == total
        assert r.exit_code == 0


def test_socket_in_a_namespace_binds_there(make_router, netns, running):
    space = netns("sn")
    r = make_router(f"s :: Socket(UDP, 127.0.0.1, 4789, NETNS {space}); s -> s;")
    with running(r):
        out = ns.run(space, "python3", "-c",
                     "import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM);"
                     "s.settimeout(2); s.sendto(b'hi', ('127.0.0.1', 4789));"
                     "print(s.recv(10).decode())").stdout
        assert out.strip() == "hi"


@pytest.mark.parametrize("config, words", [
    ("Socket(TCP, 127.0.0.1, 80)", "not supported"),
    ("Socket(UDP, 127.0.0.1, 70000)", "port"),
    ("Socket(UDP, 127.0.0.1, 7, BURST 0)", "BURST"),
])
def test_bad_socket_arguments_are_refused(make_router, config, words):
    with pytest.raises(GraphError, match=words):
        make_router(f"{config} -> Discard;")


def test_a_port_in_use_is_refused_at_start_with_the_reason(make_router):
    from vforward.element import ElementError
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        r = make_router(f"Socket(UDP, 127.0.0.1, {taken.getsockname()[1]}) -> Discard;")
        with pytest.raises(ElementError, match="in use"):
            r.initialize()


def test_a_pull_input_drains_its_queue_to_the_socket(make_router, running):
    far = client()
    far_port = far.getsockname()[1]
    r = make_router(f"src :: _SocketFrames -> q :: Queue(100) -> s :: Socket(UDP, 127.0.0.1, "
                    f"{far_port}, CLIENT true, GSO false);")
    with far, running(r):
        r.loop.call_soon_threadsafe(r.element("src").send, [b"q%d" % i for i in range(20)])
        assert [far.recv(10) for _ in range(20)] == [b"q%d" % i for i in range(20)]
        assert wait_for(lambda: r.element("s").read("tx_count") == "20")
        assert r.element("q").read("length") == "0" and r.element("s").read("gso") == "false"
