"""The fields of Click's IP summary dump format, read and written.

An IP summary dump is text, one packet a line, its columns named by a
`!data` line (`!data ip_src sport ip_dst dport proto`).  `PacketSpec`
collects what a line says about a packet and builds its bytes;
`unparse(name, packet)` writes one field of a real packet, or '-' when the
field does not apply (sport of an ICMP packet).
"""
from __future__ import annotations

import ipaddress
import re
import struct

PROTO_ICMP, PROTO_TCP, PROTO_UDP = 1, 6, 17
TCP_FLAG_LETTERS = "FSRPAUECN"

SYNONYMS = {
    "src": "ip_src", "dst": "ip_dst", "saddr": "ip_src", "daddr": "ip_dst",
    "length": "ip_len", "len": "ip_len", "ip_p": "ip_proto", "proto": "ip_proto",
    "ttl": "ip_ttl", "tos": "ip_tos", "id": "ip_id", "ip_frag_off": "ip_fragoff",
    "utimestamp": "timestamp", "ts": "timestamp", "sec": "ts_sec", "usec": "ts_usec",
    "pkt_count": "count", "packet_count": "count", "wire_length": "wire_len",
    "payload_length": "payload_len", "tcp_seqno": "tcp_seq", "tcp_ackno": "tcp_ack",
    "seq": "tcp_seq", "ack": "tcp_ack", "flags": "tcp_flags", "tcp_win": "tcp_window",
    "opt": "tcp_opt", "ntimestamp": "timestamp",
}
FIELDS = ("timestamp", "ts_sec", "ts_usec", "ts_usec1", "ip_src", "ip_dst", "ip_len",
          "ip_capture_len", "ip_proto", "ip_hl", "ip_id", "ip_tos", "ip_dscp", "ip_ecn",
          "ip_ttl", "ip_sum", "ip_frag", "ip_fragoff", "ip_opt", "sport", "dport", "tcp_seq",
          "tcp_ack", "tcp_off", "tcp_flags", "tcp_opt", "tcp_window", "tcp_urp", "udp_len",
          "icmp_type", "icmp_code", "icmp_type_name", "icmp_flowid", "icmp_seq", "payload",
          "payload_len", "count", "link", "paint", "direction", "wire_len")
ICMP_NAMES = {0: "echo-reply", 3: "unreachable", 4: "sourcequench", 5: "redirect", 8: "echo",
              9: "routeradvert", 10: "routersolicit", 11: "timeexceeded",
              12: "parameterproblem", 13: "timestamp", 14: "timestamp-reply", 15: "inforeq",
              16: "inforeq-reply", 17: "maskreq", 18: "maskreq-reply"}
ECN_NAMES = ["no", "ect1", "ect2", "ce"]


class FieldError(ValueError):
    pass


def canonical(name: str) -> str:
    """A field's own name from any of Click's spellings; FieldError if unknown."""
    n = name.strip().strip('"').replace(" ", "_").lower()
    n = SYNONYMS.get(n, n)
    if n not in FIELDS:
        raise FieldError(f"unknown summary dump field '{name}'")
    return n


# -- quoting ---------------------------------------------------------------

def quote_payload(data: bytes) -> str:
    out = ['"']
    for b in data:
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif 32 <= b < 127:
            out.append(c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        else:
            out.append(f"\\{b:03o}")
    return "".join(out) + '"'


def unquote_payload(text: str) -> bytes:
    if len(text) < 2 or text[0] != '"':
        return text.encode("latin-1")
    body, out, i = text[1:-1] if text.endswith('"') else text[1:], bytearray(), 0
    escapes = {"n": 10, "t": 9, "r": 13, "0": 0, "a": 7, "b": 8, "f": 12, "v": 11}
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            if nxt in "01234567":
                j = i + 1
                while j < min(i + 4, len(body)) and body[j] in "01234567":
                    j += 1
                out.append(int(body[i + 1:j], 8) & 0xFF)
                i = j
                continue
            if nxt == "x":
                j = i + 2
                while j < len(body) and body[j] in "0123456789abcdefABCDEF":
                    j += 1
                out.append(int(body[i + 2:j] or "0", 16) & 0xFF)
                i = j
                continue
            out.append(escapes.get(nxt, ord(nxt)))
            i += 2
            continue
        out.append(ord(c) & 0xFF)
        i += 1
    return bytes(out)


def split_line(line: str) -> list[str]:
    """Columns at white space; a double-quoted payload is one column."""
    cols, i, n = [], 0, len(line)
    while i < n:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            break
        j = i
        while j < n and not line[j].isspace():
            if line[j] == '"':
                j += 1
                while j < n and line[j] != '"':
                    j += 2 if line[j] == "\\" else 1
            j += 1
        cols.append(line[i:j])
        i = j
    return cols


# -- reading: a line -> packet bytes ------------------------------------------------

def _proto(text: str) -> int:
    t = text.upper()
    if t in ("T", "TCP"):
        return PROTO_TCP
    if t in ("U", "UDP"):
        return PROTO_UDP
    if t in ("I", "ICMP"):
        return PROTO_ICMP
    return int(text, 0)


def _tcp_flags(text: str) -> int:
    if text[:1].isdigit():
        return int(text, 0)
    v = 0
    for c in text:
        if c == ".":
            continue
        k = TCP_FLAG_LETTERS.find(c.upper() if c != "." else c)
        if k < 0:
            raise FieldError(f"bad TCP flags '{text}'")
        v |= 1 << k
    return v


def _tcp_opt(text: str) -> bytes:
    if text in (".", "-", ""):
        return b""
    out = bytearray()
    # Click's separators: ';' or ','; a SACK block 'sackA-B' (or 'sackA:B') right
    # after another one and a ',' joins that SACK option, as Click reads it
    tokens = re.split(r"([,;])", text)
    sack_at, sep = None, ";"
    for k in range(0, len(tokens), 2):
        item = tokens[k]
        if item.startswith("mss"):
            out += struct.pack("!BBH", 2, 4, int(item[3:]))
        elif item.startswith("wscale"):
            out += struct.pack("!BBB", 3, 3, int(item[6:]))
        elif item == "sackok":
            out += b"\x04\x02"
        elif item.startswith("ts"):
            a, _, b = item[2:].partition(":")
            out += struct.pack("!BBII", 8, 10, int(a), int(b or 0))
        elif item == "nop":
            out += b"\x01"
        elif item.startswith("sack") or (sack_at is not None and "-" in item):
            lo, hi = re.split(r"[-:]", item[4:] if item.startswith("sack") else item, 1)
            block = struct.pack("!II", int(lo), int(hi))
            if sack_at is not None and (sep == "," or not item.startswith("sack")):
                out += block
                out[sack_at + 1] += 8
            else:
                sack_at = len(out)
                out += bytes([5, 10]) + block
            sep = tokens[k + 1] if k + 1 < len(tokens) else ";"
            continue
        else:
            raise FieldError(f"unknown TCP option '{item}'")
        sack_at = None
    while len(out) % 4:
        out += b"\x01" if len(out) % 4 else b""
    return bytes(out)


class PacketSpec:
    """What one dump line says about one packet."""

    def __init__(self, default_proto: int = PROTO_TCP):
        self.v: dict[str, object] = {}
        self.default_proto = default_proto

    def set(self, field: str, text: str) -> None:
        if text == "-":
            return
        v = self.v
        if field in ("ip_src", "ip_dst"):
            v[field] = int(ipaddress.IPv4Address(text))
        elif field == "ip_proto":
            v[field] = _proto(text)
        elif field in ("timestamp",):
            sec, _, frac = text.partition(".")
            # '.1' and '5.' are times too (Click's tests write them)
            v["ts_ns"] = int(sec or "0") * 1_000_000_000 + int((frac + "000000000")[:9])
        elif field == "ts_sec":
            v["ts_ns"] = v.get("ts_ns", 0) % 1_000_000_000 + int(text) * 1_000_000_000
        elif field == "ts_usec":
            v["ts_ns"] = v.get("ts_ns", 0) // 1_000_000_000 * 1_000_000_000 + int(text) * 1000
        elif field == "tcp_flags":
            v[field] = _tcp_flags(text)
        elif field == "tcp_opt":
            v[field] = _tcp_opt(text)
        elif field == "ip_opt":
            if text not in (".", ""):
                raise FieldError(f"IP options '{text}' are not supported; use '.'")
        elif field == "payload":
            v[field] = unquote_payload(text)
        elif field in ("link", "paint", "direction"):
            v["paint"] = {">": 0, "L": 0, "<": 1, "R": 1, "X": 1}.get(text) if not text.isdigit() \
                else int(text)
            if v["paint"] is None:
                raise FieldError(f"bad direction '{text}'")
        elif field == "ip_ecn":
            v[field] = ECN_NAMES.index(text) if text in ECN_NAMES else \
                {"ect": 2, "ce": 3}.get(text, None)
            if v[field] is None:
                v[field] = int(text, 0)
        elif field == "ip_frag":
            v[field] = text
        elif field == "ip_fragoff":
            t = text.rstrip("+!")
            v["ip_fragoff"] = int(t) // 8
            v["ip_mf"] = "+" in text
            v["ip_df"] = "!" in text
        elif field == "icmp_type_name":
            names = {n: k for k, n in ICMP_NAMES.items()}
            v["icmp_type"] = names[text] if text in names else int(text)
        elif field in ("ip_capture_len", "payload_len", "count", "wire_len", "tcp_off",
                       "ip_hl", "ts_usec1"):
            v[field] = int(text)
        else:
            v[field] = int(text, 0)

    def build(self) -> tuple[bytes, dict]:
        """(packet bytes starting at the IP header, annotations)."""
        v = self.v
        proto = v.get("ip_proto", self.default_proto)
        frag_off = v.get("ip_fragoff", 0)
        flags = 0x4000 if v.get("ip_df") else 0
        if v.get("ip_mf"):
            flags |= 0x2000
        frag = v.get("ip_frag")
        if frag == "!":
            flags |= 0x4000
        elif frag == "F":
            flags |= 0x2000
        elif frag == "f" and not frag_off:
            frag_off = 1
        tos = v.get("ip_tos", 0)
        if "ip_dscp" in v:
            tos = (tos & 3) | (v["ip_dscp"] << 2)
        if "ip_ecn" in v:
            tos = (tos & ~3) | v["ip_ecn"]
        first = frag_off == 0
        payload = v.get("payload", b"")
        if "payload_len" in v and "payload" not in v:
            payload = bytes(v["payload_len"])
        transport = b""
        if first and proto == PROTO_TCP:
            opt = v.get("tcp_opt", b"")
            off = v.get("tcp_off", 20 + len(opt)) // 4
            transport = struct.pack("!HHIIBBHHH", v.get("sport", 0), v.get("dport", 0),
                                    v.get("tcp_seq", 0), v.get("tcp_ack", 0),
                                    (off << 4) | ((v.get("tcp_flags", 0) >> 8) & 1),
                                    v.get("tcp_flags", 0) & 0xFF, v.get("tcp_window", 0), 0,
                                    v.get("tcp_urp", 0)) + opt
        elif first and proto == PROTO_UDP:
            transport = struct.pack("!HHHH", v.get("sport", 0), v.get("dport", 0),
                                    v.get("udp_len", 0), 0)
        elif first and proto == PROTO_ICMP:
            # flowid and seq in network order, as today's Click writes them
            transport = struct.pack("!BBHHH", v.get("icmp_type", 0), v.get("icmp_code", 0), 0,
                                    v.get("icmp_flowid", 0), v.get("icmp_seq", 0))
        if first and proto == PROTO_TCP and "tcp_off" in v and v["tcp_off"] >= 20:
            want_off = v["tcp_off"] - v["tcp_off"] % 4
            transport = transport[:20 + len(v.get("tcp_opt", b""))][:want_off].ljust(want_off, b"\0")
            transport = transport[:12] + bytes([(want_off // 4) << 4 | transport[12] & 1]) + \
                transport[13:]
        hl = max(20, v.get("ip_hl", 20) - v.get("ip_hl", 20) % 4)
        ip_opt = bytes(hl - 20)
        actual = hl + len(transport) + len(payload)
        want = v.get("ip_len", 0)
        ip_len = want if want else actual
        if "ip_capture_len" in v and v["ip_capture_len"] < actual:
            cut = v["ip_capture_len"]
        else:
            cut = actual
        if want and want < actual:
            cut = min(cut, want)
        if proto == PROTO_UDP and first and not v.get("udp_len") and len(transport) >= 8:
            transport = transport[:4] + struct.pack("!H", max(ip_len - hl, 0)) + transport[6:]
        header = struct.pack("!BBHHHBBHII", 0x40 | hl // 4, tos, min(ip_len, 0xFFFF), v.get("ip_id", 0),
                             flags | frag_off, v.get("ip_ttl", 100), proto, v.get("ip_sum", 0),
                             v.get("ip_src", 0), v.get("ip_dst", 0))
        data = (header + ip_opt + transport + payload)[:cut]
        anno = {"paint": v.get("paint", 0), "ts_ns": v.get("ts_ns", 0),
                "dst_ip": v.get("ip_dst", 0), "ip_len": ip_len}
        return data, anno


# -- writing: a packet -> one field ---------------------------------------------

class PacketInfo:
    """The bytes of one packet from its IP header on, and its annotations."""

    def __init__(self, ip: bytes | None, paint: int, ts_ns: int, wire_len: int):
        self.ip, self.paint, self.ts_ns, self.wire_len = ip, paint, ts_ns, wire_len
        self.ok = ip is not None and len(ip) >= 20 and ip[0] >> 4 == 4
        if self.ok:
            self.hl = (ip[0] & 0x0F) * 4
            self.proto = ip[9]
            self.frag = struct.unpack_from("!H", ip, 6)[0]
            self.first = (self.frag & 0x1FFF) == 0
            self.tr = ip[self.hl:] if self.first else b""

    def transport_fits(self, n: int) -> bool:
        return self.ok and self.first and len(self.tr) >= n

    def payload(self) -> bytes:
        if not self.ok:
            return b""
        ip_len = struct.unpack_from("!H", self.ip, 2)[0]
        data = self.ip[:ip_len]
        start = self.hl
        if self.first and self.proto == PROTO_TCP and len(self.tr) >= 13:
            start += (self.tr[12] >> 4) * 4
        elif self.first and self.proto == PROTO_UDP:
            start += 8
        elif self.first and self.proto == PROTO_ICMP:
            start += 8
        return data[start:]


def _tcp_opt_text(opt: bytes) -> str:
    items, i = [], 0
    while i < len(opt):
        kind = opt[i]
        if kind == 0:
            break
        if kind == 1:
            i += 1
            continue
        if i + 1 >= len(opt) or opt[i + 1] < 2:
            break
        n = opt[i + 1]
        body = opt[i + 2:i + n]
        if kind == 2 and n == 4:
            items.append(f"mss{struct.unpack('!H', body)[0]}")
        elif kind == 3 and n == 3:
            items.append(f"wscale{body[0]}")
        elif kind == 4 and n == 2:
            items.append("sackok")
        elif kind == 8 and n == 10:
            a, b = struct.unpack("!II", body)
            items.append(f"ts{a}:{b}")
        elif kind == 5:
            blocks = [struct.unpack_from("!II", body, k) for k in range(0, len(body) - 7, 8)]
            items += [f"sack{a}-{b}" for a, b in blocks]
        else:
            items.append(f"{kind}" + (f"={body.hex()}" if body else ""))
        i += n
    return ";".join(items) or "."       # Click writes ";" between options


def unparse(field: str, p: PacketInfo) -> str:
    if field == "timestamp":
        sec, ns = divmod(p.ts_ns, 1_000_000_000)
        return f"{sec}.{ns // 1000:06d}"
    if field == "ts_sec":
        return str(p.ts_ns // 1_000_000_000)
    if field == "ts_usec":
        return str(p.ts_ns % 1_000_000_000 // 1000)
    if field == "ts_usec1":
        return str(p.ts_ns // 1000)
    if field in ("link", "paint"):
        return str(p.paint)
    if field == "direction":
        return {0: ">", 1: "<"}.get(p.paint, str(p.paint))
    if field == "count":
        return "1"
    if field == "wire_len":
        return str(p.wire_len)
    if not p.ok:
        return "-"
    ip = p.ip
    if field == "ip_src":
        return str(ipaddress.IPv4Address(ip[12:16]))
    if field == "ip_dst":
        return str(ipaddress.IPv4Address(ip[16:20]))
    if field == "ip_len":
        return str(struct.unpack_from("!H", ip, 2)[0])
    if field == "ip_capture_len":
        return str(min(len(ip), struct.unpack_from("!H", ip, 2)[0]))
    if field == "ip_proto":
        return {PROTO_TCP: "T", PROTO_UDP: "U", PROTO_ICMP: "I"}.get(p.proto, str(p.proto))
    if field == "ip_hl":
        return str(p.hl)
    if field == "ip_id":
        return str(struct.unpack_from("!H", ip, 4)[0])
    if field == "ip_tos":
        return str(ip[1])
    if field == "ip_dscp":
        return str(ip[1] >> 2)
    if field == "ip_ecn":
        return ECN_NAMES[ip[1] & 3]
    if field == "ip_ttl":
        return str(ip[8])
    if field == "ip_sum":
        return str(struct.unpack_from("!H", ip, 10)[0])
    if field == "ip_frag":
        if p.frag & 0x3FFF == 0 or p.frag & 0x3FFF == 0x4000:
            return "!" if p.frag & 0x4000 else "."
        return "F" if p.first else "f"
    if field == "ip_fragoff":
        return str((p.frag & 0x1FFF) * 8) + ("+" if p.frag & 0x2000 else "") + \
            ("!" if p.frag & 0x4000 else "")
    if field == "ip_opt":
        return "." if p.hl == 20 else ip[20:p.hl].hex()
    tr = p.tr
    if field in ("sport", "dport"):
        if p.proto not in (PROTO_TCP, PROTO_UDP) or not p.transport_fits(4):
            return "-"
        return str(struct.unpack_from("!H", tr, 0 if field == "sport" else 2)[0])
    if field.startswith("tcp_"):
        if p.proto != PROTO_TCP:
            return "-"
        need = {"tcp_seq": 8, "tcp_ack": 12, "tcp_off": 13, "tcp_flags": 14, "tcp_window": 16,
                "tcp_urp": 20, "tcp_opt": 20}[field]
        if not p.transport_fits(need):
            return "-"
        if field == "tcp_seq":
            return str(struct.unpack_from("!I", tr, 4)[0])
        if field == "tcp_ack":
            return str(struct.unpack_from("!I", tr, 8)[0])
        if field == "tcp_off":
            return str((tr[12] >> 4) * 4)
        if field == "tcp_flags":
            v = tr[13] | ((tr[12] & 1) << 8)
            return "".join(c for k, c in enumerate(TCP_FLAG_LETTERS) if v >> k & 1) or "."
        if field == "tcp_window":
            return str(struct.unpack_from("!H", tr, 14)[0])
        if field == "tcp_urp":
            return str(struct.unpack_from("!H", tr, 18)[0])
        if field == "tcp_opt":
            return _tcp_opt_text(tr[20:(tr[12] >> 4) * 4])
    if field == "udp_len":
        if p.proto != PROTO_UDP or not p.transport_fits(6):
            return "-"
        return str(struct.unpack_from("!H", tr, 4)[0])
    if field.startswith("icmp_"):
        if p.proto != PROTO_ICMP or not p.transport_fits(2):
            return "-"
        if field == "icmp_type":
            return str(tr[0])
        if field == "icmp_code":
            return str(tr[1])
        if field == "icmp_type_name":
            return ICMP_NAMES.get(tr[0], str(tr[0]))
        if not p.transport_fits(8) or tr[0] not in (0, 8, 13, 14, 15, 16, 17, 18):
            return "-"
        if field == "icmp_flowid":
            return str(struct.unpack_from("!H", tr, 4)[0])
        if field == "icmp_seq":
            return str(struct.unpack_from("!H", tr, 6)[0])
    if field == "payload":
        return quote_payload(p.payload())
    if field == "payload_len":
        ip_len = struct.unpack_from("!H", ip, 2)[0]
        return str(len(p.payload()) + max(0, ip_len - len(ip)))
    return "-"
