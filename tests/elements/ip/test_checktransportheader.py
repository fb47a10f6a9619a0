"""CheckUDPHeader, CheckTCPHeader, SetUDPChecksum, SetTCPChecksum."""


def _lines(make_router, tmp_path, middle, rows, checksum="true"):
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_text("!data src sport dport proto payload\n" + "\n".join(rows) + "\n")
    r = make_router(f"FromIPSummaryDump({src}, STOP true, CHECKSUM {checksum}) -> CheckIPHeader "
                    f"-> {middle} -> ToIPSummaryDump({out}, FIELDS src proto)")
    r.run(duration=10)
    r.cleanup()
    return r, [ln for ln in out.read_text().splitlines() if ln[0] != "!"]


ROWS = ['1.0.0.1 1 2 U "x"', '1.0.0.2 1 2 T "y"', '1.0.0.3 - - I "z"']


def test_each_checker_passes_only_its_protocol(make_router, tmp_path):
    r, lines = _lines(make_router, tmp_path, "c :: CheckUDPHeader", ROWS)
    assert lines == ["1.0.0.1 U"] and r.element("c").read("drops") == "2"
    _, lines = _lines(make_router, tmp_path, "CheckTCPHeader", ROWS)
    assert lines == ["1.0.0.2 T"]


def test_a_wrong_checksum_goes_to_output_1(make_router, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_text("!data src sport dport proto\n1.0.0.1 1 2 T\n")
    r = make_router(f"FromIPSummaryDump({src}, STOP true) -> SetIPChecksum -> c :: CheckTCPHeader "
                    f"-> good :: Counter -> Discard; c[1] -> SetTCPChecksum -> c2 :: CheckTCPHeader "
                    f"-> fixed :: Counter -> Discard")
    r.run(duration=10)
    assert (r.element("good").count, r.element("fixed").count) == (0, 1)


def test_set_udp_checksum_fixes_udp(make_router, tmp_path):
    src = tmp_path / "in"
    src.write_text('!data src sport dport proto payload\n1.0.0.1 1 2 U "x"\n')
    r = make_router(f"FromIPSummaryDump({src}, STOP true) -> SetIPChecksum -> CheckIPHeader -> "
                    "SetUDPChecksum -> CheckUDPHeader -> c :: Counter -> Discard")
    r.run(duration=10)
    assert r.element("c").count == 1
