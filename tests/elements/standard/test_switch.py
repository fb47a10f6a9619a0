"""Switch, StaticSwitch, PaintSwitch: every packet to the chosen output."""
import pytest

ROWS = ["1.0.0.1 0", "1.0.0.2 1", "1.0.0.3 2", "1.0.0.4 9"]


def test_paintswitch_sends_by_paint_and_drops_past_the_last_output(make_router, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_text("!data ip_src link\n" + "\n".join(ROWS) + "\n")
    r = make_router(f"FromIPSummaryDump({src}, STOP true) -> ps :: PaintSwitch;\n"
                    f"t :: ToIPSummaryDump({out}, FIELDS ip_src paint);\n"
                    "ps[0] -> Paint(10) -> t; ps[1] -> Paint(11) -> t; ps[2] -> Paint(12) -> t;")
    r.run(duration=10)
    r.cleanup()
    assert [ln for ln in out.read_text().splitlines() if ln[0] != "!"] == \
        ["1.0.0.1 10", "1.0.0.2 11", "1.0.0.3 12"]


def test_switch_changes_output_at_run_time_and_minus_one_drops(make_router):
    r = make_router("s :: InfiniteSource(LIMIT 4, BURST 1) -> sw :: Switch(1); "
                    "sw[0] -> a :: Counter -> Discard; sw[1] -> b :: Counter -> Discard")
    r.run_until_idle()
    assert (r.element("a").count, r.element("b").count) == (0, 4)
    sw = r.element("sw")
    sw.write("switch", "0")
    r.element("s").write("reset", "")
    r.run_until_idle()
    assert r.element("a").count == 4 and sw.read("switch") == "0"
    sw.write("switch", "-1")
    r.element("s").write("reset", "")
    r.run_until_idle()
    assert (r.element("a").count, r.element("b").count) == (4, 4)


def test_staticswitch_has_no_write_handler(make_router):
    r = make_router("InfiniteSource(LIMIT 2) -> sw :: StaticSwitch(1); sw[0] -> Discard; "
                    "sw[1] -> c :: Counter -> Discard")
    r.run_until_idle()
    assert r.element("c").count == 2
    with pytest.raises(KeyError):
        r.element("sw").write("switch", "0")
