"""VXLANEncap/VXLANDecap: RFC 7348 headers, malformed input, and a Linux VXLAN device as peer.

The interop test puts a kernel VXLAN device in namespace A and a vforward
router in namespace B that terminates VXLAN (a Socket on port 4789) toward
a KernelTap; ping and iperf3 cross in both directions, and tshark decodes
what vforward sent as VXLAN.
"""
import shutil
import subprocess
import time
import uuid

import dpkt
import pytest

from vforward import netns as ns
from vforward.element import PUSH_ONLY, Element, HandlerError, register

INNER = dpkt.ethernet.Ethernet(
    dst=bytes.fromhex("020000000002"), src=bytes.fromhex("020000000001"), type=0x0800,
    data=dpkt.ip.IP(src=b"\x0a\0\0\x01", dst=b"\x0a\0\0\x02", p=17,
                    data=dpkt.udp.UDP(sport=1000, dport=2000, data=b"payload")))
FRAME = bytes(INNER)


def vxlan(vni, flags=0x08):
    return bytes([flags, 0, 0, 0]) + vni.to_bytes(3, "big") + b"\0"


class _Frames(Element):
    """_VXLANFrames -- test source pushing the packets a test hands it"""
    CLASS_NAME = "_VXLANFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        self.emit(0, self.router.pool.from_bytes(frames))


class _Keep(Element):
    """_VXLANKeep -- test sink keeping bytes and user annotations"""
    CLASS_NAME = "_VXLANKeep"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received, self.user, self.nh_off = [], [], []

    def push(self, port, batch):
        pool = batch.pool
        self.received += batch.to_bytes()
        self.user += pool.user[batch.idx].tolist()
        self.nh_off += (pool.nh[batch.idx] - pool.off[batch.idx]).tolist()
        batch.kill()


register(_Frames)
register(_Keep)


def _pipe(make_router, middle):
    r = make_router(f"src :: _VXLANFrames -> e :: {middle} -> k :: _VXLANKeep")
    r.initialize()
    return r, r.element("src"), r.element("e"), r.element("k")


def test_encap_prepends_the_rfc_7348_header(make_router):
    r, src, e, k = _pipe(make_router, "VXLANEncap(0xABCDEF)")
    src.send([FRAME])
    assert k.received == [bytes.fromhex("08000000abcdef00") + FRAME]
    assert e.read("vni") == str(0xABCDEF)


def test_encap_builds_whole_packets_with_flow_hashed_source_ports(make_router):
    r, src, e, k = _pipe(make_router, "VXLANEncap(42, SRC 192.168.0.1, DST 192.168.0.2)")
    frames = []
    for i in range(64):
        inner = dpkt.ethernet.Ethernet(bytes(INNER))
        inner.data.data.sport = 1000 + i
        inner.data.data.data = b"x" * i          # payload does not change the flow
        inner.data.len = len(bytes(inner.data))
        frames.append(bytes(inner))
    src.send(frames + frames[:4])
    ports = []
    for out, frame in zip(k.received, frames + frames[:4]):
        ip = dpkt.ip.IP(out)
        assert ip.src == bytes([192, 168, 0, 1]) and ip.dst == bytes([192, 168, 0, 2])
        assert ip.ttl == 64 and ip.udp.dport == 4789 and ip.udp.sum == 0
        assert bytes(ip.udp.data) == vxlan(42) + frame
        ports.append(ip.udp.sport)
    assert all(32768 <= p <= 60999 for p in ports)
    assert ports[64:] == ports[:4]                 # a flow keeps its port
    assert len(set(ports[:64])) > 40               # flows spread over the range
    assert set(k.nh_off) == {0}


def test_tshark_decodes_whole_packets_as_vxlan(make_router, tmp_path):
    if not shutil.which("tshark"):
        pytest.skip("tshark is not installed")
    r, src, e, k = _pipe(make_router, "VXLANEncap(77, SRC 10.1.0.1, DST 10.1.0.2, DPORT 8472, "
                                      "CHECKSUM true)")
    src.send([FRAME] * 3)
    path = tmp_path / "vx.pcap"
    with open(path, "wb") as f:
        w = dpkt.pcap.Writer(f, linktype=dpkt.pcap.DLT_RAW)
        for i, pkt in enumerate(k.received):
            w.writepkt(pkt, ts=1.0 + i)
    p = subprocess.run(["tshark", "-r", str(path), "-d", "udp.port==8472,vxlan", "-Y",
                        "vxlan.vni == 77 && udp.checksum.status == 1", "-o",
                        "udp.check_checksum:TRUE", "-T", "fields", "-e", "vxlan.vni",
                        "-e", "ip.dst"], capture_output=True, text=True, timeout=60)
    rows = [line for line in p.stdout.splitlines() if line.strip()]
    assert len(rows) == 3, p.stderr
    assert all(row.split("\t")[0] == "77" for row in rows)


def test_decap_counts_and_refuses_malformed_packets(make_router):
    r = make_router("src :: _VXLANFrames -> d :: VXLANDecap(42);"
                    "d[0] -> good :: _VXLANKeep; d[1] -> bad :: _VXLANKeep;")
    r.initialize()
    src, d = r.element("src"), r.element("d")
    refused = [vxlan(42)[:5], vxlan(42) + FRAME[:13], vxlan(42, flags=0) + FRAME,
               vxlan(43) + FRAME, vxlan(42 << 8) + FRAME]
    src.send(refused + [vxlan(42) + FRAME, vxlan(42, flags=0xFF) + FRAME])
    good, bad = r.element("good"), r.element("bad")
    assert good.received == [FRAME, FRAME]            # reserved bits are ignored
    assert good.user == [42, 42]
    assert bad.received == refused
    assert [d.read(h) for h in ("truncated", "bad_flags", "wrong_vni")] == ["2", "1", "2"]
    assert d.read("drops") == "5" and d.read("count") == "2"


def test_decap_of_any_vni_puts_it_in_the_user_annotation(make_router):
    r, src, d, k = _pipe(make_router, "VXLANDecap")
    src.send([vxlan(1) + FRAME, vxlan(0xFFFFFF) + FRAME])
    assert k.user == [1, 0xFFFFFF] and d.read("vni") == "any"
    d.write("vni", "5")
    src.send([vxlan(1) + FRAME])                       # no output 1: dropped
    assert d.read("wrong_vni") == "1" and r.pool.n_used == 0
    with pytest.raises(HandlerError):
        d.write("vni", str(1 << 24))


# -- interop with the kernel's VXLAN ---------------------------------------------

def tx_checksum_off(space, dev):
    """`ethtool -K dev tx off` (SIOCETHTOOL, ETHTOOL_STXCSUM) without ethtool installed.

    A kernel that sends VXLAN over a veth leaves the inner TCP checksum to
    "hardware" (CHECKSUM_PARTIAL); a user-space VXLAN end receives the UDP
    payload as it is, with the inner checksum never filled in.  A real NIC
    fills it in; on a veth the sender must compute it in software.
    """
    import ctypes
    import fcntl
    import socket
    import struct
    value = ctypes.create_string_buffer(struct.pack("=II", 0x17, 0), 8)   # ETHTOOL_STXCSUM
    ifreq = struct.pack("16sP", dev.encode(), ctypes.addressof(value)) + b"\0" * 16
    with ns.entered(space):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with s:
        fcntl.ioctl(s.fileno(), 0x8946, ifreq)                            # SIOCETHTOOL


def test_vforward_and_a_linux_vxlan_device_exchange_ping_and_tcp(make_router, netns, tmp_path,
                                                                 running, iperf):
    a, b = netns("va"), netns("vb")
    tag = uuid.uuid4().hex[:6]
    va, vb, vx, tap = f"va{tag}", f"vb{tag}", f"vx{tag}", f"vt{tag}"
    ns.veth_pair(va, a, vb, b)
    ns.ip("addr", "add", "192.168.87.1/24", "dev", va, netns=a)
    ns.ip("addr", "add", "192.168.87.2/24", "dev", vb, netns=b)
    tx_checksum_off(a, va)
    ns.ip("link", "add", vx, "type", "vxlan", "id", "42", "remote", "192.168.87.2", "local",
          "192.168.87.1", "dstport", "4789", netns=a)
    ns.ip("link", "set", vx, "address", "02:00:00:00:87:01", "up", netns=a)
    ns.ip("addr", "add", "10.87.0.1/24", "dev", vx, netns=a)
    r = make_router(
        f"vx :: Socket(UDP, 192.168.87.1, 4789, 192.168.87.2, 4789, NETNS {b}, RCVBUF 4194304);"
        f"tap :: KernelTap(10.87.0.2/24, NETNS {b}, DEVNAME {tap}, MTU 1450, "
        "ETHER 02:00:00:00:87:02);"
        "vx -> dec :: VXLANDecap(42) -> tap;"
        "tap -> enc :: VXLANEncap(42) -> vx;")
    cap = tmp_path / "vx.pcap"
    dump = ns.popen(a, "tcpdump", "-i", va, "-n", "-U", "-w", str(cap), "-c", "6",
                    "udp and src host 192.168.87.2", stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL)
    with running(r):
        ping_both_ways(a, b, 87, dump)
        if shutil.which("iperf3"):
            # vforward -> kernel VXLAN, then back
            up = iperf(b, a, "10.87.0.1", "-t", "2")["sum_received"]["bits_per_second"]
            down = iperf(b, a, "10.87.0.1", "-t", "2", "-R")["sum_received"]["bits_per_second"]
            print(f"iperf3 across vforward <-> Linux VXLAN: {up / 1e6:.0f} / "
                  f"{down / 1e6:.0f} Mbit/s")
            assert up > 1e6 and down > 1e6
    assert r.element("dec").read("drops") == "0"
    if shutil.which("tshark"):
        t = subprocess.run(["tshark", "-r", str(cap), "-Y", "vxlan.vni == 42", "-T", "fields",
                            "-e", "vxlan.vni", "-e", "eth.dst"],
                           capture_output=True, text=True, timeout=60)
        rows = [row for row in t.stdout.splitlines() if row.strip()]
        assert len(rows) >= 3, t.stdout + t.stderr


def ping_both_ways(a: str, b: str, n: int, dump) -> None:
    """Ping 10.N.0.2 from a and 10.N.0.1 from b, then let the capture `dump` end."""
    time.sleep(0.3)                            # tcpdump is listening
    for src_ns, dst in ((a, f"10.{n}.0.2"), (b, f"10.{n}.0.1")):
        p = ns.run(src_ns, "ping", "-c", "3", "-i", "0.05", "-W", "2", "-n", dst, check=False)
        assert p.returncode == 0, p.stdout + p.stderr
    try:
        dump.wait(5)
    finally:
        if dump.poll() is None:
            dump.kill()
            dump.wait()
