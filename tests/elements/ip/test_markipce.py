"""MarkIPCE: ECN-capable packets marked CE; others dropped unless FORCE."""


def _run(make_router, tmp_path, element):
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_text("!data src ip_ecn\n1.0.0.1 no\n1.0.0.2 ect1\n1.0.0.3 ect2\n1.0.0.4 ce\n")
    r = make_router(f"FromIPSummaryDump({src}, STOP true, CHECKSUM true) -> CheckIPHeader -> "
                    f"m :: {element} -> CheckIPHeader -> ToIPSummaryDump({out}, FIELDS src ip_ecn)")
    r.run(duration=10)
    r.cleanup()
    return r, [ln for ln in out.read_text().splitlines() if ln[0] != "!"]


def test_not_ecn_capable_is_dropped(make_router, tmp_path):
    r, lines = _run(make_router, tmp_path, "MarkIPCE")
    assert lines == ["1.0.0.2 ce", "1.0.0.3 ce", "1.0.0.4 ce"]
    assert r.element("m").read("drops") == "1"


def test_force_marks_everything_with_a_right_checksum(make_router, tmp_path):
    _, lines = _run(make_router, tmp_path, "MarkIPCE(FORCE true)")
    assert lines == ["1.0.0.1 ce", "1.0.0.2 ce", "1.0.0.3 ce", "1.0.0.4 ce"]
