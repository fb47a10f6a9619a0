"""VXLAN over an IPv6 underlay: vforward (VXLANDecap/VXLANEncap on an IPv6
Socket) and a Linux VXLAN device with IPv6 local and remote addresses
exchange pings; tshark reads the outer IPv6 source (the first; an inner
frame may be IPv6 too) and the VNI."""
import shutil
import subprocess
import uuid

from vforward import netns as ns

from tests.elements.tunnel.test_vxlan import ping_both_ways, tx_checksum_off


def test_vforward_and_a_linux_vxlan_device_exchange_ping_over_ipv6(make_router, netns, tmp_path,
                                                                   running):
    a, b = netns("v6a"), netns("v6b")
    va, vb, tap = linux_vxlan_over_ipv6(a, b, 87)
    r = make_router(
        f"vx :: Socket(UDP, 2001:db8:87::1, 4789, 2001:db8:87::2, 4789, NETNS {b});"
        f"tap :: KernelTap(10.87.0.2/24, NETNS {b}, DEVNAME {tap}, MTU 1430, "
        "ETHER 02:00:00:00:87:02);"
        "vx -> dec :: VXLANDecap(42) -> tap;"
        "tap -> enc :: VXLANEncap(42) -> vx;")
    cap = tmp_path / "vx6.pcap"
    dump = ns.popen(a, "tcpdump", "-i", va, "-n", "-U", "-w", str(cap), "-c", "4",
                    "ip6 and udp and src host 2001:db8:87::2", stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    with running(r):
        assert r.element("vx").read("local") == "[2001:db8:87::2]:4789"
        ping_both_ways(a, b, 87, dump)
    assert r.element("dec").read("drops") == "0"
    if shutil.which("tshark"):
        t = subprocess.run(["tshark", "-r", str(cap), "-Y", "vxlan.vni == 42", "-T", "fields",
                            "-e", "ipv6.src", "-e", "vxlan.vni", "-E", "occurrence=f"],
                           capture_output=True, text=True, timeout=60)
        rows = [row.split("\t") for row in t.stdout.splitlines() if row.strip()]
        assert len(rows) >= 3 and all(row == ["2001:db8:87::2", "42"] for row in rows), \
            t.stdout + t.stderr


def linux_vxlan_over_ipv6(a: str, b: str, n: int, macs: tuple = ()) -> tuple[str, str, str]:
    """A veth pair between namespaces a and b on 2001:db8:N::/64 (a is ::1, b ::2;
    `macs` sets their Ethernet addresses) and, in a, a Linux VXLAN device with
    VNI 42 towards b carrying 10.N.0.1/24.  Returns the veth in a, the veth in
    b and a free TAP name for b's side."""
    tag = uuid.uuid4().hex[:6]
    va, vb, vx, tap = f"va{tag}", f"vb{tag}", f"vx{tag}", f"vt{tag}"
    ns.veth_pair(va, a, vb, b)
    for dev, mac, where in zip((va, vb), macs, (a, b)):
        ns.ip("link", "set", dev, "address", mac, netns=where)
    ns.ip("addr", "add", f"2001:db8:{n}::1/64", "dev", va, "nodad", netns=a)
    ns.ip("addr", "add", f"2001:db8:{n}::2/64", "dev", vb, "nodad", netns=b)
    tx_checksum_off(a, va)
    ns.ip("link", "add", vx, "type", "vxlan", "id", "42", "remote", f"2001:db8:{n}::2", "local",
          f"2001:db8:{n}::1", "dstport", "4789", netns=a)
    ns.ip("link", "set", vx, "address", f"02:00:00:00:{n}:01", "up", netns=a)
    ns.ip("addr", "add", f"10.{n}.0.1/24", "dev", vx, netns=a)
    return va, vb, tap
