"""The floor: a naive per-packet IPv4 router on asyncio, over two TAP devices.

What one writes first in Python: an asyncio reader callback per device, one
os.read() per frame, every frame parsed and rebuilt as bytes objects, the
IP checksum summed with struct, a linear route table, one os.write() per
frame.  It does the work of configs/examples/router.click's fast path --
ARP for its two addresses and for next hops, header checks (version,
lengths, checksum), TTL, a route lookup, a new Ethernet header -- and
answers pings to its own addresses; it sends no ICMP errors and does not
fragment.  `vforward bench forward` runs it as the floor that vforward's
batches and compiled kernels are measured against.

It takes the same names as router.click, with the same defaults:

    python -m vforward.bench.naive_forwarder NS1=src NS2=dst DEV1=vfs0 DEV2=vfd0

creates TAP DEV1 in namespace NS1 with the host's address HOST1/LEN1, MAC
HOST_ETH1 and a default route via IP1 (the router's address, MAC ETH1), and
the same for interface 2; prints "ready" once both devices are up, and
forwards until SIGINT or SIGTERM, then prints its counters.
"""
from __future__ import annotations

import asyncio
import ipaddress
import os
import signal
import struct
import sys

from vforward.elements.io.tundevice import configure_device, open_device

DEFAULTS = {
    "NS1": "vfr-a", "DEV1": "vfr-a0", "HOST1": "10.1.0.2", "HOST_ETH1": "02:00:0a:01:00:02",
    "IP1": "10.1.0.1", "LEN1": "24", "ETH1": "02:00:0a:01:00:01",
    "NS2": "vfr-b", "DEV2": "vfr-b0", "HOST2": "10.2.0.2", "HOST_ETH2": "02:00:0a:02:00:02",
    "IP2": "10.2.0.1", "LEN2": "24", "ETH2": "02:00:0a:02:00:01",
    "MTU": "1500", "CTL": "",
}
ETH_IP, ETH_ARP = b"\x08\x00", b"\x08\x06"
BROADCAST = b"\xff" * 6


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", "").replace("-", ""))


def _ip(text: str) -> int:
    return int(ipaddress.IPv4Address(text))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class Port:
    def __init__(self, n: int, names: dict):
        self.n = n
        self.netns = names[f"NS{n}"]
        self.devname = names[f"DEV{n}"]
        self.addr = _ip(names[f"IP{n}"])
        self.addr_bytes = struct.pack("!I", self.addr)
        self.prefixlen = int(names[f"LEN{n}"])
        self.mask = (0xFFFFFFFF << (32 - self.prefixlen)) & 0xFFFFFFFF
        self.mac = _mac(names[f"ETH{n}"])
        self.host = _ip(names[f"HOST{n}"])
        self.host_mac = _mac(names[f"HOST_ETH{n}"])
        self.mtu = int(names["MTU"])
        self.dev = None

    def open(self):
        self.dev = open_device(self.devname, True, self.netns)
        configure_device(self.dev, self.host, self.prefixlen, self.mtu, self.host_mac, self.addr)

    def close(self):
        if self.dev is not None:
            self.dev.close()


class NaiveRouter:
    def __init__(self, names: dict):
        self.ports = [Port(1, names), Port(2, names)]
        self.routes = [(p.addr & p.mask, p.mask, p) for p in self.ports]   # connected nets
        self.local = {p.addr: p for p in self.ports}
        self.arp = {}            # IP (int) -> MAC (bytes)
        self.forwarded = self.dropped = self.arp_replies = self.pings = 0

    # -- devices -----------------------------------------------------------
    def start(self, loop):
        for p in self.ports:
            p.open()
            loop.add_reader(p.dev.fd, self.readable, p)

    def close(self):
        for p in self.ports:
            p.close()

    def send(self, port: Port, frame: bytes):
        try:
            os.write(port.dev.fd, frame)
        except BlockingIOError:
            self.dropped += 1

    def readable(self, port: Port):
        while True:
            try:
                frame = os.read(port.dev.fd, 2048)
            except BlockingIOError:
                return
            self.receive(port, frame)

    # -- one frame ------------------------------------------------------------
    def receive(self, port: Port, frame: bytes):
        if len(frame) < 14 or frame[0:6] not in (port.mac, BROADCAST):
            self.dropped += 1
            return
        kind = frame[12:14]
        if kind == ETH_ARP:
            self.receive_arp(port, frame[14:])
        elif kind == ETH_IP:
            self.receive_ip(port, frame[14:])
        else:
            self.dropped += 1

    def receive_arp(self, port: Port, arp: bytes):
        if len(arp) < 28:
            return
        op, sha, spa, tpa = struct.unpack("!6xH6s4s6x4s", arp[:28])
        self.arp[struct.unpack("!I", spa)[0]] = sha
        if op == 1 and tpa == port.addr_bytes:
            reply = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 2, port.mac, tpa, sha, spa)
            self.send(port, sha + port.mac + ETH_ARP + reply)
            self.arp_replies += 1

    def query(self, port: Port, address: int):
        request = struct.pack("!HHBBH6s4s6sI", 1, 0x0800, 6, 4, 1, port.mac, port.addr_bytes,
                              bytes(6), address)
        self.send(port, BROADCAST + port.mac + ETH_ARP + request)

    def receive_ip(self, port: Port, packet: bytes):
        if len(packet) < 20 or packet[0] >> 4 != 4:
            self.dropped += 1
            return
        hlen = (packet[0] & 15) * 4
        total = struct.unpack("!H", packet[2:4])[0]
        if hlen < 20 or total < hlen or total > len(packet) or checksum(packet[:hlen]) != 0:
            self.dropped += 1
            return
        packet = packet[:total]
        dst = struct.unpack("!I", packet[16:20])[0]
        if dst in self.local:
            self.answer_ping(packet, hlen)
            return
        ttl = packet[8]
        if ttl <= 1:
            self.dropped += 1
            return
        out = None
        for net, mask, p in self.routes:
            if dst & mask == net:
                out = p
                break
        if out is None:
            self.dropped += 1
            return
        header = bytearray(packet[:hlen])
        header[8] = ttl - 1
        header[10:12] = b"\0\0"
        header[10:12] = struct.pack("!H", checksum(bytes(header)))
        self.transmit(out, dst, bytes(header) + packet[hlen:])

    def transmit(self, out: Port, next_hop: int, packet: bytes):
        mac = self.arp.get(next_hop)
        if mac is None:
            self.query(out, next_hop)        # and drop: the sender retransmits
            self.dropped += 1
            return
        self.send(out, mac + out.mac + ETH_IP + packet)
        self.forwarded += 1

    def answer_ping(self, packet: bytes, hlen: int):
        icmp = packet[hlen:]
        if packet[9] != 1 or len(icmp) < 8 or icmp[0] != 8:
            self.dropped += 1
            return
        src, dst = packet[12:16], packet[16:20]
        header = bytearray(packet[:hlen])
        header[8] = 64
        header[10:12] = b"\0\0"
        header[12:16], header[16:20] = dst, src
        header[10:12] = struct.pack("!H", checksum(bytes(header)))
        reply = bytearray(icmp)
        reply[0] = 0
        reply[2:4] = b"\0\0"
        reply[2:4] = struct.pack("!H", checksum(bytes(reply)))
        to = struct.unpack("!I", src)[0]
        for net, mask, p in self.routes:
            if to & mask == net:
                self.pings += 1
                self.transmit(p, to, bytes(header) + bytes(reply))
                return
        self.dropped += 1


def parse_names(argv: list[str]) -> dict:
    names = dict(DEFAULTS)
    for word in argv:
        name, eq, value = word.partition("=")
        if not eq or name.lstrip("$") not in DEFAULTS:
            sys.exit(f"naive_forwarder: unknown argument {word!r}; "
                     f"write NAME=value with NAME one of {', '.join(DEFAULTS)}")
        names[name.lstrip("$")] = value
    return names


def main(argv: list[str] | None = None) -> int:
    names = parse_names(sys.argv[1:] if argv is None else argv)
    loop = asyncio.new_event_loop()
    router = NaiveRouter(names)
    try:
        router.start(loop)
        stop = loop.create_future()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))
        print("ready", flush=True)
        loop.run_until_complete(stop)
    finally:
        router.close()
        loop.close()
    print(f"forwarded {router.forwarded} dropped {router.dropped} "
          f"arp_replies {router.arp_replies} pings {router.pings}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
