"""FromIPSummaryDump and ToIPSummaryDump: lines become packets, packets become lines."""
import pytest

from vforward.elements.analysis.ipsumdump_fields import (PacketInfo, PacketSpec, quote_payload,
                                                         split_line, unparse, unquote_payload)
from vforward.graph import GraphError


def test_fields_survive_a_round_trip(run_summary):
    fields = "ip_src sport ip_dst dport proto ip_ttl ip_id tcp_seq tcp_ack tcp_flags tcp_window"
    rows = ["10.0.0.1 1024 10.0.0.2 80 T 64 7 1000 2000 SA 512",
            "10.0.0.3 53 10.0.0.4 5353 U 1 0 - - - -",
            "10.0.0.5 - 10.0.0.6 - I 9 3 - - - -"]
    assert run_summary("", rows, fields) == rows


def test_synonyms_timestamps_payload_and_direction(run_summary):
    rows = ['1.5 10.0.0.1 10.0.0.2 "hi\\001" >', '2.000001 10.0.0.2 10.0.0.1 "" <']
    out = run_summary("", rows, "ts src dst payload direction",
                      "timestamp ip_src ip_dst payload payload_len link")
    assert out == ['1.500000 10.0.0.1 10.0.0.2 "hi\\001" 3 0',
                   '2.000001 10.0.0.2 10.0.0.1 "" 0 1']


def test_a_longer_ip_len_is_kept_in_the_header_not_the_bytes(run_summary):
    out = run_summary("", ["10.0.0.1 60"], "ip_src ip_len", "ip_src ip_len ip_capture_len")
    assert out == ["10.0.0.1 60 40"]      # 20 IP + 20 TCP bytes captured


def test_checksum_true_makes_packets_checkipheader_accepts(run_summary, tmp_path):
    rows = ["10.0.0.1 10.0.0.2", "10.0.0.3 10.0.0.4"]
    assert run_summary("CheckIPHeader", rows) == []        # checksums left zero: all bad
    src, out = tmp_path / "c.dump", tmp_path / "c.out"
    src.write_text("!data ip_src ip_dst\n" + "\n".join(rows) + "\n")
    from vforward.graph import build_graph
    from vforward.runtime import Router
    r = Router(build_graph(f"FromIPSummaryDump({src}, STOP true, CHECKSUM true) -> CheckIPHeader "
                           f"-> CheckTCPHeader -> ToIPSummaryDump({out})"), n_slots=256)
    r.run(duration=20)
    r.close()
    assert [ln for ln in out.read_text().splitlines() if ln[0] != "!"] == rows


def test_unknown_field_is_refused_with_its_name():
    from vforward.graph import build_graph
    with pytest.raises(GraphError, match="unknown summary dump field 'ip_colour'"):
        build_graph("Idle -> ToIPSummaryDump(x, FIELDS ip_src ip_colour)")


def test_payload_quoting_matches_clicks_octal_escapes():
    assert quote_payload(b'Hi"\x00\\') == '"Hi\\"\\000\\\\"'
    assert unquote_payload('"Hi\\000\\x41\\n"') == b"Hi\x00A\n"
    assert split_line('1.0.0.1 "a b" 3') == ["1.0.0.1", '"a b"', "3"]


def test_tcp_options_and_fragments_unparse_as_click_writes_them():
    spec = PacketSpec()
    for f, v in (("ip_src", "1.0.0.1"), ("tcp_opt", "mss1460,sackok,wscale7"),
                 ("ip_fragoff", "0+"), ("tcp_flags", "S")):
        spec.set(f, v)
    data, _ = spec.build()
    info = PacketInfo(data, 0, 0, len(data))
    assert unparse("tcp_opt", info) == "mss1460;sackok;wscale7"
    assert unparse("ip_frag", info) == "F" and unparse("ip_fragoff", info) == "0+"
    assert unparse("tcp_flags", info) == "S" and unparse("tcp_off", info) == "32"


def test_sack_blocks_read_and_write_in_clicks_form():
    for text, blocks in (("sack1:18", "sack1-18"),
                         ("sack1-10;sack1-18;sack18-20", "sack1-10;sack1-18;sack18-20"),
                         ("sack1-10,sack20-30", "sack1-10;sack20-30"),
                         ("sack1-2;3-4", "sack1-2;sack3-4")):
        spec = PacketSpec()
        spec.set("tcp_opt", text)
        data, _ = spec.build()
        assert unparse("tcp_opt", PacketInfo(data, 0, 0, len(data))) == blocks


def test_non_ip_packets_print_dashes(make_router, tmp_path):
    out = tmp_path / "o"
    r = make_router(f"InfiniteSource(LIMIT 2, STOP true) -> ToIPSummaryDump({out}, "
                    "FIELDS ip_src sport count)")
    r.run(duration=20)
    r.cleanup()
    assert [ln for ln in out.read_text().splitlines() if ln[0] != "!"] == ["- - 1"] * 2


def test_a_timestamp_may_leave_out_its_whole_seconds_or_its_fraction():
    for text, ns in ((".1", 100_000_000), ("5.", 5_000_000_000), ("5.65", 5_650_000_000)):
        spec = PacketSpec()
        spec.set("timestamp", text)
        assert spec.v["ts_ns"] == ns


def test_timing_pushes_packets_at_the_pace_of_their_timestamps(make_router):
    from vforward.element import PUSH_ONLY, Element, register

    class Arrivals(Element):
        """_SumArrivals -- test sink noting the router time each packet arrives"""
        CLASS_NAME = "_SumArrivals"
        PORTS = "1/0"
        PROCESSING = PUSH_ONLY

        def configure(self, args):
            args.finish()
            self.times = []

        def push(self, port, batch):
            self.times += [self.router.now()] * len(batch.idx)
            batch.kill()

    register(Arrivals)
    data = "!data timestamp src dst\\n.5 10.0.0.1 10.0.0.2\\n.5 10.0.0.1 10.0.0.3\\n" \
           ".8 10.0.0.1 10.0.0.4\\n"
    r = make_router(f'FromIPSummaryDump(DATA "{data}", TIMING true, STOP true) -> a :: _SumArrivals')
    r.run(duration=5)
    t = r.element("a").times
    assert len(t) == 3
    assert t[2] - t[0] >= 0.3 - 1e-6 and t[1] - t[0] < 0.2
