"""The loads: a trafgen flood (pps), iperf3 UDP and TCP, ping (RTT)."""
from __future__ import annotations

import json
import re
import socket
import statistics
import struct
import subprocess
import time

from vforward import kernels
from vforward import netns as ns
from vforward.bench.forward.testbed import (ETH1, FRAME_SIZE, GEN_CPU, HOST1, HOST2, HOST_ETH1,
                                            SINK_PORT, UDP_PAYLOAD, BenchError, Testbed,
                                            link_stats, stop_group)
from vforward.packet import PacketPool


def udp_frame(size: int = FRAME_SIZE) -> bytes:
    """The flood's frame: Ethernet to the router's MAC, IPv4 src -> dst host (TTL 64),
    UDP to SINK_PORT with checksum 0 (none), zero payload; `size` bytes without FCS."""
    payload = bytes(size - 14 - 20 - 8)
    udp = struct.pack("!HHHH", 4000, SINK_PORT, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton(HOST1), socket.inet_aton(HOST2))
    mac = lambda m: bytes.fromhex(m.replace(":", ""))   # noqa: E731
    pool = PacketPool(1)
    batch = pool.from_bytes([mac(ETH1) + mac(HOST_ETH1) + b"\x08\x00" + ip + udp])
    pool.nh[batch.idx] = pool.off[batch.idx] + 14
    kernels.load("ipheader").set_ip_checksum(pool, batch.idx)   # SetIPChecksum's kernel
    return batch.to_bytes()[0]


def measure_pps(bed: Testbed, conf: str, warmup: float, seconds: float) -> tuple[float, float]:
    """(packets/s dst received, packets/s trafgen offered) of the flood.  What src's
    device took or dropped for a full queue (tx packets + tx dropped) is what was offered."""
    gen = ns.popen(bed.src, *bed.pinned(GEN_CPU), "trafgen", "-o", bed.src_dev,
                   "-i", conf, "-P", "1", "-S", "256KiB", "--no-sock-mem", "--notouch-irq",
                   "--no-cpu-stats", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                   start_new_session=True)
    try:
        time.sleep(warmup)
        if gen.poll() is not None:
            raise BenchError(f"trafgen exited: {gen.stderr.read().decode().strip()}")
        r0, s0, t0 = link_stats(bed.dst, bed.dst_dev), link_stats(bed.src, bed.src_dev), \
            time.monotonic()
        time.sleep(seconds)
        r1, s1, t1 = link_stats(bed.dst, bed.dst_dev), link_stats(bed.src, bed.src_dev), \
            time.monotonic()
    finally:
        stop_group(gen)
        gen.stderr.close()
    dt = t1 - t0
    return ((r1["rx"]["packets"] - r0["rx"]["packets"]) / dt,
            (s1["tx"]["packets"] + s1["tx"]["dropped"]
             - s0["tx"]["packets"] - s0["tx"]["dropped"]) / dt)


def measure_iperf(bed: Testbed, seconds: float, udp: bool) -> dict:
    """The iperf3 server's (receiver's) JSON for one test src -> dst."""
    port = bed.next_port()
    server = ns.popen(bed.dst, *bed.pinned(GEN_CPU), "iperf3", "-s", "-1", "-J",
                      "-B", HOST2, "-p", str(port),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 5
        while not ns.run(bed.dst, "ss", "-ltnH", f"sport = :{port}", check=False).stdout.strip():
            if time.monotonic() > deadline or server.poll() is not None:
                raise BenchError(f"iperf3 server did not start: {server.stderr.read()}")
            time.sleep(0.02)
        cmd = [*bed.pinned(GEN_CPU), "iperf3", "-c", HOST2, "-p", str(port),
               "-t", f"{seconds:g}", "-J", "--connect-timeout", "3000"]
        if udp:
            cmd += ["-u", "-b", "0", "-l", str(UDP_PAYLOAD)]
        rx0 = link_stats(bed.dst, bed.dst_dev)["rx"]["bytes"]
        client = ns.run(bed.src, *cmd, check=False, timeout=seconds + 30)
        rx1 = link_stats(bed.dst, bed.dst_dev)["rx"]["bytes"]
        if client.returncode != 0:
            raise BenchError(f"iperf3 client failed: {(client.stdout + client.stderr)[-400:]}")
        out, err = server.communicate(timeout=15)
        if server.returncode != 0:
            raise BenchError(f"iperf3 server failed: {(err or out)[-400:]}")
        result = json.loads(out)
        # What the forwarder handed dst's device (Ethernet frames), whether or not the
        # iperf3 server then kept up with it.
        result["delivered_mbps"] = (rx1 - rx0) * 8 / 1e6 / seconds
        return result
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()


def measure_rtt(bed: Testbed, count: int) -> float:
    p = ns.run(bed.src, *bed.pinned(GEN_CPU), "ping", "-n", "-c", str(count),
               "-i", "0.05", "-W", "1", HOST2, check=False, timeout=count + 10)
    times = [float(t) for t in re.findall(r"time=([\d.]+) ms", p.stdout)]
    if not times:
        raise BenchError(f"no ping replies:\n{p.stdout}")
    return statistics.median(times)
