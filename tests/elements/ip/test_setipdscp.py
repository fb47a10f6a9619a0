"""SetIPDSCP: DSCP set, ECN kept, checksum right."""


def test_dscp_handler_and_checksum(make_router, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_text("!data src ip_ecn\n1.0.0.1 ect1\n1.0.0.2 ce\n")
    r = make_router(f"FromIPSummaryDump({src}, STOP true, CHECKSUM true) -> CheckIPHeader -> "
                    f"s :: SetIPDSCP(10) -> CheckIPHeader -> ToIPSummaryDump({out}, FIELDS src "
                    "ip_dscp ip_ecn)")
    r.run(duration=10)
    r.cleanup()
    assert [ln for ln in out.read_text().splitlines() if ln[0] != "!"] == \
        ["1.0.0.1 10 ect1", "1.0.0.2 10 ce"]
    s = r.element("s")
    s.write("dscp", "2")
    assert s.read("dscp") == "2"
