"""UDPRewriter and TCPRewriter: IPRewriter under Click's other names; ICMPPingRewriter,
with Click 1's (SRC, DST) form."""
from vforward.element import PUSH_ONLY, Element, register


def test_udprewriter_maps_and_reverses(make_router, tmp_path):
    a, b, oa, ob = (tmp_path / n for n in ("a", "b", "oa", "ob"))
    a.write_text("!data src sport dst dport proto\n10.0.0.4 40 2.0.0.1 80 U\n")
    b.write_text("!data src sport dst dport proto\n2.0.0.1 80 1.0.0.1 1024 U\n")
    r = make_router(f"rw :: UDPRewriter(pattern 1.0.0.1 1024-65535# - - 0 1, drop);\n"
                    f"FromIPSummaryDump({a}, STOP true) -> CheckIPHeader(CHECKSUM false) -> [0]rw[0] "
                    f"-> ToIPSummaryDump({oa}, FIELDS src sport dst dport);\n"
                    f"FromIPSummaryDump({b}) -> CheckIPHeader(CHECKSUM false) -> [1]rw[1] "
                    f"-> ToIPSummaryDump({ob}, FIELDS src sport dst dport);")
    r.run(duration=10)
    r.cleanup()
    assert oa.read_text().splitlines()[-1] == "1.0.0.1 1024 2.0.0.1 80"
    assert ob.read_text().splitlines()[-1] == "2.0.0.1 80 10.0.0.4 40"


def test_icmppingrewriter_maps_echo_requests(make_router, tmp_path):
    a, oa = tmp_path / "a", tmp_path / "oa"
    a.write_text("!data src dst proto icmp_type icmp_flowid\n10.0.0.4 2.0.0.1 I 8 7\n")
    r = make_router(f"rw :: ICMPPingRewriter(pattern 1.0.0.1 - - - 0 1, drop);\n"
                    f"FromIPSummaryDump({a}, STOP true, CHECKSUM true) -> CheckIPHeader -> [0]rw[0] "
                    f"-> ToIPSummaryDump({oa}, FIELDS src dst icmp_type);\n"
                    "Idle -> [1]rw[1] -> Discard;")
    r.run(duration=10)
    r.cleanup()
    assert oa.read_text().splitlines()[-1] == "1.0.0.1 2.0.0.1 8"


def test_clicks_udprewriter_keywords_set_the_udp_timeouts():
    from vforward.graph import build_graph
    g = build_graph("rw :: UDPRewriter(drop, TIMEOUT 4, STREAMING_TIMEOUT 5, GUARANTEE 1); "
                    "Idle -> rw -> Discard")
    t = g.elements["rw"].timeouts
    assert (t.udp, t.udp_streaming) == (4.0, 5.0)
    t = build_graph("rw :: UDPRewriter(drop, TIMEOUT 7); Idle -> rw -> Discard").elements["rw"].timeouts
    assert (t.udp, t.udp_streaming) == (7.0, 7.0)


def test_udprewriter_times_tcp_flows_as_udp_ones():
    import numpy as np

    from vforward.graph import build_graph
    g = build_graph("rw :: UDPRewriter(drop, TIMEOUT 4, STREAMING_TIMEOUT 5, GUARANTEE 1); "
                    "Idle -> rw -> Discard")
    rw = g.elements["rw"]
    t = rw.table
    f = t.add(6, (1, 2, 3, 4), (5, 6, 3, 4), 0, 0, 0, 100.0)
    flows = np.array([f])
    assert t.timeouts_of(flows, rw.timeouts)[0] == 4.0        # not TCP_NODATA_TIMEOUT's 300
    assert t.guarantees_of(flows, rw.timeouts)[0] == 1.0
    t.packets[f], t.state[f] = 3, 0xFF
    assert t.timeouts_of(flows, rw.timeouts)[0] == 5.0        # streaming


# -- Click 1's ICMPPingRewriter(SRC, DST) ------------------------------------------------
def _echo(src, dst, ident, icmp_type=8):
    import socket

    import dpkt
    icmp = dpkt.icmp.ICMP(type=icmp_type, data=dpkt.icmp.ICMP.Echo(id=ident, seq=1, data=b"x"))
    return bytes(dpkt.ip.IP(src=socket.inet_aton(src), dst=socket.inet_aton(dst), p=1, ttl=64,
                            data=icmp))


def _echo_fields(frame):
    import socket

    import dpkt
    ip = dpkt.ip.IP(frame)
    assert dpkt.in_cksum(frame[:20]) == 0 and dpkt.in_cksum(frame[20:]) == 0
    return socket.inet_ntoa(ip.src), socket.inet_ntoa(ip.dst), ip.data.type, ip.data.data.id


class _PingSource(Element):
    """_PingSource -- test source: pushes IP packets with nh at their start"""
    CLASS_NAME = "_PingSource"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.nh[batch.idx] = batch.pool.off[batch.idx]
        self.emit(0, batch)


class _PingSink(Element):
    """_PingSink -- test sink keeping the bytes it gets"""
    CLASS_NAME = "_PingSink"
    PORTS = "1/0"
    PROCESSING = "a/a"

    def configure(self, args):
        args.finish()
        self.frames = []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        batch.kill()


register(_PingSource)
register(_PingSink)


def _click1_ping(make_router, outputs=2, inputs=1, args="1.0.0.1, -"):
    """A router with Click 1's ICMPPingRewriter(ARGS): sources in0 (in1), sinks out0 (out1)."""
    text = f"rw :: ICMPPingRewriter({args});\n"
    text += "".join(f"in{i} :: _PingSource -> [{i}]rw;\n" for i in range(inputs))
    text += "".join(f"rw[{i}] -> out{i} :: _PingSink;\n" for i in range(outputs))
    r = make_router(text)
    r.initialize()
    return r


def _send(r, port, *frames):
    """Frames into input port; (output 0's frames, output 1's) of what came out."""
    r.element(f"in{port}").send(list(frames))
    outs = []
    for i in range(2):
        sink = r.element(f"out{i}")
        if sink is None:
            outs.append(None)
            continue
        outs.append([_echo_fields(f) for f in sink.frames])
        sink.frames = []
    return tuple(outs)


def test_click1_ping_form_maps_requests_to_src_with_new_identifiers_and_replies_back(
        make_router, capsys):
    r = _click1_ping(make_router)
    assert ("ICMPPingRewriter(1.0.0.1, -) is Click 1's form; read as today's "
            "ICMPPingRewriter(pattern 1.0.0.1 0-65535# - - 0 1, drop)") in capsys.readouterr().err
    out0, out1 = _send(r, 0, _echo("10.0.0.4", "192.0.2.9", 7), _echo("10.0.0.5", "192.0.2.9", 7))
    assert out0 == [("1.0.0.1", "192.0.2.9", 8, 0), ("1.0.0.1", "192.0.2.9", 8, 1)]
    assert out1 == []
    # the replies, on input 0 too (Click 1's one-input NAT), go back on output 1
    out0, out1 = _send(r, 0, _echo("192.0.2.9", "1.0.0.1", 1, icmp_type=0))
    assert (out0, out1) == ([], [("192.0.2.9", "10.0.0.5", 0, 7)])
    assert r.element("rw").read("mappings").splitlines() == [
        "(10.0.0.4, 192.0.2.9, 7) => (1.0.0.1, 192.0.2.9, 0)",
        "(10.0.0.5, 192.0.2.9, 7) => (1.0.0.1, 192.0.2.9, 1)"]


def test_click1_ping_form_passes_unmapped_replies_on_input_0_and_drops_them_on_input_1(
        make_router):
    r = _click1_ping(make_router, inputs=2)
    stray = _echo("192.0.2.9", "1.0.0.1", 99, icmp_type=0)
    assert _send(r, 0, stray) == ([], [("192.0.2.9", "1.0.0.1", 0, 99)])
    assert _send(r, 1, stray) == ([], [])
    # nor does an unmapped request on input 1 make a mapping
    assert _send(r, 1, _echo("10.0.0.4", "192.0.2.9", 7)) == ([], [])
    assert r.element("rw").read("mappings") == ""


def test_click1_ping_form_with_one_output_sends_everything_there(make_router):
    r = _click1_ping(make_router, outputs=1)
    assert _send(r, 0, _echo("10.0.0.4", "192.0.2.9", 7))[0] == [("1.0.0.1", "192.0.2.9", 8, 0)]
    out0, _ = _send(r, 0, _echo("192.0.2.9", "1.0.0.1", 0, icmp_type=0),
                    _echo("192.0.2.8", "1.0.0.1", 50, icmp_type=0))
    assert out0 == [("192.0.2.9", "10.0.0.4", 0, 7), ("192.0.2.8", "1.0.0.1", 0, 50)]


def test_click1_ping_form_maps_only_icmp_echo(make_router):
    import socket

    import dpkt
    r = _click1_ping(make_router)
    udp = bytes(dpkt.ip.IP(src=socket.inet_aton("10.0.0.4"), dst=socket.inet_aton("192.0.2.9"),
                           p=17, data=dpkt.udp.UDP(sport=5, dport=53, ulen=9, data=b"q")))
    r.element("in0").send([udp])
    assert r.element("out0").frames == [] and r.element("out1").frames == []
    assert r.element("rw").read("nmappings") == "0"


def test_click1_ping_form_takes_addressinfo_names_and_dashes(make_router):
    r = make_router("AddressInfo(ext 198.51.100.7); rw :: ICMPPingRewriter(ext, -);\n"
                    "in0 :: _PingSource -> rw -> out0 :: _PingSink;")
    r.initialize()
    assert _send(r, 0, _echo("10.0.0.4", "192.0.2.9", 3))[0] == [("198.51.100.7", "192.0.2.9",
                                                                   8, 0)]


def test_todays_icmppingrewriter_specs_are_not_read_as_click1s_form():
    from vforward.graph import build_graph
    g = build_graph("rw :: ICMPPingRewriter(pattern 1.0.0.1 - - - 0 1, drop); Idle -> [0]rw; "
                    "Idle -> [1]rw; rw[0] -> Discard; rw[1] -> Discard")
    assert g.elements["rw"].click1 is False
