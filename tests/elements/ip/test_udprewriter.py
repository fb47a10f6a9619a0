"""UDPRewriter and TCPRewriter: IPRewriter under Click's other names."""


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
