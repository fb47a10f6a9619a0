"""FTPPortMapper with TCPRewriter: PORT commands rewritten to the NAT's mapped
address and port, the data mapping made, and the control flow's sequence
and acknowledgement numbers shifted in both directions."""
from __future__ import annotations

import socket
import struct

import dpkt
import pytest

from vforward.element import PUSH_ONLY, Element, ElementError, register
from vforward.elements.ip.ftpportmapper import parse_port_argument, port_argument

CLIENT, SERVER, NAT = "10.0.0.2", "198.51.100.2", "198.51.100.1"


class _Source(Element):
    """_FTPSource -- test source: pushes IP packets with nh at their start"""
    CLASS_NAME = "_FTPSource"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.nh[batch.idx] = batch.pool.off[batch.idx]
        self.emit(0, batch)


class _Sink(Element):
    """_FTPSink -- test sink keeping the bytes it gets"""
    CLASS_NAME = "_FTPSink"
    PORTS = "1/0"
    PROCESSING = "a/a"

    def configure(self, args):
        args.finish()
        self.frames = []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        batch.kill()

    def take(self):
        out, self.frames = self.frames, []
        return out


register(_Source)
register(_Sink)

CONFIG = """
inside :: _FTPSource; outside :: _FTPSource;
ctl :: TCPRewriter(pattern {nat} 1024-65535# - - 0 1, drop{keywords});
data :: IPRewriter(pattern {nat} 40000-40100# - - 0 1, drop);
inside -> ftp :: FTPPortMapper(ctl, data, 0) -> [0]ctl;
outside -> ftp_out :: FTPPortMapper(ctl, data, 0) -> [1]ctl;
Idle -> [0]data; Idle -> [1]data;
ctl[0] -> out :: _FTPSink; ctl[1] -> back :: _FTPSink;
data[0] -> Discard; data[1] -> Discard;
errors :: _FTPSource -> ICMPRewriter(ctl) -> translated :: _FTPSink;
"""


def segment(src, sport, dst, dport, seq, ack, payload=b"", sack=(), bad_checksum=False):
    opts = b""
    if sack:
        opts = b"\x01\x01" + bytes([5, 2 + 8 * len(sack)]) + b"".join(
            struct.pack("!II", a, b) for a, b in sack)
    tcp = dpkt.tcp.TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags=0x18, opts=opts,
                       off=5 + len(opts) // 4,
                       data=payload)
    ip = dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=6, ttl=64,
                    data=tcp)
    raw = bytearray(bytes(ip))
    if bad_checksum:
        raw[36] ^= 0xFF
    return bytes(raw)


def ip(address):
    return int.from_bytes(socket.inet_aton(address), "big")


def checksums_ok(frame):
    if dpkt.in_cksum(frame[:20]):
        return False
    seg = frame[20:]
    return dpkt.in_cksum(frame[12:20] + struct.pack("!BBH", 0, 6, len(seg)) + seg) == 0


def tcp_of(frame):
    ip = dpkt.ip.IP(frame)
    assert ip.len == len(frame)
    return ip.data


class Ftp:
    """A client behind the NAT talking to an FTP server on port 21."""

    def __init__(self, make_router, keywords=""):
        self.router = make_router(CONFIG.format(nat=NAT, keywords=keywords))
        self.router.initialize()
        self.ctl, self.data = self.router.element("ctl"), self.router.element("data")
        self.ftp = self.router.element("ftp")
        self.out, self.back = self.router.element("out"), self.router.element("back")

    def client(self, seq, ack=0, payload=b"", **kw):
        self.router.element("inside").send([segment(CLIENT, 3000, SERVER, 21, seq, ack,
                                                    payload, **kw)])
        (frame,) = self.out.take()
        return frame

    def server(self, seq, ack=0, payload=b"", **kw):
        self.router.element("outside").send([segment(SERVER, 21, NAT, 1024, seq, ack,
                                                     payload, **kw)])
        (frame,) = self.back.take()
        return frame


@pytest.fixture
def ftp(make_router):
    f = Ftp(make_router)
    f.client(100, 0, b"USER x\r\n")            # the control flow's mapping
    return f


PORT = b"PORT 10,0,0,2,19,136\r\n"              # 10.0.0.2:5000, 22 bytes


def test_a_port_command_names_the_mapped_data_address_and_port(ftp):
    frame = ftp.client(108, 0, PORT)
    tcp = tcp_of(frame)
    assert tcp.data == b"PORT 198,51,100,1,156,64\r\n"     # 198.51.100.1:40000
    assert checksums_ok(frame) and (tcp.sport, tcp.seq) == (1024, 108)
    # the server's data connection (from port 20) comes back to the client's port
    assert ftp.data.read("tcp_lookup", f"{CLIENT} 5000 {SERVER} 20") == f"{NAT} 40000 {SERVER} 20"
    assert ftp.ftp.read("rewritten") == "1" and ftp.ftp.read("malformed") == "0"


def test_later_sequence_numbers_and_the_servers_acks_are_shifted(ftp):
    ftp.client(108, 0, PORT)                    # 22 bytes become 26: +4 from 130 on
    tcp = tcp_of(ftp.client(130, 0, b"LIST\r\n"))
    assert tcp.seq == 134
    # the server acknowledges 140 (its count); the client sent up to 136
    back = ftp.server(7000, 140)
    assert tcp_of(back).ack == 136 and checksums_ok(back)
    # an ack that stops inside the rewritten command is left as it is
    assert tcp_of(ftp.server(7000, 120)).ack == 120
    assert "seq +4" in ftp.ctl.read("tcp_table")


def test_a_retransmitted_port_command_is_rewritten_alike_and_shifts_once(ftp):
    first = ftp.client(108, 0, PORT)
    again = ftp.client(108, 0, PORT)
    assert first == again
    assert tcp_of(ftp.client(130, 0, b"x")).seq == 134
    assert tcp_of(ftp.server(7000, 135)).ack == 131
    assert ftp.data.read("nmappings") == "1"


def test_sack_blocks_of_the_server_are_shifted_back(ftp):
    ftp.client(108, 0, PORT)
    tcp = tcp_of(ftp.server(7000, 100, sack=[(134, 140), (108, 112)]))
    at = tcp.opts.index(b"\x05\x12")
    assert struct.unpack("!IIII", tcp.opts[at + 2:at + 18]) == (130, 136, 108, 112)


def test_a_port_command_from_the_server_shifts_the_reply_direction(ftp):
    # the server's side sends PORT (it may, in FTP's third-party transfers)
    frame = ftp.server(7000, 108, b"PORT 198,51,100,2,7,208\r\n")     # 25 bytes
    tcp = tcp_of(frame)
    # the data flow (198.51.100.2:2000 -> the client at 20) is mapped by data's pattern
    assert tcp.data == b"PORT 198,51,100,1,156,64\r\n" and checksums_ok(frame)
    assert tcp_of(ftp.server(7025, 108)).seq == 7026
    assert tcp_of(ftp.client(108, 7026)).ack == 7025


def test_shrinking_commands_add_up(make_router):
    f = Ftp(make_router)
    f.client(0, 0, b"x")
    long_port = b"PORT 200,200,200,200,200,200\r\n"          # 30 bytes -> 26
    assert tcp_of(f.client(1, 0, long_port)).data == b"PORT 198,51,100,1,156,64\r\n"
    other_port = b"PORT 200,200,200,200,200,201\r\n"
    assert tcp_of(f.client(31, 0, other_port)).data == b"PORT 198,51,100,1,156,65\r\n"
    assert [tcp_of(f.client(s, 0, b"y")).seq for s in (0, 31, 61)] == [0, 27, 53]
    assert [tcp_of(f.server(9, a)).ack for a in (27, 53, 10)] == [31, 61, 10]


@pytest.mark.parametrize("payload", [
    b"PORT 10,0,0,2,19\r\n",                    # five numbers
    b"PORT 10,0,0,256,19,136\r\n",              # a number past 255
    b"PORT 10,0,0,2,19,136",                    # no end of line in the packet
    b"PORT 10,0,0,2,19,x\r\n",                  # not a number
    b"PORT 10,,0,2,19,136\r\n",                 # an empty number
])
def test_malformed_port_commands_are_counted_and_left_alone(ftp, payload):
    sent = segment(CLIENT, 3000, SERVER, 21, 108, 0, payload)
    frame = ftp.client(108, 0, payload)
    assert tcp_of(frame).data == payload and checksums_ok(frame)
    assert frame[20:24] != sent[20:24]          # the rewriter still translated it
    assert ftp.ftp.read("malformed") == "1" and ftp.ftp.read("rewritten") == "0"
    assert tcp_of(ftp.client(130, 0, b"x")).seq == 130
    assert ftp.data.read("nmappings") == "0"


def test_a_port_command_with_a_bad_checksum_is_left_alone(ftp):
    frame = ftp.client(108, 0, PORT, bad_checksum=True)
    assert tcp_of(frame).data == PORT and ftp.ftp.read("malformed") == "1"


def test_other_commands_and_unmapped_flows_pass_unchanged_and_uncounted(make_router):
    f = Ftp(make_router)
    # the first packet of a flow: no control mapping yet when it passes FTPPortMapper
    assert tcp_of(f.client(108, 0, PORT)).data == PORT
    assert tcp_of(f.client(130, 0, b"RETR PORT 1,2,3,4,5,6\r\n")).data.startswith(b"RETR")
    assert f.ftp.read("malformed") == "0" and f.ftp.read("rewritten") == "0"


def test_the_data_flow_takes_the_control_flows_reply_annotation(make_router):
    f = Ftp(make_router, keywords=", REPLY_ANNO PAINT")
    f.client(100, 0, b"USER x\r\n")
    flow, _ = f.ctl.table.find(6, ip(CLIENT), 3000, ip(SERVER), 21)
    f.ctl.table.reply_anno[flow] = 7
    f.client(108, 0, PORT)
    data_flow = f.data.table.live_flows()[0]
    assert f.data.table.reply_anno[data_flow] == 7


def test_parse_port_argument_reads_rfc_959s_form():
    assert parse_port_argument(b"PORT 1,2,3,4,5,6\r\n") == (5, 16, 0x01020304, 0x0506)
    assert parse_port_argument(b"port   1,2,3,4,5,6\n")[2:] == (0x01020304, 0x0506)
    assert parse_port_argument(b"PORTS 1,2,3,4,5,6\r\n") is None
    assert port_argument(0xC6336401, 40000) == b"198,51,100,1,156,64"


@pytest.mark.parametrize("config, message", [
    ("ftp :: FTPPortMapper(data, data, 0)", "is not a TCPRewriter"),
    ("ftp :: FTPPortMapper(ctl, nobody, 0)", "is not an IPRewriter-like element"),
    ("ftp :: FTPPortMapper(ctl, data, 2)", "is not an input of 'data'"),
])
def test_rewriters_are_checked_by_name_and_input(make_router, config, message):
    text = ("ctl :: TCPRewriter(pattern 198.51.100.1 1024-65535 - - 0 1, drop);\n"
            "data :: IPRewriter(pattern 198.51.100.1 1024-65535 - - 0 1, drop);\n"
            "Idle -> [0]ctl; Idle -> [1]ctl; ctl[0] -> Discard; ctl[1] -> Discard;\n"
            "Idle -> [0]data; Idle -> [1]data; data[0] -> Discard; data[1] -> Discard;\n"
            f"Idle -> {config} -> Discard;")
    with pytest.raises(ElementError, match=message):
        make_router(text).initialize()


def test_an_old_segment_repacketised_around_its_command_is_left_alone(ftp):
    ftp.client(108, 0, PORT)                                # +4 from 130
    ftp.client(130, 0, b"PORT 10,0,0,2,19,137\r\n")          # +4 more from 152
    # the first command resent with the next one's bytes after it (a sender may
    # coalesce segments it retransmits): its change would now start at 136, behind 152
    resent = b"PORT 10,0,0,2,19,136\r\nNOOP\r\n"
    frame = ftp.client(108, 0, resent)
    assert tcp_of(frame).data == resent and checksums_ok(frame)
    assert ftp.ftp.read("malformed") == "1" and ftp.ftp.read("rewritten") == "2"
    assert tcp_of(ftp.client(152, 0, b"x")).seq == 160      # the shifts stand


def test_a_port_command_in_a_first_fragment_is_left_alone(ftp):
    frame = bytearray(segment(CLIENT, 3000, SERVER, 21, 108, 0, PORT))
    frame[6] |= 0x20                                        # more fragments follow
    frame[10:12] = b"\0\0"
    frame[10:12] = struct.pack("!H", dpkt.in_cksum(bytes(frame[:20])))
    ftp.router.element("inside").send([bytes(frame)])
    (out,) = ftp.out.take()
    assert PORT in out and ftp.ftp.read("rewritten") == "0"


@pytest.mark.parametrize("through", ["outside", "errors"])
def test_an_icmp_error_quoting_a_shifted_segment_gets_the_clients_own_number(ftp, through):
    """Through the TCPRewriter itself, or through an ICMPRewriter naming it."""
    ftp.client(108, 0, PORT)                                # +4 from 130
    sent = ftp.client(130, 7000, b"LIST\r\n")              # left as seq 134
    assert tcp_of(sent).seq == 134
    # a router on the way says the segment was too big, quoting it as it went
    unreach = dpkt.icmp.ICMP(type=3, code=4, data=dpkt.icmp.ICMP.Unreach(
        data=sent[:20 + 20]))
    error = bytes(dpkt.ip.IP(src=socket.inet_aton("192.0.2.77"), dst=socket.inet_aton(NAT),
                             p=1, ttl=64, data=unreach))
    ftp.router.element(through).send([error])
    sink = ftp.back if through == "outside" else ftp.router.element("translated")
    (back,) = sink.take()
    assert dpkt.in_cksum(back[20:]) == 0 and dpkt.in_cksum(back[:20]) == 0
    quoted = dpkt.ip.IP(back[28:])
    assert socket.inet_ntoa(quoted.src) == CLIENT and quoted.data.sport == 3000
    assert (quoted.data.seq, quoted.data.ack) == (130, 7000)
    # the whole quoted TCP header came back with its checksum right for the original
    original = segment(CLIENT, 3000, SERVER, 21, 130, 7000, b"LIST\r\n")
    assert back[28 + 20:28 + 40] == original[20:40]
