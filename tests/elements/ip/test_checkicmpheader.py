"""CheckICMPHeader: ICMP with a right checksum passes; the rest goes to output 1."""


def test_icmp_checksums_are_checked(make_router, tmp_path):
    src = tmp_path / "in"
    src.write_text("!data src dst proto icmp_type\n1.0.0.1 1.0.0.2 I 8\n1.0.0.1 1.0.0.2 U -\n")
    r = make_router(f"FromIPSummaryDump({src}, STOP true, CHECKSUM true) -> CheckIPHeader -> "
                    "c :: CheckICMPHeader -> good :: Counter -> Discard; c[1] -> bad :: Counter "
                    "-> Discard;\n"
                    f"FromIPSummaryDump({src}, STOP true) -> SetIPChecksum -> CheckIPHeader -> "
                    "c2 :: CheckICMPHeader -> Discard")
    r.run(duration=10)
    assert (r.element("good").count, r.element("bad").count) == (1, 1)
    assert r.element("c2").read("drops") == "2"      # ICMP checksum left zero, and the UDP one
