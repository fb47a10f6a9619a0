"""ARPPrint: print ARP packets in tcpdump's words."""
from __future__ import annotations

import sys

from vforward.args import boolean, string
from vforward.element import AGNOSTIC, Element, read_handler, write_handler

from .ethernet import ETHER_HEADER_LEN, unparse_mac

_ARP_LEN = 28


def _ip(b: bytes) -> str:
    return ".".join(str(x) for x in b)


def describe_arp(arp: bytes) -> str:
    """One ARP packet (from its ARP header on) as Click's ARPPrint words it."""
    if len(arp) < _ARP_LEN:
        return f"truncated-arp ({len(arp)})"
    hrd, pro = int.from_bytes(arp[0:2], "big"), int.from_bytes(arp[2:4], "big")
    hln, pln, op = arp[4], arp[5], int.from_bytes(arp[6:8], "big")
    if pro not in (0x0800, 0x1000) or pln != 4 or hln == 0:
        return f"arp-#{op} for proto #{pro} ({pln}) hardware #{hrd} ({hln})"
    sha, spa, tha, tpa = arp[8:14], arp[14:18], arp[18:24], arp[24:28]
    prefix = "trailer-" if pro == 0x1000 else ""
    if op == 1:
        known = f" ({unparse_mac(tha)})" if any(tha) else ""
        return f"{prefix}arp who-has {_ip(tpa)}{known} tell {_ip(spa)}"
    if op == 2:
        return f"{prefix}arp reply {_ip(spa)} is-at {unparse_mac(sha)}"
    if op == 3:
        return f"{prefix}rarp who-is {unparse_mac(tha)} tell {unparse_mac(sha)}"
    if op == 4:
        return f"{prefix}rarp reply {unparse_mac(tha)} at {_ip(tpa)}"
    if op == 8:
        return f"{prefix}invarp who-is {unparse_mac(tha)} tell {unparse_mac(sha)}"
    if op == 9:
        return f"{prefix}invarp reply {unparse_mac(tha)} at {_ip(tpa)}"
    return f"{prefix}arp-#{op}"


class ARPPrint(Element):
    """ARPPrint([LABEL, KEYWORDS]) -- print ARP packets, as tcpdump words them

    Ports: 1 input, 1 output; agnostic.

    Prints one line to standard error for each ARP packet (Ethernet frames
    whose ARP header follows a 14-byte Ethernet header) and passes it on
    unchanged: "LABEL: TIMESTAMP: arp who-has 1.0.0.1 tell 1.0.10.10", or
    "arp reply 1.0.0.1 is-at 02-02-01-0B-0B-00", and so on for RARP and
    InARP.

    Arguments:
      LABEL (string, default none)     put before each line

    Keyword arguments:
      TIMESTAMP (boolean, default true)   print the packet's timestamp
      ETHER (boolean, default false)      print the frame's Ethernet source and destination
      ACTIVE (boolean, default true)      print at all

    Handlers:
      active (read/write)   whether it prints
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.label = args.positional("LABEL", string, default="")
        self.timestamp = args.keyword("TIMESTAMP", boolean, default=True)
        self.ether = args.keyword("ETHER", boolean, default=False)
        self.active = args.keyword("ACTIVE", boolean, default=True)
        args.finish()

    def process(self, batch):
        if not self.active:
            return batch
        pool = batch.pool
        lines = []
        for slot in batch.idx.tolist():
            off, n = int(pool.off[slot]), int(pool.length[slot])
            frame = bytes(pool.data[slot, off:off + n])
            line = f"{self.label}: " if self.label else ""
            if self.timestamp:
                ts = int(pool.ts_ns[slot])
                line += f"{ts // 1_000_000_000}.{ts % 1_000_000_000 // 1000:06d}: "
            if self.ether and n >= ETHER_HEADER_LEN:
                line += f"{unparse_mac(frame[6:12])} > {unparse_mac(frame[0:6])}: "
            lines.append(line + describe_arp(frame[ETHER_HEADER_LEN:]))
        sys.stderr.write("".join(ln + "\n" for ln in lines))
        return batch

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        self.active = boolean(value)
