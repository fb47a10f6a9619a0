"""StoreIPAddress: at an offset, or into src/dst with the checksum updated."""


def test_offsets_and_header_fields(make_router, capfd):
    r = make_router("InfiniteSource(LIMIT 4, BURST 1, DATA \\<99999999 99999999 99999999 99999999 "
                    "99999999>) -> MarkIPHeader(0) -> SetIPAddress(1.0.0.2) -> rr :: RoundRobinSwitch;"
                    " rr[0] -> StoreIPAddress(0) -> Print(b) -> d :: Discard;"
                    " rr[1] -> StoreIPAddress(1.0.0.3, 4) -> Print(c) -> d;"
                    " rr[2] -> StoreIPAddress(src) -> Print(d) -> d;"
                    " rr[3] -> StoreIPAddress(1.0.0.4, dst) -> Print(f) -> d;")
    r.run_until_idle()
    assert capfd.readouterr().err.splitlines() == [
        "b:   20 | 01000002 99999999 99999999 99999999 99999999",
        "c:   20 | 99999999 01000003 99999999 99999999 99999999",
        "d:   20 | 99999999 99999999 9999cbca 01000002 99999999",
        "f:   20 | 99999999 99999999 9999cbc8 99999999 01000004"]


def test_checksum_stays_valid_for_real_headers(make_router, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_text("!data src dst sport dport proto\n1.0.0.1 1.0.0.2 1 2 U\n")
    r = make_router(f"FromIPSummaryDump({src}, STOP true, CHECKSUM true) -> CheckIPHeader -> "
                    "StoreIPAddress(9.9.9.9, dst) -> CheckIPHeader -> CheckUDPHeader -> "
                    f"ToIPSummaryDump({out}, FIELDS src dst)")
    r.run(duration=10)
    r.cleanup()
    assert out.read_text().splitlines()[-1] == "1.0.0.1 9.9.9.9"
