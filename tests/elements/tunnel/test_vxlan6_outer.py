"""VXLANEncap's own outer header over IPv6 (SRC/DST IPv6 addresses): vforward
writes whole IPv6/UDP/VXLAN packets onto a veth with ToDevice, and a Linux
VXLAN device with IPv6 local and remote addresses (default settings: it
drops zero UDP checksums over IPv6) accepts them; pings cross both ways."""
import shutil
import subprocess

import pytest

from vforward import netns as ns
from vforward.graph import GraphError

from tests.elements.tunnel.test_vxlan import ping_both_ways
from tests.elements.tunnel.test_vxlan6 import linux_vxlan_over_ipv6


def test_ipv6_outer_headers_reach_a_linux_vxlan_device(make_router, netns, tmp_path, running):
    a, b = netns("v6oa"), netns("v6ob")
    mac_a, mac_b = "02:00:00:00:88:0a", "02:00:00:00:88:0b"
    va, vb, tap = linux_vxlan_over_ipv6(a, b, 88, (mac_a, mac_b))
    r = make_router(
        f"vx :: Socket(UDP, 2001:db8:88::1, 4789, 2001:db8:88::2, 4789, NETNS {b});"
        f"tap :: KernelTap(10.88.0.2/24, NETNS {b}, DEVNAME {tap}, MTU 1400, "
        "ETHER 02:00:00:00:88:02);"
        "vx -> dec :: VXLANDecap(42) -> tap;"
        "tap -> enc :: VXLANEncap(42, SRC 2001:db8:88::2, DST 2001:db8:88::1)"
        f" -> EtherEncap(0x86DD, {mac_b}, {mac_a}) -> ToDevice({vb}, NETNS {b});")
    cap = tmp_path / "vx6.pcap"
    dump = ns.popen(a, "tcpdump", "-i", va, "-n", "-U", "-w", str(cap), "-c", "3",
                    "ip6 and udp dst port 4789 and src host 2001:db8:88::2",
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with running(r):
        ping_both_ways(a, b, 88, dump)
        assert int(r.element("enc").read("count")) >= 3
    if shutil.which("tshark"):
        t = subprocess.run(["tshark", "-r", str(cap), "-o", "udp.check_checksum:TRUE", "-Y",
                            "vxlan.vni == 42", "-T", "fields", "-e", "ipv6.dst",
                            "-e", "udp.checksum.status", "-E", "occurrence=f"],
                           capture_output=True, text=True, timeout=60)
        rows = [row.split("\t") for row in t.stdout.splitlines() if row.strip()]
        assert len(rows) >= 3 and all(row == ["2001:db8:88::1", "1"] for row in rows), \
            t.stdout + t.stderr


@pytest.mark.parametrize("config, words", [
    ("VXLANEncap(1, SRC 2001:db8::1, DST 192.0.2.1)", ["IPv6", "IPv4", "one family"]),
    ("VXLANEncap(1, SRC 2001:db8::1, DST 2001:db8::2, DF true)", ["DF", "remove DF"]),
])
def test_ipv6_outer_header_arguments_are_checked(make_router, config, words):
    with pytest.raises(GraphError) as e:
        make_router(f"InfiniteSource(LIMIT 1) -> {config} -> Discard")
    assert all(w in str(e.value) for w in words)
