"""Script and DriverManager: instructions, expressions, packets, and the driver's stop."""
import pytest

from vforward.graph import GraphError, build_graph
from vforward.elements.standard.script_expand import FUNCTIONS, expand, unquote, words


def _run(make_router, text, duration=10):
    r = make_router(text, n_slots=256)
    code = r.run(duration=duration)
    return r, code


def test_functions_compute_as_clicks():
    assert FUNCTIONS["add"](["1", "2", "3"]) == "6"
    assert FUNCTIONS["sub"](["10", "4"]) == "6"
    assert FUNCTIONS["div"](["7", "2"]) == "3.5" and FUNCTIONS["idiv"](["7", "2"]) == "3"
    assert FUNCTIONS["mod"](["-7", "3"]) == "-1"
    assert FUNCTIONS["eq"](["3", "3.0"]) == "true" and FUNCTIONS["lt"](["b", "a"]) == "false"
    assert FUNCTIONS["if"](["false", "x", "y"]) == "y"
    assert FUNCTIONS["in"](["b", "a", "b"]) == "true"
    assert FUNCTIONS["sprintf"](['"%d-%s"', "4", "x"]) == "4-x"


def test_expansion_nests_and_respects_single_quotes():
    vars_ = {"i": "2"}
    call = lambda text: FUNCTIONS[words(text)[0]](words(text)[1:])
    assert expand("$(add $i $(mul $i 3))", vars_.get, call) == "8"
    assert expand("'$i' \"$i\" ${i} $nope", vars_.get, call) == "'$i' \"2\" 2 $nope"
    assert unquote('"a b" c') == "a b c"


def test_driver_manager_reads_writes_and_stops(make_router, capfd):
    _run(make_router, "Idle -> s :: SetIPDSCP(DSCP 10) -> Idle;\n"
                      "DriverManager(read s.dscp, write s.dscp 2, read s.dscp, stop)")
    assert capfd.readouterr().err == "s.dscp:\n10\ns.dscp:\n2\n"


def test_a_stop_request_advances_the_driver_instead_of_stopping(make_router, capfd):
    r, _ = _run(make_router, "src :: InfiniteSource(LIMIT 5, BURST 1, STOP true) -> c :: Counter "
                             "-> Discard;\nDriverManager(pause, print \"count $(c.count)\", "
                             "write src.reset, write src.limit 2, pause, stop)")
    out = capfd.readouterr().out
    assert out == "count 5\n"
    assert r.element("c").count == 7       # the source was restarted once, for 2 more


def test_timed_waits_run_on_the_loops_clock(make_router, capfd):
    r, _ = _run(make_router, "DriverManager(set t0 $(now), wait 0.2s, "
                             "print $(gt $(sub $(now) $t0) 0.15), stop)")
    assert capfd.readouterr().out == "true\n"


def test_loops_and_labels(make_router, capfd):
    _run(make_router, "Script(init i 0, label top, set i $(add $i 1), goto top $(lt $i 5), "
                      "print $i);\nDriverManager(wait 0.05s, stop)")
    assert capfd.readouterr().out == "5\n"


def test_packet_script_sends_each_packet_where_return_says(make_router, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_text("!data ip_src link\n1.0.0.1 0\n1.0.0.2 1\n1.0.0.3 2\n")
    r = make_router(f"FromIPSummaryDump({src}, STOP true) -> ps :: PaintSwitch;\n"
                    f"t :: ToIPSummaryDump({out}, FIELDS ip_src paint);\n"
                    "ps[0] -> Script(TYPE PACKET, end) -> Paint(7) -> t;\n"
                    "ps[1] -> s :: Script(TYPE PACKET, return $(add $input 1)) -> Paint(8) -> t;\n"
                    "s[1] -> Paint(9) -> t;\n"
                    "ps[2] -> Script(TYPE PACKET, exit) -> Paint(10) -> t;", n_slots=256)
    r.run(duration=10)
    r.cleanup()
    lines = [ln for ln in out.read_text().splitlines() if ln[0] != "!"]
    assert lines == ["1.0.0.1 7", "1.0.0.2 9"]      # exit drops the third


def test_exported_variables_are_handlers(make_router):
    r = make_router("s :: Script(TYPE PASSIVE, export n 4, set n $(add $n 1))", n_slots=64)
    r.initialize()
    s = r.element("s")
    assert s.read("n") == "4"
    s.write("run", "")
    assert s.read("n") == "5" and s.read("add", "2 2") == "4"


def test_bad_instruction_and_label_are_refused_where_they_stand():
    with pytest.raises(GraphError, match="syntax error at 'jump'"):
        build_graph("Script(jump x)")
    with pytest.raises(GraphError, match="no such label 'nowhere'"):
        build_graph("Script(goto nowhere)")
    with pytest.raises(GraphError, match="bad TYPE"):
        build_graph("Script(TYPE SOMETIMES)")
