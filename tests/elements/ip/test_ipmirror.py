"""IPMirror: addresses and ports swapped, checksums still right."""


def test_mirror_swaps_and_keeps_checksums(make_router, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_text("!data src sport dst dport proto\n1.0.0.1 10 2.0.0.2 20 U\n"
                   "1.0.0.3 30 2.0.0.4 40 T\n")
    r = make_router(f"FromIPSummaryDump({src}, STOP true, CHECKSUM true) -> CheckIPHeader -> IPMirror "
                    "-> CheckIPHeader -> c :: IPClassifier(udp, tcp); c[0] -> CheckUDPHeader -> t; "
                    f"c[1] -> CheckTCPHeader -> t :: ToIPSummaryDump({out}, FIELDS src sport dst dport)")
    r.run(duration=10)
    r.cleanup()
    assert [ln for ln in out.read_text().splitlines() if ln[0] != "!"] == \
        ["2.0.0.2 20 1.0.0.1 10", "2.0.0.4 40 1.0.0.3 30"]
