"""Every error names file:line:column and says what was expected."""
import pytest

from vforward.config import ConfigError, Location, did_you_mean, parse_config


def error(text, **kw):
    with pytest.raises(ConfigError) as info:
        parse_config(text, filename="r.click", **kw)
    err = info.value
    assert err.loc is not None and str(err) == f"{err.loc}: {err.message}"
    return err


def at(err):
    return (err.loc.line, err.loc.column)


# -- ConfigError, Location, did_you_mean -------------------------------------

def test_location_str():
    assert str(Location("r.click", 3, 14)) == "r.click:3:14"


def test_config_error_str_with_and_without_location():
    assert str(ConfigError("boom", Location("f", 1, 2))) == "f:1:2: boom"
    err = ConfigError("boom")
    assert str(err) == "boom" and err.loc is None and err.message == "boom"


def test_did_you_mean():
    assert did_you_mean("Countr", ["Counter", "Queue"]) == "Counter"
    assert did_you_mean("counter", ["Counters", "Counter"]) == "Counter"   # case-insensitive wins
    assert did_you_mean("Zebra", ["Counter", "Queue"]) is None
    assert did_you_mean("x", []) is None
    assert did_you_mean("q", iter(["Q"])) == "Q"


# -- syntax ------------------------------------------------------------------

def test_missing_arrow_after_element():
    err = error("a :: Idle\nb :: Idle\na -> b ! c")
    assert at(err) == (3, 8)
    assert "expected '->' or ';' after element 'b'" in err.message and "'!'" in err.message


def test_arrow_without_target():
    err = error("a :: Idle; a -> ;")
    assert at(err) == (1, 17) and "expected a name, '{' or '(' after '->'" in err.message


def test_unclosed_config_names_the_parenthesis():
    err = error("a :: Idle\nb :: Queue(10,\n  20")
    assert at(err) == (2, 11) and "'(' is never closed" in err.message and "')'" in err.message


def test_unclosed_compound_names_the_brace():
    err = error("elementclass C {\n input -> output\n")
    assert at(err) == (1, 16) and "'{' is never closed" in err.message


def test_unterminated_string():
    err = error('a :: Print("oops)\n')
    assert at(err) == (1, 12) and "unterminated string" in err.message


def test_unterminated_comment():
    err = error("a :: Idle /* forever")
    assert at(err) == (1, 11) and "'/*'" in err.message


def test_port_not_an_integer():
    err = error("a :: Tee; a[x] -> Discard")
    assert at(err) == (1, 13) and "port number must be a nonnegative integer, not 'x'" in err.message


def test_empty_port_brackets():
    err = error("a :: Tee; a[] -> Discard")
    assert "expected a port number" in err.message


def test_elementclass_needs_a_name():
    err = error("elementclass { input -> output }")
    assert at(err) == (1, 14) and "expected a name after 'elementclass'" in err.message


def test_unexpected_end_of_file():
    err = error("a :: Idle ->")
    assert "unexpected end of file" in err.message


def test_output_port_at_end_of_chain():
    err = error("a :: Tee; a -> b :: Idle [1]")
    assert at(err) == (1, 27) and "connects to nothing" in err.message


# -- names -------------------------------------------------------------------

def test_redeclared_element_names_both_places():
    err = error("a :: Idle\n\n  a :: Queue")
    assert at(err) == (3, 3) and err.message == ("redeclaration of element 'a'\n"
                                                 "r.click:1: element 'a' previously declared here")


def test_undeclared_element_suggests_a_declared_name():
    err = error("counter :: Counter; src :: Idle\nsrc -> countr")
    assert at(err) == (2, 8) and err.message == "element 'countr' is not declared; did you mean 'counter'?"


def test_undeclared_element_without_a_close_name():
    err = error("src :: Idle; src -> zzz")
    assert "element 'zzz' is not declared" in err.message and "zzz :: Class" in err.message


def test_config_on_element_reference():
    err = error("a :: Idle; a(5) -> a")
    assert at(err) == (1, 13) and "declared at r.click:1:1" in err.message


def test_input_outside_compound():
    err = error("input -> Discard")
    assert at(err) == (1, 1) and "only inside a compound" in err.message


def test_input_declared_inside_compound():
    err = error("elementclass C { input :: Idle }")
    assert at(err) == (1, 18) and "reserved" in err.message


def test_all_digit_element_name():
    err = error("1 :: Idle")
    assert "all-digit" in err.message


def test_component_name_clashes_with_top_level_name():
    err = error("c/x :: Idle; c :: { input -> x :: Counter -> output }")
    assert "'c/x' is used twice" in err.message


# -- connections -------------------------------------------------------------

def test_many_to_many_needs_double_arrow():
    err = error("a, b, c, d :: Idle; a, b -> c, d")
    assert at(err) == (1, 26) and "use '=>'" in err.message


def test_double_arrow_count_mismatch():
    err = error("a, b, c, d, e :: Idle; a, b => c, d, e")
    assert "2 outputs and 3 inputs" in err.message


def test_compound_port_out_of_range():
    err = error("elementclass C { input -> output } a :: Idle; a -> [1] c :: C -> a")
    assert at(err) == (1, 49) and "'c' (elementclass 'C') has 1 input, so it has no input port 1" in err.message


def test_compound_uses_pseudo_element_backwards():
    err = error("elementclass C { output -> Idle -> input }")
    assert "wrong way round" in err.message


def test_compound_port_gap():
    err = error("elementclass C { input[1] -> output }")
    assert at(err) == (1, 16) and "uses input 1 but never input 0" in err.message


# -- compounds ---------------------------------------------------------------

def test_recursive_elementclass():
    err = error("elementclass Loop {\n  input -> Loop -> output\n}")
    assert at(err) == (2, 12) and "'Loop' uses itself" in err.message


def test_recursive_elementclass_through_nested_class():
    err = error("elementclass A { elementclass B { input -> A -> output } input -> B -> output }")
    assert "'A' uses itself" in err.message


def test_wrong_number_of_compound_arguments():
    err = error("elementclass C { $a, $b | input -> Paint($a, $b) -> output }\nx :: C(1)")
    assert at(err) == (2, 1)
    assert "'x' (elementclass 'C') takes 2 positional arguments ($a, $b) but was given 1" in err.message


def test_arguments_to_compound_without_formals():
    err = error("elementclass C { input -> output } x :: C(1)")
    assert "takes 0 positional arguments (none)" in err.message


def test_unknown_compound_keyword():
    err = error("elementclass C { $a, BURST $b | input -> output }\nx :: C(1, BRUST 2)")
    assert at(err) == (2, 1) and "no keyword parameter BRUST; did you mean BURST?" in err.message


def test_missing_compound_keyword():
    err = error("elementclass C { BURST $b | input -> output } x :: C")
    assert "needs the keyword argument BURST" in err.message


def test_repeated_compound_keyword():
    err = error("elementclass C { BURST $b | input -> output } x :: C(BURST 1, BURST 2)")
    assert "keyword BURST twice" in err.message


def warning(text):
    from vforward.config import parse_config
    flat = parse_config(text, "t.click")
    assert len(flat.warnings) == 1
    return flat, flat.warnings[0]


def test_undefined_formal_inside_compound_is_left_with_a_warning():
    flat, err = warning("elementclass C { $a |\n  input -> Paint($b) -> output }\nx :: C(1)")
    assert at(err) == (2, 18) and "'$b' is not defined" in err.message and "$a" in err.message
    assert [e.config for e in flat.elements] == ["$b"]


def test_duplicate_formal():
    err = error("elementclass C { $a, $a | input -> output }")
    assert "'$a' is declared twice" in err.message


# -- variables ---------------------------------------------------------------

def test_undefined_variable_warning_points_at_the_dollar():
    flat, err = warning("define($DEV eth0)\nx :: FromDevice($DVE)")
    assert at(err) == (2, 17) and err.message.startswith("variable '$DVE' is not defined; did you mean '$DEV'?")
    assert flat.elements[0].config == "$DVE"


def test_undefined_variable_warning_tells_how_to_define_it():
    flat, err = warning("x :: FromDevice(${IFACE})")
    assert "define($IFACE value)" in err.message and "IFACE=value" in err.message
    assert flat.elements[0].config == "${IFACE}"


def test_script_keeps_its_own_variables_without_a_warning():
    from vforward.config import parse_config
    flat = parse_config("s :: Script(set x 1, print $x)\nd :: DriverManager(print $y)", "t.click")
    assert flat.warnings == [] and flat.elements[0].config == "set x 1, print $x"


def test_self_referential_define():
    err = error("define($A $B, $B $A) x :: Foo($A)")
    assert "defined in terms of itself" in err.message


def test_variable_defined_twice():
    err = error("define($A 1)\ndefine($A 2)")
    assert at(err) == (2, 8) and "'$A' is defined twice: first at r.click:1:8" in err.message


def test_bad_define_item():
    err = error("define(X 1)")
    assert "'$NAME value'" in err.message


def test_statement_cannot_start_with_arrow():
    err = error("->Null;")
    assert at(err) == (1, 1) and "'->'" in err.message


def test_require_package_is_accepted_with_a_warning():
    from vforward.config import parse_config
    flat = parse_config("require(package fastclassifier) Idle -> Discard", "t.click")
    assert flat.requirements == ["package fastclassifier"]
    assert "loads no Click packages" in flat.warnings[0].message


def test_cpp_line_markers_place_errors_in_the_included_file():
    text = '# 1 "A"\nx :: Idle;\n# 1 "B" 1\nx :: Idle;\n# 3 "A" 2\ny :: Idle;\n'
    err = error(text)
    assert (err.loc.file, err.loc.line) == ("B", 1)
    assert err.message.endswith("\nA:1: element 'x' previously declared here")
