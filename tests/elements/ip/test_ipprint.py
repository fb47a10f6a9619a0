"""IPPrint: Click's one-line packet descriptions."""
from vforward.elements.ip.ipprint import describe
from vforward.elements.analysis.ipsumdump_fields import PacketSpec


def _packet(**fields):
    spec = PacketSpec()
    for k, v in fields.items():
        spec.set(k, v)
    return spec.build()[0]


def test_tcp_lines_match_clicks_layout(run_summary, capfd):
    rows = ["1.00002 1.0.0.1 1.0.0.2 10 20 T 1500 40 20 A",
            "1.00004 1.0.0.3 1.0.0.4 30 40 T 1000 20 40 SF"]
    run_summary("IPPrint", rows, "timestamp src dst sport dport proto ip_len ip_hl tcp_off tcp_flags")
    assert capfd.readouterr().err.splitlines() == [
        "1.000020: 1.0.0.1.10 > 1.0.0.2.20: . 0:1440(1440,60,1500) ack 0 win 0",
        "1.000040: 1.0.0.3.30 > 1.0.0.4.40: SF 0:942(942,60,1000) win 0"]


def test_udp_icmp_and_options():
    udp = _packet(ip_src="1.0.0.1", ip_dst="1.0.0.2", ip_proto="U", sport="53", dport="9",
                  payload='"abcd"')
    assert describe(udp) == "1.0.0.1.53 > 1.0.0.2.9: udp 12"
    echo = _packet(ip_src="1.0.0.1", ip_dst="1.0.0.2", ip_proto="I", icmp_type="8",
                   icmp_flowid="256", icmp_seq="512")
    assert describe(echo) == "1.0.0.1 > 1.0.0.2: icmp echo (256, 512)"
    frag = _packet(ip_src="1.0.0.1", ip_dst="1.0.0.2", ip_proto="U", ip_fragoff="8+")
    assert describe(frag).endswith("udp (frag 0:0@8+)")


def test_label_tos_and_contents(run_summary, capfd):
    run_summary("IPPrint(x, TIMESTAMP false, TOS true, CONTENTS HEX, MAXLENGTH 4)",
                ["1.0.0.1 1.0.0.2 ect1"], "src dst ip_ecn")
    assert capfd.readouterr().err == "x: tos 1 1.0.0.1.0 > 1.0.0.2.0: . 0:0(0,40,40) win 0\n  45010028\n"


def test_echo_identifier_and_sequence_are_network_order_as_in_todays_click():
    echo = _packet(ip_src="1.0.0.1", ip_dst="1.0.0.2", ip_proto="I", icmp_type="8",
                   icmp_flowid="1", icmp_seq="2")
    hl = (echo[0] & 0x0F) * 4
    assert echo[hl + 4:hl + 8] == bytes((0, 1, 0, 2))       # as Click's FromIPSummaryDump writes
    assert describe(echo) == "1.0.0.1 > 1.0.0.2: icmp echo (1, 2)"
    assert describe(echo, swap=False) == "1.0.0.1 > 1.0.0.2: icmp echo (256, 512)"   # SWAP false
