"""Hub: a packet leaves on every port but its own."""


def test_each_input_reaches_every_other_output(run_summary, tmp_path, make_router):
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_text("!data link ip_src\n0 1.0.0.0\n1 1.0.0.1\n2 1.0.0.2\n")
    r = make_router(f"FromIPSummaryDump({src}, STOP true) -> p :: PaintSwitch -> h :: Hub "
                    f"-> Paint(0) -> t :: ToIPSummaryDump({out}, FIELDS link ip_src);\n"
                    "p[1] -> [1]h[1] -> Paint(1) -> t; p[2] -> [2]h[2] -> Paint(2) -> t;")
    r.run(duration=10)
    r.cleanup()
    lines = sorted(ln for ln in out.read_text().splitlines() if ln[0] != "!")
    assert lines == sorted(["1 1.0.0.0", "2 1.0.0.0", "0 1.0.0.1", "2 1.0.0.1",
                            "0 1.0.0.2", "1 1.0.0.2"])
    assert r.pool.n_free == r.pool.n_slots     # copies freed, none leaked
