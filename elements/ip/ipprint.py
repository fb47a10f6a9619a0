"""IPPrint: one tcpdump-like line per IP packet."""
from __future__ import annotations

import ipaddress
import struct
import sys

from vforward.args import ArgumentError, boolean, integer, string
from vforward.element import AGNOSTIC, Element, HandlerError, read_handler, write_handler

_ICMP_TYPES = {3: "unreachable", 4: "sourcequench", 5: "redirect", 9: "routeradvert",
               10: "routersolicit", 11: "timeexceeded", 12: "parameterproblem",
               13: "timestamp", 14: "timestamp-reply", 15: "inforeq", 16: "inforeq-reply",
               17: "maskreq", 18: "maskreq-reply"}
# Click's names for the codes of redirect, time exceeded and parameter problem
_CODE_NAMES = {5: {0: "net", 1: "host", 2: "tosnet", 3: "toshost"},
               11: {0: "transit", 1: "reassembly"},
               12: {0: "erroratptr", 1: "missingopt", 2: "length"}}
_UNREACH_CODES = {0: "net", 1: "host", 2: "protocol", 3: "port", 4: "needfrag", 5: "srcroute",
                  6: "net-unknown", 7: "host-unknown", 8: "isolated", 9: "net-prohibited",
                  10: "host-prohibited", 11: "tos-net", 12: "tos-host", 13: "filter-prohibited",
                  14: "host-precedence", 15: "precedence-cutoff"}
_PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp"}


def _contents(text: str) -> str:
    t = string(text).upper()
    if t in ("FALSE", "NONE", "NO"):
        return "NONE"
    if t in ("TRUE", "HEX"):
        return "HEX"
    if t == "ASCII":
        return "ASCII"
    raise ArgumentError(f"expected NONE, HEX or ASCII, got {text!r}")


def _addr(b: bytes) -> str:
    return str(ipaddress.IPv4Address(b))


def describe(ip: bytes, swap: bool = True, frame_len: int | None = None) -> str:
    """The protocol part of IPPrint's line for the IP packet `ip` (from its header on)."""
    if len(ip) < 20:
        return "truncated-ip"
    hl = (ip[0] & 15) * 4
    ip_len, ip_id, off = struct.unpack_from("!HHH", ip, 2)
    proto = ip[9]
    src, dst = _addr(ip[12:16]), _addr(ip[16:20])
    first = (off & 0x1FFF) == 0
    tr = ip[hl:ip_len] if ip_len >= hl else b""
    tlen = len(tr)
    frame_len = len(ip) if frame_len is None else frame_len
    if proto == 6:
        if tlen < 4 or not first:
            line = f"{src} > {dst}: " + ("truncated-tcp" if first else "tcp")
        else:
            sport, dport = struct.unpack_from("!HH", tr)
            line = f"{src}.{sport} > {dst}.{dport}: "
            if tlen < 14:
                line += "truncated-tcp"
            else:
                flags = tr[13]
                seqlen = ip_len - hl - (tr[12] >> 4) * 4
                letters = ""
                if flags & 2:
                    letters += "S"
                    seqlen += 1
                if flags & 1:
                    letters += "F"
                    seqlen += 1
                if flags & 4:
                    letters += "R"
                if flags & 8:
                    letters += "P"
                seq = struct.unpack_from("!I", tr, 4)[0]
                line += f"{letters or '.'} {seq}:{(seq + seqlen) & 0xFFFFFFFF}" \
                        f"({seqlen},{frame_len},{ip_len})"
                if flags & 16:
                    line += f" ack {struct.unpack_from('!I', tr, 8)[0]}"
                line += " truncated-tcp" if tlen < 16 else \
                    f" win {struct.unpack_from('!H', tr, 14)[0]}"
    elif proto == 17:
        if tlen < 4 or not first:
            line = f"{src} > {dst}: " + ("truncated-udp" if first else "udp")
        else:
            sport, dport = struct.unpack_from("!HH", tr)
            line = f"{src}.{sport} > {dst}.{dport}: "
            line += "truncated-udp" if tlen < 8 else f"udp {struct.unpack_from('!H', tr, 4)[0]}"
    elif proto == 1:
        line = f"{src} > {dst}: "
        if not first:
            line += "icmp"
        elif tlen < 2:
            line += "truncated-icmp"
        elif tr[0] in (0, 8):
            line += "icmp echo-reply " if tr[0] == 0 else "icmp echo "
            if tlen < 8:
                line += "truncated-icmp"
            else:
                ident, seq = struct.unpack_from("!HH" if swap else "<HH", tr, 4)
                line += f"({ident}, {seq})"
        elif tr[0] == 3:
            code = _UNREACH_CODES.get(tr[1], f"code {tr[1]}")
            inner = tr[8:]
            if len(inner) < 20:
                line += f"icmp unreachable {code} truncated-icmp"
            else:
                line += f"icmp {_addr(inner[16:20])} unreachable {code}"
                ihl = (inner[0] & 15) * 4
                if tr[1] == 2:
                    line += f" {_PROTO_NAMES.get(inner[9], inner[9])}"
                elif tr[1] == 3:
                    line += " " + _PROTO_NAMES.get(inner[9], f"protocol {inner[9]}")
                    line += f"/{struct.unpack_from('!H', inner, ihl + 2)[0]}" \
                        if len(inner) >= ihl + 4 else "truncated-icmp"
                elif tr[1] == 4 and tlen >= 8 and struct.unpack_from("!H", tr, 6)[0]:
                    line += f" (mtu {struct.unpack_from('!H', tr, 6)[0]})"
        else:
            line += "icmp " + _ICMP_TYPES.get(tr[0], f"type {tr[0]}")
            named = _CODE_NAMES.get(tr[0], {}).get(tr[1])
            if named:
                line += f" {named}"
            elif tr[1]:
                line += f" code {tr[1]}"
    else:
        line = f"{src} > {dst}: ip-proto-{proto}"
    if off & 0x3FFF and (off & 0x2000 or off & 0x1FFF):
        line += f" (frag {ip_id}:{ip_len - hl}@{(off & 0x1FFF) << 3}{'+' if off & 0x2000 else ''})"
    return line


class IPPrint(Element):
    """IPPrint([LABEL, KEYWORDS]) -- print one tcpdump-like line per IP packet

    Ports: 1 input, 1 output; agnostic.

    Writes a line describing each IP packet (at the network header
    annotation) to standard error, or to OUTFILE, and passes the packet on
    unchanged.  The line is Click's:

      LABEL: 1.000020: 1.0.0.1.10 > 1.0.0.2.20: . 0:1440(1440,60,1500) ack 0 win 0

    a TCP segment as `SRC.PORT > DST.PORT: FLAGS SEQ:END(SEQLEN,PACKETLEN,IPLEN)
    [ack A] win W`, UDP as `... udp ULEN`, ICMP by type (`icmp echo (ID, SEQ)`,
    `icmp DST unreachable port udp/53`), fragments with `(frag ID:LEN@OFF+)`.
    Packets without a network header annotation pass silently.  One Python
    line per packet: for debugging, not for traffic at speed.

    Arguments:
      LABEL (string, default none)         text at the start of each line
      CONTENTS (NONE, HEX or ASCII, default NONE)   also dump the packet's bytes
      PAYLOAD (NONE, HEX or ASCII, default NONE)    dump the payload only
      MAXLENGTH (integer, default 1500)    most bytes dumped; -1 for all
      TIMESTAMP (boolean, default true)    print the timestamp annotation
      ID, TTL, TOS, LENGTH (boolean, default false)  print those header fields
      PAINT (boolean, default false)       print the paint annotation
      SWAP (boolean, default true)         print ICMP echo id and sequence in network
                                           order, as today's Click; false: as a little-
                                           endian host reads the two bytes (Click before
                                           2013)
      OUTFILE (string)                     write to this file instead
      ACTIVE (boolean, default true)       whether to print

    Handlers:
      active (read/write)   ACTIVE
    """
    PORTS = "1/1"
    PROCESSING = AGNOSTIC

    def configure(self, args):
        self.label = args.positional("LABEL", string, default="")
        contents = args.keyword("CONTENTS", _contents, default="NONE")
        payload = args.keyword("PAYLOAD", _contents, default="NONE")
        self.maxlength = args.keyword("MAXLENGTH", integer, default=1500)
        self.timestamp = args.keyword("TIMESTAMP", boolean, default=True)
        self.print_id = args.keyword("ID", boolean, default=False)
        self.print_ttl = args.keyword("TTL", boolean, default=False)
        self.print_tos = args.keyword("TOS", boolean, default=False)
        self.print_len = args.keyword("LENGTH", boolean, default=False)
        self.print_paint = args.keyword("PAINT", boolean, default=False)
        self.swap = args.keyword("SWAP", boolean, default=True)
        args.keyword("AGGREGATE", boolean, default=False)
        self.outfile = args.keyword("OUTFILE", string, default=None)
        self.active = args.keyword("ACTIVE", boolean, default=True)
        args.finish()
        self.payload_only = payload != "NONE"
        self.contents = payload if self.payload_only else contents
        self._out = None

    def initialize(self):
        self._out = open(self.outfile, "w") if self.outfile else None

    def cleanup(self):
        if self._out is not None:
            self._out.close()
            self._out = None

    def _dump(self, data: bytes) -> str:
        n = len(data) if self.maxlength < 0 else min(len(data), self.maxlength)
        data = data[:n]
        out = []
        if self.contents == "HEX":
            for i, b in enumerate(data):
                out.append("\n  " if i % 24 == 0 else " " if i % 4 == 0 else "")
                out.append(f"{b:02x}")
        else:
            for i, b in enumerate(data):
                out.append("\n  " if i % 48 == 0 else " " if i % 8 == 0 else "")
                out.append(chr(b) if 32 <= b <= 126 else ".")
        return "".join(out)

    def process(self, batch):
        if not self.active or not len(batch.idx):
            return batch
        pool = batch.pool
        lines = []
        for slot in batch.idx.tolist():
            off, length, nh = int(pool.off[slot]), int(pool.length[slot]), int(pool.nh[slot])
            if not off <= nh <= off + length:
                continue
            line = f"{self.label}: " if self.label else ""
            if self.timestamp:
                sec, ns = divmod(int(pool.ts_ns[slot]), 1_000_000_000)
                line += f"{sec}.{ns // 1000:06d}: "
            if self.print_paint:
                line += f"paint {int(pool.paint[slot])}: "
            ip = pool.data[slot, nh:off + length].tobytes()
            if len(ip) >= 20:
                if self.print_id:
                    line += f"id {struct.unpack_from('!H', ip, 4)[0]} "
                if self.print_ttl:
                    line += f"ttl {ip[8]} "
                if self.print_tos:
                    line += f"tos {ip[1]} "
                if self.print_len:
                    line += f"length {struct.unpack_from('!H', ip, 2)[0]} "
            line += describe(ip, self.swap, length)
            if self.contents != "NONE":
                data = pool.data[slot, off:off + length].tobytes()
                if self.payload_only and len(ip) >= 20:
                    hl = (ip[0] & 15) * 4
                    start = hl
                    first = (struct.unpack_from("!H", ip, 6)[0] & 0x1FFF) == 0
                    if first and ip[9] == 6 and len(ip) >= hl + 13:
                        start += (ip[hl + 12] >> 4) * 4
                    elif first and ip[9] == 17:
                        start += 8
                    data = ip[start:]
                line += self._dump(data)
            lines.append(line)
        if lines:
            out = self._out or sys.stderr
            out.write("\n".join(lines) + "\n")
            out.flush()
        return batch

    @read_handler("active")
    def read_active(self):
        return self.active

    @write_handler("active")
    def write_active(self, value):
        try:
            self.active = boolean(value)
        except ArgumentError as e:
            raise HandlerError(str(e)) from None
