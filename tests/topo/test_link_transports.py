"""Every link transport in a real lab: h1 - r1 - r2 - h2 with the r1-r2 link
carried in process (InProcessLink, both routers in one worker), through
shared memory (ShmLink, one worker per router) or over UDP, each forced with
`transport:`.  The same checks run on each and must give the same answers:
ping, traceroute, iperf3 TCP and UDP, a delay, a cut and a restore.  TCP
crosses the in-process and shared-memory links as super-frames, seen whole
in a capture at the far router; the UDP link segments them."""
import os
import struct
import uuid

import pytest

from vforward.topo import ops
from vforward.topo.deploy import DeployError, deploy, destroy, prepare
from vforward.topo.render import netns_name, shm_region
from vforward.topo.state import load_state
from vforward.topo.validate import address_owners, ping, reach, traceroute
from tests.labtexts import line_lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")

def line(name: str, transport: str) -> str:
    return line_lab(name, r1r2=f"      transport: {transport}\n")


@pytest.fixture(scope="module", params=[("inprocess", 25), ("shm", 1), ("udp", 1)],
                ids=["inprocess", "shm", "udp"])
def lab(request, tmp_path_factory):
    name = "lk" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("links") / "line.yaml"
    transport, per_worker = request.param
    path.write_text(line(name, transport))
    deploy(str(path), nodes_per_worker=per_worker, log=lambda *a: None)
    try:
        lab = prepare(str(path))
        assert reach(lab, "h1", _h2(lab), within=20)[0]
        yield lab
    finally:
        if load_state(name) is not None:
            destroy(name)


def _h2(lab):
    return str(lab.nodes["h2"].interfaces["eth1"].address.ip)


def _transport(lab):
    return lab.links[0].transport


def _rtt_ms(out):
    import re
    m = re.search(r"= [\d.]+/([\d.]+)/", out)
    return float(m.group(1))


def test_the_forced_transport_is_the_one_configured(lab):
    text = open(os.path.join(load_state(lab.name).directory, "configs", "r1.click")).read()
    wire = next(line for line in text.splitlines() if line.startswith("eth1_wire ::"))
    assert ("InProcessLink" in wire) == (_transport(lab) == "inprocess")
    assert ("ShmLink" in wire) == (_transport(lab) == "shm")
    assert ("UDPLink" in wire) == (_transport(lab) == "udp")


def test_ping_and_traceroute_cross_the_link(lab):
    sent, got, out = ping(lab, "h1", _h2(lab), count=3, interval=0.05)
    assert got == 3, out
    owners = address_owners(lab)
    assert [owners.get(h, h) for h in traceroute(lab, "h1", _h2(lab))] == ["r1", "r2", "h2"]


def test_iperf3_tcp_and_udp_cross_the_link(lab, iperf):
    h1, h2 = netns_name(lab, "h1"), netns_name(lab, "h2")
    tcp = iperf(h1, h2, _h2(lab))
    assert tcp["sum_received"]["bytes"] > 1_000_000
    udp = iperf(h1, h2, _h2(lab), "-u", "-b", "20M")
    assert udp["sum"]["packets"] > 100 and udp["sum"]["lost_percent"] < 10


def test_a_delay_on_the_link_shows_in_the_rtt_and_goes_away(lab):
    ops.impair(lab.name, "r1:eth1", delay="20ms")
    try:
        _, got, out = ping(lab, "h1", _h2(lab), count=3, interval=0.05)
        assert got == 3 and 20 <= _rtt_ms(out) < 200, out
    finally:
        ops.impair(lab.name, "r1:eth1", reset=True)
    _, got, out = ping(lab, "h1", _h2(lab), count=3, interval=0.05)
    assert got == 3 and _rtt_ms(out) < 20, out


def test_a_cut_link_carries_nothing_until_restored(lab):
    ops.set_link(lab.name, "r1:eth1", "down")
    try:
        assert ping(lab, "h1", _h2(lab), count=3, interval=0.05, timeout=0.3)[1] == 0
    finally:
        ops.set_link(lab.name, "r1:eth1", "up")
    assert reach(lab, "h1", _h2(lab), within=10)[0]


def _frame_lengths(pcap: str) -> list[int]:
    """Original lengths of the frames of a pcap (read with tcpdump's format: the
    classic pcap record header)."""
    with open(pcap, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    order = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    out, pos = [], 24
    while pos + 16 <= len(data):
        _, _, incl, orig = struct.unpack(order + "IIII", data[pos:pos + 16])
        out.append(orig)
        pos += 16 + incl
    return out


def test_tcp_crosses_in_process_and_shm_links_as_super_frames_and_udp_as_segments(lab, iperf, tmp_path):
    import subprocess
    import threading
    pcap = tmp_path / "r2.pcap"
    t = threading.Thread(target=ops.capture, args=(lab.name, "r2:eth1", str(pcap)),
                         kwargs={"duration": 2.0})
    t.start()
    try:
        iperf(netns_name(lab, "h1"), netns_name(lab, "h2"), _h2(lab), "-t", "1")
    finally:
        t.join()
    if _transport(lab) == "shm":      # the region and doorbells go with the lab
        assert os.path.exists(shm_region(lab.name, 0) + ".1")
    # tcpdump reads the capture (a real pcap); the record lengths are the frames'.
    check = subprocess.run(["tcpdump", "-nn", "-r", str(pcap), "-c", "1"], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stderr
    longest = max(_frame_lengths(str(pcap)))
    if _transport(lab) in ("inprocess", "shm"):
        assert longest > 1514 * 2, f"longest frame {longest}: super-frames were cut on the way"
    else:
        assert longest <= 1514, f"a {longest}-byte frame crossed the UDP link unsegmented"


def test_a_link_forced_in_process_across_two_processes_is_refused(tmp_path):
    path = tmp_path / "split.yaml"
    path.write_text(line("lk" + uuid.uuid4().hex[:6], "inprocess"))
    with pytest.raises(DeployError, match="raise --nodes-per-process"):
        deploy(str(path), nodes_per_worker=1, log=lambda *a: None)


def test_destroy_removes_the_shared_regions(tmp_path):
    name = "lk" + uuid.uuid4().hex[:6]
    path = tmp_path / "line.yaml"
    path.write_text(line(name, "shm"))
    deploy(str(path), nodes_per_worker=1, log=lambda *a: None)
    try:
        assert os.path.exists(shm_region(name, 0))
    finally:
        destroy(name)
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(f"vforward-{name}-")]


# only a shared-memory ring fills while its far process is stopped
@pytest.mark.parametrize("lab", [("shm", 1)], indirect=True)
def test_a_full_ring_drops_like_a_nic_queue_and_lab_stats_show_it(lab):
    """The far router stopped: the shared-memory ring toward it fills, and the
    frames that find it full are dropped, counted, and shown in `lab stats`."""
    import signal
    import subprocess
    from vforward.topo.supervise import current_workers
    assert _transport(lab) == "shm"

    def wire_drops():
        row = {r["interface"]: r for r in ops.stats(lab.name)}["r1:eth1"]
        assert row["drops"] >= row["wire_drops"]
        return row["wire_drops"]

    before = wire_drops()
    r2 = next(int(w["pid"]) for w in current_workers(load_state(lab.name)) if "r2" in w["nodes"])
    blast = ("import socket, time; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
             "for i in range(1500):\n"
             f"    s.sendto(b'x' * 20, ('{_h2(lab)}', 9))\n"
             "    i % 50 or time.sleep(0.005)\n")
    os.kill(r2, signal.SIGSTOP)
    try:
        subprocess.run(["ip", "netns", "exec", netns_name(lab, "h1"), "python3", "-c", blast],
                       check=True, timeout=30)
    finally:
        os.kill(r2, signal.SIGCONT)
    assert wire_drops() - before >= 500      # 1500 sent, the ring holds 256
    assert reach(lab, "h1", _h2(lab), within=10)[0]


def _long_line(name: str, routers: int) -> str:
    nodes = "".join(f"    r{i}: {{}}\n" for i in range(1, routers + 1))
    links = "".join(f'    - endpoints: ["r{i}:eth2", "r{i + 1}:eth1"]\n' for i in range(1, routers))
    return (f"name: {name}\ntopology:\n  nodes:\n{nodes}    h1: {{kind: host}}\n"
            f"    h2: {{kind: host}}\n  links:\n{links}"
            f'    - endpoints: ["h1:eth1", "r1:eth1"]\n'
            f'    - endpoints: ["h2:eth1", "r{routers}:eth2"]\n')


def test_a_long_line_of_routers_in_one_process_forwards_and_counts_every_hop(tmp_path, iperf):
    """Twelve routers in one worker: a packet crosses eleven in-process links
    within one call of the loop (never deeper than one hop): ping, traceroute
    and UDP arrive, what one end of each link sends the other receives, and
    TCP reaches the last router as super-frames."""
    routers = 12
    name = "lk" + uuid.uuid4().hex[:6]
    path = tmp_path / "long.yaml"
    path.write_text(_long_line(name, routers))
    deploy(str(path), nodes_per_worker=25, cpus=1, log=lambda *a: None)
    try:
        lab = prepare(str(path))
        assert len(load_state(name).workers) == 1
        h2 = _h2(lab)
        assert reach(lab, "h1", h2, within=20)[0]
        owners = address_owners(lab)
        assert ([owners.get(h, h) for h in traceroute(lab, "h1", h2)]
                == [f"r{i}" for i in range(1, routers + 1)] + ["h2"])
        udp = iperf(netns_name(lab, "h1"), netns_name(lab, "h2"), h2, "-u", "-b", "10M")
        assert udp["sum"]["packets"] > 100 and udp["sum"]["lost_percent"] < 10
        rows = {r["interface"]: r for r in ops.stats(name)}
        for i in range(1, routers):
            out, into = rows[f"r{i}:eth2"], rows[f"r{i + 1}:eth1"]
            assert out["tx_packets"] - out["wire_drops"] == into["rx_packets"], (out, into)
            assert out["tx_packets"] >= udp["sum"]["packets"] and out["wire_drops"] == 0
        import threading
        pcap = tmp_path / "last.pcap"
        t = threading.Thread(target=ops.capture, args=(name, f"r{routers}:eth1", str(pcap)),
                             kwargs={"duration": 2.0})
        t.start()
        try:
            iperf(netns_name(lab, "h1"), netns_name(lab, "h2"), h2, "-t", "1")
        finally:
            t.join()
        longest = max(_frame_lengths(str(pcap)))
        assert longest > 1514 * 2, f"longest frame {longest}: super-frames were cut on the way"
    finally:
        if load_state(name) is not None:
            destroy(name)
