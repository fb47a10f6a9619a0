"""Per-element cost at batch 1 and batch 256, the small-batch view of the hot path.

Each element gets the same 64-byte IPv4/UDP Ethernet frames (ICMP echo
requests for the ICMP cases; a fresh batch each time, built outside the
timing) and the time of one push through it into a Discard is measured; the
Null element is the floor.  At batch 1 the
figure is what an idle packet pays, where a forwarding latency comes from.

    python bench/bench_elements.py [--rounds N]
"""
from __future__ import annotations

import argparse
import statistics
import time

import dpkt

from vforward.catalogue import load_builtin
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router

# name -> (graph between "src :: Idle" and the sinks, element to push into)
CASES = {
    "Null": ("src :: Idle -> e :: Null -> Discard;", "e"),
    "Counter": ("src :: Idle -> e :: Counter -> Discard;", "e"),
    "Classifier": ("src :: Idle -> e :: Classifier(12/0806 20/0001, 12/0806 20/0002, 12/0800, -);"
                   " e[0] -> Discard; e[1] -> Discard; e[2] -> Discard; e[3] -> Discard;", "e"),
    "HostEtherFilter": ("src :: Idle -> e :: HostEtherFilter(02:00:00:00:00:01) -> Discard;", "e"),
    "CheckIPHeader": ("src :: Idle -> e :: CheckIPHeader(14) -> Discard;", "e"),
    "CheckIPHeader(INTERFACES)": ("src :: Idle -> e :: CheckIPHeader(14, INTERFACES 10.1.0.1/24) "
                                  "-> Discard;", "e"),
    "GetIPAddress(30)": ("src :: Idle -> e :: GetIPAddress(30) -> Discard;", "e"),
    "RadixIPLookup": ("src :: Idle -> e :: RadixIPLookup(10.2.0.0/16 0, 0.0.0.0/0 0) -> Discard;",
                      "e"),
    "IPClassifier": ("src :: Idle -> m :: MarkIPHeader(14) -> e :: IPClassifier(dst host 10.2.0.1 "
                     "or dst net 224.0.0.0/4, -); e[0] -> Discard; e[1] -> Discard;", "e"),
    "DecIPTTL": ("src :: Idle -> m :: MarkIPHeader(14) -> e :: DecIPTTL -> Discard;", "e"),
    "IPFragmenter": ("src :: Idle -> m :: MarkIPHeader(14) -> e :: IPFragmenter(1500) -> Discard;",
                     "e"),
    "ARPQuerier (resolved)": ("src :: Idle -> m :: MarkIPHeader(14) -> Strip(14) -> e :: ARPQuerier("
                              "10.2.0.1, 02:00:00:00:00:09) -> Discard; Idle -> [1]e;", "e"),
    "LinkEmulator": ("src :: Idle -> e :: LinkEmulator -> Discard;", "e"),
    # the rest of configs/examples/router.click's ping path
    "Paint": ("src :: Idle -> e :: Paint(1) -> Discard;", "e"),
    "Strip": ("src :: Idle -> e :: Strip(14) -> Discard;", "e"),
    "CheckIPHeader(INTERFACES 2)": ("src :: Idle -> m :: Strip(14) -> e :: CheckIPHeader("
                                    "INTERFACES 10.1.0.1/24 10.2.0.1/24) -> Discard;", "e"),
    "GetIPAddress(16)": ("src :: Idle -> m :: Strip(14) -> e :: GetIPAddress(16) -> Discard;", "e"),
    "IPClassifier(icmp echo)": ("src :: Idle -> m :: MarkIPHeader(14) -> e :: IPClassifier("
                                "icmp type echo, -); e[0] -> Discard; e[1] -> Discard;", "e"),
    "ICMPPingResponder": ("src :: Idle -> m :: MarkIPHeader(14) -> e :: ICMPPingResponder "
                          "-> Discard;", "e"),
}
# Cases fed ICMP echo requests instead of UDP frames.
ECHO_CASES = {"IPClassifier(icmp echo)", "ICMPPingResponder"}


def frame(echo: bool = False) -> bytes:
    if echo:
        udp = dpkt.icmp.ICMP(type=8, data=dpkt.icmp.ICMP.Echo(id=1, seq=1, data=b"x" * 18))
    else:
        udp = dpkt.udp.UDP(sport=1, dport=2, data=b"x" * 18)
    ip = dpkt.ip.IP(src=bytes([10, 1, 0, 2]), dst=bytes([10, 2, 0, 2]), ttl=64,
                    p=1 if echo else 17, data=udp)
    ip.len = len(bytes(ip))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x02\x00\x00\x00\x00\x01",
                                        type=0x0800, data=ip))


def measure(text: str, entry: str, batch: int, rounds: int, echo: bool = False) -> float:
    """Median seconds per push of one batch through the element (and its Discard)."""
    router = Router(build_graph(text, "<bench>"), PacketPool(4096))
    router.initialize()
    if "ARPQuerier" in text:
        router.element("e").write("insert", "10.2.0.2 02:00:00:00:00:07")
    first = router.element("m") or router.element(entry)
    data = [frame(echo)] * batch
    times = []
    for _ in range(rounds):
        b = router.pool.from_bytes(data)
        router.pool.dst_ip[b.idx] = 0x0A020002
        t0 = time.perf_counter()
        first.push(0, b)
        times.append(time.perf_counter() - t0)
    router.close()
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2000)
    a = ap.parse_args()
    load_builtin()
    print(f"{'element':<28}{'batch 1 us':>12}{'batch 256 ns/pkt':>18}")
    for name, (text, entry) in CASES.items():
        echo = name in ECHO_CASES
        one = measure(text, entry, 1, a.rounds, echo)
        many = measure(text, entry, 256, max(50, a.rounds // 10), echo)
        print(f"{name:<28}{one * 1e6:>12.1f}{many / 256 * 1e9:>18.0f}")
    print("(medians; the MarkIPHeader/Strip in front of some elements is included)")


if __name__ == "__main__":
    main()
