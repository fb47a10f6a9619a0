"""KernelTap OFFLOAD: TCP super-frames and partial checksums between real namespaces.

Two KernelTaps bridge two namespaces; the left one always has offloads, the
right one with or without.  When the right has none, every super-frame and
partial checksum from the left must be finished in software on the way
(vforward/offload.py), or TCP and UDP would stall on bad checksums.
"""
import contextlib
import json
import shutil
import subprocess
import threading
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.packet import GSO_SLOT_SIZE

pytestmark = pytest.mark.skipif(shutil.which("iperf3") is None, reason="needs iperf3")


@contextlib.contextmanager
def running(router):
    router.initialize()
    thread = threading.Thread(target=router.run, daemon=True)
    thread.start()
    try:
        yield router
    finally:
        router.loop.call_soon_threadsafe(router.stop)
        thread.join(10)
        assert not thread.is_alive()


def _iperf(client_ns, server_ns, address, *extra):
    server = ns.popen(server_ns, "iperf3", "-s", "-1", "-J", "-B", address,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if ns.run(server_ns, "ss", "-ltnH", "sport = :5201", check=False).stdout.strip():
                break
            time.sleep(0.05)
        client = ns.run(client_ns, "iperf3", "-c", address, "-t", "1", "-J",
                        "--connect-timeout", "3000", *extra, check=False, timeout=30)
        assert client.returncode == 0, client.stdout + client.stderr
        out, err = server.communicate(timeout=15)
        # The receiver's report: the server's, or with -R (server sends) the client's.
        return json.loads(client.stdout if "-R" in extra else out)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


@pytest.mark.parametrize("right_offload", [True, False], ids=["both", "left-only"])
def test_tcp_and_udp_cross_with_offloads_on_one_or_both_sides(make_router, netns, right_offload):
    left, right = netns("ol"), netns("or")
    tag = uuid.uuid4().hex[:8]
    r = make_router(f"a :: KernelTap(10.79.0.1/24, NETNS {left}, DEVNAME oa{tag}, OFFLOAD true);"
                    f"b :: KernelTap(10.79.0.2/24, NETNS {right}, DEVNAME ob{tag}, "
                    f"OFFLOAD {str(right_offload).lower()});"
                    "a -> b; b -> a;")
    assert r.pool.slot_size == GSO_SLOT_SIZE         # the router sized its pool for super-frames
    with running(r):
        tcp = _iperf(left, right, "10.79.0.2")["end"]["sum_received"]
        back = _iperf(left, right, "10.79.0.2", "-R")["end"]["sum_received"]
        udp = _iperf(left, right, "10.79.0.2", "-u", "-b", "20M", "-l", "1400")["end"]["sum"]
    a, b = r.element("a"), r.element("b")
    assert tcp["bytes"] > 5_000_000 and back["bytes"] > 5_000_000
    assert udp["packets"] > 1000 and udp["lost_percent"] < 5, udp
    assert int(a.read("gso_count")) > 0         # the left kernel sent super-frames
    if right_offload:
        assert int(b.read("gso_count")) > 0
    else:                                       # cut into segments on the way out
        assert int(b.read("gso_count")) == 0
        assert int(b.read("tx_count")) > int(a.read("count"))
    assert a.read("drops") == b.read("drops") == "0"
    assert r.pool.n_used == 0


@pytest.mark.parametrize("right_offload", [True, False], ids=["both", "left-only"])
def test_tun_devices_with_offloads_route_tcp(make_router, netns, right_offload):
    """KernelTun OFFLOAD: IP super-frames with no Ethernet header (the network
    header is where the frame starts) between two routed namespaces."""
    left, right = netns("ul"), netns("ur")
    tag = uuid.uuid4().hex[:8]
    r = make_router(f"a :: KernelTun(10.81.1.1/24, 10.81.1.254, NETNS {left}, DEVNAME ua{tag}, "
                    "OFFLOAD true);"
                    f"b :: KernelTun(10.81.2.1/24, 10.81.2.254, NETNS {right}, DEVNAME ub{tag}, "
                    f"OFFLOAD {str(right_offload).lower()});"
                    "a[0] -> b; b[0] -> a; a[1] -> Discard; b[1] -> Discard;")
    with running(r):
        tcp = _iperf(left, right, "10.81.2.1")["end"]["sum_received"]
    a, b = r.element("a"), r.element("b")
    assert tcp["bytes"] > 5_000_000
    assert int(a.read("gso_count")) > 0
    if not right_offload:
        assert int(b.read("tx_count")) > int(a.read("count"))
    assert a.read("drops") == b.read("drops") == "0"
    assert r.pool.n_used == 0
