"""Benchmark of the IPv4 header kernels against their plain-Python references.

    python bench/bench_ipheader.py [--batch 256] [--payload 18] [--proto udp|tcp] [--runs 5]

Prints nanoseconds per packet for each kernel in cext/ipheader.pyx and its
twin in cext/ipheader_reference.py, one call per batch, on a batch of valid
Ethernet + IPv4 + UDP/TCP packets (the IP header at offset 14, nh and lengths
already set as CheckIPHeader leaves them).  Each figure is the median over
--runs runs of the mean over many calls; the pool is restored between runs
so that DecIPTTL never runs out of TTL.
"""
import argparse
import os
import socket
import statistics
import sys
import time

import dpkt
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from vforward.cext import ipheader as kern  # noqa: E402
from vforward.cext import ipheader_reference as ref  # noqa: E402
from vforward.packet import PacketPool  # noqa: E402

ETHER = bytes.fromhex("0200000000010200000000020800")


def frames(n, payload, proto):
    out = []
    for i in range(n):
        data = bytes((i + k) & 0xFF for k in range(payload))
        if proto == "tcp":
            seg = dpkt.tcp.TCP(sport=40000 + i, dport=80, seq=i, data=data)
        else:
            seg = dpkt.udp.UDP(sport=40000 + i, dport=53, ulen=8 + payload, data=data)
        ip = dpkt.ip.IP(src=socket.inet_aton("10.0.0.1"),
                        dst=socket.inet_aton(f"10.{i >> 8 & 255}.{i & 255}.2"),
                        ttl=255, p=6 if proto == "tcp" else 17, id=i, data=seg)
        out.append(ETHER + bytes(ip))
    return out


def cases(batch):
    out = np.zeros(batch, np.uint8)
    return {
        "check_ip_header": lambda m, p, idx: m.check_ip_header(p, idx, 14, True, out),
        "dec_ip_ttl": lambda m, p, idx: m.dec_ip_ttl(p, idx, out),
        "set_ip_checksum": lambda m, p, idx: m.set_ip_checksum(p, idx),
        "ip_dst_to_anno": lambda m, p, idx: m.ip_dst_to_anno(p, idx),
        "get_ip_address": lambda m, p, idx: m.get_ip_address(p, idx, 30, p.dst_ip),
        "icmp_echo_reply": lambda m, p, idx: m.icmp_echo_reply(p, idx, out),
        "udp_tcp_checksum_ok": lambda m, p, idx: m.udp_tcp_checksum_ok(p, idx, out),
        "set_transport_checksum": lambda m, p, idx: m.set_transport_checksum(p, idx),
    }


def ns_per_packet(fn, module, pool, idx, pristine, calls, runs):
    results = []
    for _ in range(runs):
        pool.data[:] = pristine
        fn(module, pool, idx)                      # warm up
        t0 = time.perf_counter_ns()
        for _ in range(calls):
            fn(module, pool, idx)
        results.append((time.perf_counter_ns() - t0) / (calls * len(idx)))
    return statistics.median(results)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--payload", type=int, default=18, help="TCP/UDP payload bytes")
    ap.add_argument("--proto", choices=("udp", "tcp"), default="udp")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    pool = PacketPool(args.batch * 2)
    idx = pool.from_bytes(frames(args.batch, args.payload, args.proto)).idx
    # a batch in the order a pool hands slots out after some churn
    idx = np.random.default_rng(1).permutation(idx).astype(np.uint32)
    good = kern.check_ip_header(pool, idx, 14, True, np.zeros(len(idx), np.uint8))
    assert good == len(idx), "benchmark packets must all be valid"
    pristine = pool.data.copy()

    size = len(ETHER) + 20 + (20 if args.proto == "tcp" else 8) + args.payload
    print(f"batch {args.batch}, {args.proto.upper()} frames of {size} bytes, "
          f"median of {args.runs} runs")
    print(f"{'kernel':<24}{'compiled ns/pkt':>16}{'reference ns/pkt':>18}{'speed-up':>10}")
    for name, fn in cases(args.batch).items():
        k = ns_per_packet(fn, kern, pool, idx, pristine, calls=200, runs=args.runs)
        r = ns_per_packet(fn, ref, pool, idx, pristine, calls=2, runs=args.runs)
        print(f"{name:<24}{k:>16.1f}{r:>18.0f}{r / k:>9.0f}x")


if __name__ == "__main__":
    main()
