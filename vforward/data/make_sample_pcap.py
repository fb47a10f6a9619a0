#!/usr/bin/env python3
"""Build data/sample.pcap, the capture the demo and the pcap tests read.

    python data/make_sample_pcap.py [OUTPUT]     (default: sample.pcap beside this script)

The file is the same, byte for byte, on every run: a seeded random
generator picks sizes, ports and gaps, and the clock starts at a fixed
1700000000 s (2023-11-14 22:13:20 UTC).  It is a microsecond, little-endian
pcap of Ethernet frames (link type 1), 300 records 0.05 to 2 ms apart, as a
LAN-side capture at a gateway (02:00:00:00:00:01) would see them:

    count  kind
      130  UDP: DNS queries to 8.8.8.8:53 and answers, and datagrams of 16 to
           1400 bytes from the 10.0.0.0/24 clients to 10.0.1.0/24, 10.0.2.0/24
           and 192.168.1.0/24 servers
      104  TCP: clients' connections to port 80 and 443 (handshake, data, FIN)
       40  ICMP echo requests and replies (20 pairs)
        8  ARP requests and replies (4 pairs)
        5  IPv4 packets (UDP and TCP) whose IP header checksum is wrong
        5  truncated records: captured length shorter than the frame (as with
           tcpdump -s), so the IP total length runs past the captured bytes
        3  UDP probes with TTL 1 (traceroute's first hop)
        5  UDP with a 1472-byte payload (1514-byte frames, a full MTU)

Every other IPv4 packet has correct IP, UDP and TCP checksums (dpkt computes
them).  The bad-checksum, truncated and TTL-1 records are spread through the
file.  Rebuilding needs only dpkt; commit the output together with this file.
"""
import os
import random
import socket
import sys

import dpkt

SEED = 20240601
START_SEC = 1_700_000_000
GATEWAY_MAC = bytes.fromhex("020000000001")
CLIENTS = [f"10.0.0.{i}" for i in range(2, 10)]
SERVERS = ["10.0.1.10", "10.0.1.11", "10.0.2.20", "10.0.2.21", "192.168.1.5", "192.168.1.6"]
DNS = "8.8.8.8"
GATEWAY_IP = "10.0.0.1"

KINDS = {"udp": 130, "tcp": 104, "icmp": 40, "arp": 8, "badsum": 5, "truncated": 5,
         "ttl1": 3, "mtu": 5}


def ip4(text):
    return socket.inet_aton(text)


def host_mac(ip):
    """Each LAN host's MAC is derived from its address: 02:00:00:00:<c>:<d>."""
    b = ip4(ip)
    return bytes.fromhex("02000000") + b[2:]


def ether(src_mac, dst_mac, ethertype, payload):
    return dpkt.ethernet.Ethernet(src=src_mac, dst=dst_mac, type=ethertype, data=payload)


def ip_packet(src, dst, proto, payload, ttl=64, ident=0):
    if isinstance(payload, dpkt.udp.UDP):
        payload.ulen = 8 + len(payload.data)    # dpkt leaves the UDP length to its caller
    return dpkt.ip.IP(src=ip4(src), dst=ip4(dst), p=proto, ttl=ttl, id=ident, data=payload)


def outbound(client, server, proto, payload, ttl=64, ident=0):
    """A client's packet to a remote server, as sent to the gateway."""
    pkt = ip_packet(client, server, proto, payload, ttl, ident)
    return bytes(ether(host_mac(client), GATEWAY_MAC, dpkt.ethernet.ETH_TYPE_IP, pkt))


def inbound(server, client, proto, payload, ident=0):
    """A server's packet to a client, as the gateway forwards it onto the LAN."""
    pkt = ip_packet(server, client, proto, payload, 60, ident)
    return bytes(ether(GATEWAY_MAC, host_mac(client), dpkt.ethernet.ETH_TYPE_IP, pkt))


class Builder:
    """Frame factory: one method per kind, sharing the seeded generator."""

    def __init__(self, rng):
        self.rng = rng
        self.ident = 1000
        self.icmp_seq = 0
        self.arp_n = 0
        self.flows = {}    # (client, server, sport, dport) -> [state, client seq, server seq]

    def next_ident(self):
        self.ident += 1
        return self.ident

    def udp(self, size=None):
        rng = self.rng
        client = rng.choice(CLIENTS)
        if size is None and rng.random() < 0.4:
            sport = rng.randint(32768, 60999)
            query = dpkt.dns.DNS(id=rng.randint(0, 65535), qd=[dpkt.dns.DNS.Q(
                name=f"host{rng.randint(1, 50)}.example.org")])
            if rng.random() < 0.5:
                return outbound(client, DNS, dpkt.ip.IP_PROTO_UDP,
                                dpkt.udp.UDP(sport=sport, dport=53, data=bytes(query)),
                                ident=self.next_ident())
            query.op = dpkt.dns.DNS_RA
            query.qr = dpkt.dns.DNS_R
            query.an = [dpkt.dns.DNS.RR(name=query.qd[0].name, type=dpkt.dns.DNS_A,
                                        rdata=ip4(rng.choice(SERVERS)), ttl=300)]
            return inbound(DNS, client, dpkt.ip.IP_PROTO_UDP,
                           dpkt.udp.UDP(sport=53, dport=sport, data=bytes(query)),
                           ident=self.next_ident())
        n = size if size is not None else rng.choice([16, 64, 128, 256, 512, 1024, 1400])
        payload = bytes(rng.getrandbits(8) for _ in range(n))
        datagram = dpkt.udp.UDP(sport=rng.randint(32768, 60999), dport=rng.randint(5000, 5010),
                                data=payload)
        server = rng.choice(SERVERS)
        if rng.random() < 0.7:
            return outbound(client, server, dpkt.ip.IP_PROTO_UDP, datagram, ident=self.next_ident())
        datagram.sport, datagram.dport = datagram.dport, datagram.sport
        return inbound(server, client, dpkt.ip.IP_PROTO_UDP, datagram, ident=self.next_ident())

    def tcp(self):
        rng = self.rng
        live = [k for k, v in self.flows.items() if v[0] != "closed"]
        if not live or (len(live) < 4 and rng.random() < 0.2):
            key = (rng.choice(CLIENTS), rng.choice(SERVERS), rng.randint(32768, 60999),
                   rng.choice([80, 443]))
            self.flows[key] = ["syn", rng.getrandbits(32), rng.getrandbits(32)]
            live = [key]
        key = rng.choice(live)
        client, server, sport, dport = key
        flow = self.flows[key]
        state, cseq, sseq = flow
        TH = dpkt.tcp
        if state == "syn":
            seg = TH.TCP(sport=sport, dport=dport, seq=cseq, flags=TH.TH_SYN, win=64240)
            flow[:] = ["synack", cseq + 1, sseq]
            return outbound(client, server, dpkt.ip.IP_PROTO_TCP, seg, ident=self.next_ident())
        if state == "synack":
            seg = TH.TCP(sport=dport, dport=sport, seq=sseq, ack=cseq,
                         flags=TH.TH_SYN | TH.TH_ACK, win=65160)
            flow[:] = ["ack", cseq, sseq + 1]
            return inbound(server, client, dpkt.ip.IP_PROTO_TCP, seg, ident=self.next_ident())
        if state == "ack":
            seg = TH.TCP(sport=sport, dport=dport, seq=cseq, ack=sseq, flags=TH.TH_ACK, win=502)
            flow[:] = ["data", cseq, sseq]
            return outbound(client, server, dpkt.ip.IP_PROTO_TCP, seg, ident=self.next_ident())
        if state == "data" and rng.random() < 0.15:
            seg = TH.TCP(sport=sport, dport=dport, seq=cseq, ack=sseq,
                         flags=TH.TH_FIN | TH.TH_ACK, win=502)
            flow[:] = ["closed", cseq + 1, sseq]
            return outbound(client, server, dpkt.ip.IP_PROTO_TCP, seg, ident=self.next_ident())
        n = rng.choice([0, 40, 200, 536, 1200, 1460])
        payload = bytes(rng.getrandbits(8) for _ in range(n))
        if rng.random() < 0.4:
            seg = TH.TCP(sport=sport, dport=dport, seq=cseq, ack=sseq,
                         flags=TH.TH_ACK | (TH.TH_PUSH if n else 0), win=502, data=payload)
            flow[1] = cseq + n
            return outbound(client, server, dpkt.ip.IP_PROTO_TCP, seg, ident=self.next_ident())
        seg = TH.TCP(sport=dport, dport=sport, seq=sseq, ack=cseq,
                     flags=TH.TH_ACK | (TH.TH_PUSH if n else 0), win=509, data=payload)
        flow[2] = sseq + n
        return inbound(server, client, dpkt.ip.IP_PROTO_TCP, seg, ident=self.next_ident())

    def icmp(self):
        # Requests and replies alternate: even calls ask, odd calls answer.
        rng = self.rng
        n = self.icmp_seq
        self.icmp_seq += 1
        pair = n // 2
        client = CLIENTS[pair % len(CLIENTS)]
        server = SERVERS[pair % len(SERVERS)]
        payload = bytes((pair + i) & 0xFF for i in range(56))
        echo = dpkt.icmp.ICMP.Echo(id=0x4242, seq=pair + 1, data=payload)
        if n % 2 == 0:
            msg = dpkt.icmp.ICMP(type=dpkt.icmp.ICMP_ECHO, code=0, data=echo)
            return outbound(client, server, dpkt.ip.IP_PROTO_ICMP, msg, ident=rng.randint(1, 65535))
        msg = dpkt.icmp.ICMP(type=dpkt.icmp.ICMP_ECHOREPLY, code=0, data=echo)
        return inbound(server, client, dpkt.ip.IP_PROTO_ICMP, msg, ident=rng.randint(1, 65535))

    def arp(self):
        n = self.arp_n
        self.arp_n += 1
        client = CLIENTS[(n // 2) % len(CLIENTS)]
        A = dpkt.arp
        if n % 2 == 0:
            msg = A.ARP(op=A.ARP_OP_REQUEST, sha=host_mac(client), spa=ip4(client),
                        tha=b"\0" * 6, tpa=ip4(GATEWAY_IP))
            return bytes(ether(host_mac(client), b"\xff" * 6, dpkt.ethernet.ETH_TYPE_ARP, msg))
        msg = A.ARP(op=A.ARP_OP_REPLY, sha=GATEWAY_MAC, spa=ip4(GATEWAY_IP),
                    tha=host_mac(client), tpa=ip4(client))
        return bytes(ether(GATEWAY_MAC, host_mac(client), dpkt.ethernet.ETH_TYPE_ARP, msg))

    def badsum(self):
        frame = bytearray(self.udp(size=64) if self.rng.random() < 0.6 else self.tcp())
        frame[24] ^= 0x5A    # the IP header checksum is bytes 10-11 of the IP header
        frame[25] ^= 0xA5
        return bytes(frame)

    def ttl1(self):
        rng = self.rng
        client = rng.choice(CLIENTS)
        probe = dpkt.udp.UDP(sport=rng.randint(32768, 60999), dport=33434 + rng.randint(0, 20),
                             data=bytes(32))
        return outbound(client, rng.choice(SERVERS), dpkt.ip.IP_PROTO_UDP, probe, ttl=1,
                        ident=self.next_ident())

    def mtu(self):
        return self.udp(size=1472)


def build_records():
    """[(sec, usec, captured bytes, wire length)] in file order."""
    rng = random.Random(SEED)
    kinds = [k for k, n in KINDS.items() for _ in range(n)]
    rng.shuffle(kinds)
    builder = Builder(rng)
    sec, usec = START_SEC, 0
    records = []
    for kind in kinds:
        usec += rng.randint(50, 2000)
        sec, usec = sec + usec // 1_000_000, usec % 1_000_000
        if kind == "truncated":
            frame = builder.udp(size=rng.choice([256, 512, 1024]))
            cut = rng.choice([54, 60, 96, 128])
            records.append((sec, usec, frame[:cut], len(frame)))
            continue
        frame = getattr(builder, kind)()
        records.append((sec, usec, frame, len(frame)))
    return records


def write_pcap(path, records):
    header = dpkt.pcap.LEFileHdr(magic=dpkt.pcap.TCPDUMP_MAGIC, snaplen=65535,
                                 linktype=dpkt.pcap.DLT_EN10MB)
    with open(path, "wb") as f:
        f.write(bytes(header))
        for sec, usec, data, wirelen in records:
            f.write(bytes(dpkt.pcap.LEPktHdr(tv_sec=sec, tv_usec=usec, caplen=len(data),
                                             len=wirelen)))
            f.write(data)


def main(argv):
    out = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                     "sample.pcap")
    records = build_records()
    write_pcap(out, records)
    size = os.path.getsize(out)
    print(f"wrote {out}: {len(records)} records, {size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
