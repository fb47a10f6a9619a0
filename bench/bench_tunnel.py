"""Node-to-node tunnel forwarding: vforward's UDP link and VXLAN against the kernel's VXLAN.

Two namespaces, `a` and `b`, are two virtual nodes joined by a veth pair
(the underlay, 192.168.90.1 <-> 192.168.90.2, and 2001:db8:90::1 <->
2001:db8:90::2).  Over it run four tunnels at once, each with its own
overlay subnet:

  kernel-vxlan     Linux VXLAN devices in a and b (VNI 90, port 4789),
                   10.90.1.0/24: the kernel forwards, no user space
  vforward-link    a vforward router per node: KernelTap <-> EtherLinkEncap/
                   Decap <-> Socket(UDP) on the underlay, 10.90.2.0/24
  vforward-vxlan   the same routers' graphs with VXLANEncap/Decap (VNI 91,
                   port 8472, since the kernel devices hold 4789), 10.90.3.0/24
  vforward-link6   vforward-link over the IPv6 underlay, 10.90.4.0/24: the
                   IPv4 and IPv6 underlays side by side (a last line gives
                   link6 / link)
  underlay, underlay6   no tunnel: the same traffic straight over the
                   underlay's IPv4 and IPv6 addresses, what the kernel's own
                   UDP and TCP cost per family; their ratio is the ceiling
                   for link6 / link

For each tunnel, in interleaved rounds, it measures
  - packets/s: a sender in a floods 64-byte frames (UDP to port 9 in b,
    sendmmsg of 256 at a time, as fast as the kernel takes them) for S
    seconds; a receiver in b counts what arrives (recvmmsg);
  - iperf3 TCP Mbit/s from a to b for S seconds;
and prints the medians and their ratios to the kernel's VXLAN in one table.

    python bench/bench_tunnel.py [--seconds S] [--repeat R] [--no-offload] [--json out.json]
                                 [--only TUNNEL,...]

Needs root and iperf3.  On a small machine the senders, receivers, routers
and softirqs share the same CPUs: compare the tunnels to each other.
"""
from __future__ import annotations

import argparse
import json
import os
import select
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid

from vforward import netns as ns

UNDERLAY = ("192.168.90.1", "192.168.90.2")
UNDERLAY6 = ("2001:db8:90::1", "2001:db8:90::2")
TUNNELS = {
    "kernel-vxlan": ("10.90.1.1", "10.90.1.2"),
    "vforward-link": ("10.90.2.1", "10.90.2.2"),
    "vforward-vxlan": ("10.90.3.1", "10.90.3.2"),
    "vforward-link6": ("10.90.4.1", "10.90.4.2"),
    "underlay": UNDERLAY,
    "underlay6": UNDERLAY6,
}
LINK_PORT, VXLAN_PORT, KERNEL_VXLAN_PORT, LINK6_PORT = 7000, 8472, 4789, 7006
SINK_PORT = 9
FRAME = 64                       # Ethernet frame size without FCS... with FCS: 60 + 4
PAYLOAD = FRAME - 4 - 14 - 20 - 8


def router_config(node: str, me: int, offload: str = "") -> str:
    """One node's vforward router: a TAP per tunnel, both on the underlay."""
    here, there = UNDERLAY[me], UNDERLAY[1 - me]
    link_ip = TUNNELS["vforward-link"][me]
    vx_ip = TUNNELS["vforward-vxlan"][me]
    here6, there6 = UNDERLAY6[me], UNDERLAY6[1 - me]
    link6_ip = TUNNELS["vforward-link6"][me]
    return f"""
        lt :: KernelTap({link_ip}/24, NETNS {node}, MTU 1400);
        lu :: Socket(UDP, {there}, {LINK_PORT}, {here}, {LINK_PORT}, NETNS {node},
                     RCVBUF 8388608, SNDBUF 8388608{offload});
        lt -> EtherLinkEncap(0x5646) -> lu;
        lu -> EtherLinkDecap(0x5646, PEER {there}:{LINK_PORT}) -> lt;

        vt :: KernelTap({vx_ip}/24, NETNS {node}, MTU 1400);
        vu :: Socket(UDP, {there}, {VXLAN_PORT}, {here}, {VXLAN_PORT}, NETNS {node},
                     RCVBUF 8388608, SNDBUF 8388608{offload});
        vt -> VXLANEncap(91) -> vu;
        vu -> VXLANDecap(91) -> vt;

        l6t :: KernelTap({link6_ip}/24, NETNS {node}, MTU 1400);
        l6u :: Socket(UDP, {there6}, {LINK6_PORT}, {here6}, {LINK6_PORT}, NETNS {node},
                      RCVBUF 8388608, SNDBUF 8388608{offload});
        l6t -> EtherLinkEncap(0x5647) -> l6u;
        l6u -> EtherLinkDecap(0x5647, PEER [{there6}]:{LINK6_PORT}) -> l6t;
    """


def setup(a: str, b: str, offload: str = "") -> list[subprocess.Popen]:
    tag = uuid.uuid4().hex[:6]
    ua, ub = f"ua{tag}", f"ub{tag}"
    ns.veth_pair(ua, a, ub, b)
    for node, dev, addr, addr6 in ((a, ua, UNDERLAY[0], UNDERLAY6[0]),
                                   (b, ub, UNDERLAY[1], UNDERLAY6[1])):
        ns.ip("addr", "add", f"{addr}/24", "dev", dev, netns=node)
        ns.ip("addr", "add", f"{addr6}/64", "dev", dev, "nodad", netns=node)
    for me, node in enumerate((a, b)):
        vx = f"kvx{tag}"
        ns.ip("link", "add", vx, "type", "vxlan", "id", "90", "remote", UNDERLAY[1 - me],
              "local", UNDERLAY[me], "dstport", str(KERNEL_VXLAN_PORT), netns=node)
        ns.ip("link", "set", vx, "mtu", "1400", "up", netns=node)
        ns.ip("addr", "add", f"{TUNNELS['kernel-vxlan'][me]}/24", "dev", vx, netns=node)
    routers = []
    for me, node in enumerate((a, b)):
        routers.append(subprocess.Popen(
            [sys.executable, "-m", "vforward", "run", "-q", "--pool-slots", "16384",
             "-e", router_config(node, me, offload)], stdout=subprocess.DEVNULL))
    time.sleep(1.5)
    for r in routers:
        if r.poll() is not None:
            raise SystemExit("a vforward router did not start; run it by hand to see why")
    # ARP across every tunnel before measuring
    for name, (_, far) in TUNNELS.items():
        if name.startswith("underlay"):
            continue
        ns.run(a, "ping", "-c", "2", "-i", "0.1", "-W", "2", far, check=False)
    return routers


# -- the traffic programs (run inside the namespaces) -------------------------------

def _family(addr: str) -> int:
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def _send(dst: str, seconds: float) -> None:
    from vforward.cext import udpio
    from vforward.packet import PacketPool
    pool = PacketPool(512)
    batch = pool.from_bytes([b"\x00" * PAYLOAD] * 256)
    s = socket.socket(_family(dst), socket.SOCK_DGRAM)
    s.connect((dst, SINK_PORT))
    s.setblocking(False)
    fd, idx = s.fileno(), batch.idx
    sent, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        n, err = udpio.send_burst(fd, pool, idx, 0, 0, False, 0)
        sent += n
        if err:
            select.select([], [s], [], 0.01)
    print(sent)


def _receive(addr: str, seconds: float) -> None:
    from vforward.cext import udpio
    from vforward.packet import PacketPool
    pool = PacketPool(2048)
    s = socket.socket(_family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)      # SO_RCVBUFFORCE
    give_up = time.monotonic() + 20        # a loaded machine may still be raising the TAP
    while True:
        try:
            s.bind((addr, SINK_PORT))
            break
        except OSError:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.2)
    s.setblocking(False)
    print("ready", flush=True)
    got, first, last = 0, None, None
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not select.select([s], [], [], 0.05)[0]:
            continue
        idx, _ = udpio.recv_burst(s.fileno(), pool, 512)
        if len(idx):
            now = time.monotonic()
            first = first or now
            last = now
            got += len(idx)
            pool.free(idx)
    span = (last - first) if first and last and last > first else 0
    print(json.dumps({"packets": got, "span": span}))


def measure_pps(a: str, b: str, tunnel: str, seconds: float) -> float:
    near, far = TUNNELS[tunnel]
    me = [sys.executable, os.path.abspath(__file__)]
    rx = ns.popen(b, *me, "_receive", far, str(seconds + 2), stdout=subprocess.PIPE, text=True)
    assert rx.stdout.readline().strip() == "ready"
    tx = ns.popen(a, *me, "_send", far, str(seconds), stdout=subprocess.PIPE, text=True)
    tx.communicate(timeout=seconds + 30)
    out, _ = rx.communicate(timeout=seconds + 30)
    result = json.loads(out.strip().splitlines()[-1])
    return result["packets"] / result["span"] if result["span"] else 0.0


def measure_tcp(a: str, b: str, tunnel: str, seconds: float) -> float:
    near, far = TUNNELS[tunnel]
    server = ns.popen(b, "iperf3", "-s", "-1", "-B", far, stdout=subprocess.DEVNULL,
                      stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.3)
        c = ns.run(a, "iperf3", "-c", far, "-t", str(seconds), "-J", check=False,
                   timeout=seconds + 30)
        if c.returncode != 0:
            return 0.0
        return json.loads(c.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
    finally:
        server.kill()
        server.wait()


def _ratio(top: list[float], bottom: list[float]) -> float:
    return statistics.median(top) / (statistics.median(bottom) or 1)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] in ("_send", "_receive"):
        {"_send": _send, "_receive": _receive}[sys.argv[1]](sys.argv[2], float(sys.argv[3]))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--json", help="write the raw figures here")
    p.add_argument("--only", help="comma-separated tunnels to measure (default: all)")
    p.add_argument("--no-offload", action="store_true",
                   help="vforward's sockets without UDP GSO and GRO")
    args = p.parse_args()
    tunnels = args.only.split(",") if args.only else list(TUNNELS)
    unknown = [t for t in tunnels if t not in TUNNELS]
    if unknown:
        raise SystemExit(f"unknown tunnel {unknown[0]!r}; the tunnels are {', '.join(TUNNELS)}")
    if os.geteuid() != 0 or not shutil.which("iperf3"):
        raise SystemExit("needs root and iperf3")
    tag = uuid.uuid4().hex[:6]
    a, b = f"bta{tag}", f"btb{tag}"
    ns.create(a)
    ns.create(b)
    routers = []
    raw = {t: {"pps": [], "mbps": []} for t in tunnels}
    try:
        routers = setup(a, b, ", GSO false, GRO false" if args.no_offload else "")
        for rnd in range(args.repeat):
            for t in tunnels:
                raw[t]["pps"].append(measure_pps(a, b, t, args.seconds))
                raw[t]["mbps"].append(measure_tcp(a, b, t, args.seconds))
                print(f"round {rnd + 1} {t:15s} {raw[t]['pps'][-1]:>12,.0f} pps "
                      f"{raw[t]['mbps'][-1]:>9,.0f} Mbit/s", file=sys.stderr)
    finally:
        for r in routers:
            r.terminate()
            r.wait(10)
        ns.delete(a)
        ns.delete(b)
    base = "kernel-vxlan" if "kernel-vxlan" in raw else tunnels[0]
    base_pps = statistics.median(raw[base]["pps"]) or 1
    base_mbps = statistics.median(raw[base]["mbps"]) or 1
    print(f"{'tunnel':16s} {'64B pps':>12s} {'x ' + base:>9s} {'TCP Mbit/s':>11s} "
          f"{'x ' + base:>9s}")
    for t in tunnels:
        pps = statistics.median(raw[t]["pps"])
        mbps = statistics.median(raw[t]["mbps"])
        print(f"{t:16s} {pps:>12,.0f} {pps / base_pps:>9.2f} {mbps:>11,.0f} "
              f"{mbps / base_mbps:>9.2f}")
    for what, v4, v6 in (("link6 / link", "vforward-link", "vforward-link6"),
                         ("the kernel's own, underlay6 / underlay", "underlay", "underlay6")):
        if v4 in raw and v6 in raw:
            print(f"IPv6 / IPv4 underlay ({what}): 64B pps "
                  f"{_ratio(raw[v6]['pps'], raw[v4]['pps']):.2f}, "
                  f"TCP {_ratio(raw[v6]['mbps'], raw[v4]['mbps']):.2f}")
    print(f"(medians of {args.repeat} interleaved rounds of {args.seconds:g} s; "
          f"{os.cpu_count()} CPUs shared by senders, receivers, routers and softirqs)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f, indent=2)


if __name__ == "__main__":
    main()
