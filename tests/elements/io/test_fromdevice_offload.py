"""FromDevice/ToDevice OFFLOAD: TCP super-frames across AF_PACKET rings, whole.

Two host namespaces hang off a middle one by veth pairs (TSO on, as veths
come); in the middle, FromDevice/ToDevice pairs bridge the two veth ends.
With OFFLOAD, the hosts' TCP crosses as 64 KB super-frames; with a sender
without it, ToDevice segments them in software first.
"""
import shutil
import time
import uuid

import pytest

from vforward import netns as ns
from vforward.cext import afpacket, afpacket_reference
from vforward.elements.io import packetsocket
from vforward.packet import GSO_SLOT_SIZE, PacketPool

pytestmark = pytest.mark.skipif(shutil.which("iperf3") is None, reason="needs iperf3")


@pytest.fixture
def hosts(netns):
    """(left, right, mid, mid_a, mid_b): hosts 10.82.0.1 and .2 on veths into mid."""
    left, right, mid = netns("fl"), netns("fr"), netns("fm")
    tag = uuid.uuid4().hex[:6]
    ma, mb, ha, hb = f"ma{tag}", f"mb{tag}", f"ha{tag}", f"hb{tag}"
    ns.veth_pair(ha, left, ma, mid)
    ns.veth_pair(hb, right, mb, mid)
    for space, dev, addr in ((left, ha, "10.82.0.1/24"), (right, hb, "10.82.0.2/24")):
        ns.ip("addr", "add", addr, "dev", dev, netns=space)
        ns.ip("link", "set", dev, "up", netns=space)
    for dev in (ma, mb):
        ns.ip("link", "set", dev, "up", netns=mid)
    return left, right, mid, ma, mb


@pytest.mark.parametrize("tx_offload,tx_ring", [(True, True), (True, False), (False, True)],
                         ids=["offload", "offload-plain-socket", "software"])
def test_tcp_crosses_af_packet_rings_as_super_frames(make_router, hosts, tx_offload, tx_ring,
                                                     running, iperf):
    left, right, mid, ma, mb = hosts
    tx = f"OFFLOAD {str(tx_offload).lower()}, RING {str(tx_ring).lower()}"
    r = make_router(
        f"FromDevice({ma}, NETNS {mid}, PROMISC true, OFFLOAD true) -> ca :: Counter "
        f"-> ToDevice({mb}, NETNS {mid}, {tx});"
        f"FromDevice({mb}, NETNS {mid}, PROMISC true, OFFLOAD true) -> cb :: Counter "
        f"-> ToDevice({ma}, NETNS {mid}, {tx});")
    assert r.pool.slot_size == GSO_SLOT_SIZE
    with running(r):
        tcp = iperf(left, right, "10.82.0.2")["sum_received"]
        back = iperf(left, right, "10.82.0.2", "-R")["sum_received"]
    assert tcp["bytes"] > 5_000_000 and back["bytes"] > 5_000_000
    rx = [e for e in r.elements.values() if e.class_name() == "FromDevice"]
    tx = [e for e in r.elements.values() if e.class_name() == "ToDevice"]
    assert sum(int(e.read("gso_count")) for e in rx) > 0
    if tx_offload:
        assert all(e.read("drops") == "0" for e in tx)
    else:                       # cut into segments before the ring (which may overflow)
        assert sum(int(e.read("count")) for e in tx) > sum(int(e.read("count")) for e in rx)
    assert r.pool.n_used == 0


def test_ring_and_reference_keep_the_same_offload_state(hosts, iperf):
    """Both receivers of one veth end, with keep_offload, report the same frames and
    the same offload annotations for a TCP transfer."""
    left, right, mid, ma, mb = hosts
    ring = packetsocket.open_receiver(ma, mid, offload=True)
    plain = packetsocket.open_receiver(ma, mid, ring=False, offload=True)
    assert isinstance(ring.rx, afpacket.RxRing) and isinstance(plain.rx, afpacket_reference.RxSocket)
    try:
        # Bridge the hosts through the kernel of mid so that TCP flows past ma.
        ns.ip("link", "add", "br0", "type", "bridge", netns=mid)
        for dev in (ma, mb):
            ns.ip("link", "set", dev, "master", "br0", netns=mid)
        ns.ip("link", "set", "br0", "up", netns=mid)
        iperf(left, right, "10.82.0.2", "-n", "3M")
        results = []
        for rx in (ring.rx, plain.rx):
            pool = PacketPool(2048, GSO_SLOT_SIZE)
            got = []
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                batch = pool.alloc(64)
                n = rx.receive(pool, batch.idx)
                for s in batch.idx[:n]:
                    got.append((pool.packet_bytes(int(s)), int(pool.csum_start[s]),
                                int(pool.csum_offset[s]), int(pool.gso_type[s]),
                                int(pool.gso_size[s]), int(pool.nh[s])))
                batch.kill()
                if n == 0 and got:
                    break
                if n == 0:
                    time.sleep(0.01)
            results.append(got)
        assert results[0] == results[1]
        assert any(g[4] > 0 for g in results[0])        # super-frames among them
    finally:
        ring.close()
        plain.close()
