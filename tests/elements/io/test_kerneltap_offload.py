"""KernelTap OFFLOAD: TCP super-frames and partial checksums between real namespaces.

Two KernelTaps bridge two namespaces; the left one always has offloads, the
right one with or without.  When the right has none, every super-frame and
partial checksum from the left must be finished in software on the way
(vforward/offload.py), or TCP and UDP would stall on bad checksums.
"""
import shutil
import uuid

import pytest

from vforward.packet import GSO_SLOT_SIZE

pytestmark = pytest.mark.skipif(shutil.which("iperf3") is None, reason="needs iperf3")


@pytest.mark.parametrize("right_offload", [True, False], ids=["both", "left-only"])
def test_tcp_and_udp_cross_with_offloads_on_one_or_both_sides(make_router, netns, right_offload,
                                                              running, iperf):
    left, right = netns("ol"), netns("or")
    tag = uuid.uuid4().hex[:8]
    r = make_router(f"a :: KernelTap(10.79.0.1/24, NETNS {left}, DEVNAME oa{tag}, OFFLOAD true);"
                    f"b :: KernelTap(10.79.0.2/24, NETNS {right}, DEVNAME ob{tag}, "
                    f"OFFLOAD {str(right_offload).lower()});"
                    "a -> b; b -> a;")
    assert r.pool.slot_size == GSO_SLOT_SIZE         # the router sized its pool for super-frames
    with running(r):
        tcp = iperf(left, right, "10.79.0.2")["sum_received"]
        back = iperf(left, right, "10.79.0.2", "-R")["sum_received"]
        udp = iperf(left, right, "10.79.0.2", "-u", "-b", "20M", "-l", "1400")["sum"]
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
def test_tun_devices_with_offloads_route_tcp(make_router, netns, right_offload, running, iperf):
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
        tcp = iperf(left, right, "10.81.2.1")["sum_received"]
    a, b = r.element("a"), r.element("b")
    assert tcp["bytes"] > 5_000_000
    assert int(a.read("gso_count")) > 0
    if not right_offload:
        assert int(b.read("tx_count")) > int(a.read("count"))
    assert a.read("drops") == b.read("drops") == "0"
    assert r.pool.n_used == 0
