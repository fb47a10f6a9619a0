"""Anonymous naming, connection lists, compound expansion, variables."""
import pytest

from vforward.config import ConfigError, parse_config


def names(flat):
    return [e.name for e in flat.elements]


def decls(flat):
    return {e.name: (e.class_name, e.config) for e in flat.elements}


def edges(flat):
    return {(c.from_name, c.from_port, c.to_name, c.to_port) for c in flat.connections}


# -- anonymous elements ----------------------------------------------------------

def test_anonymous_elements_count_every_declaration():
    # Click: Class@N with N the element's position in the file, from 1.
    flat = parse_config("FromDevice(eth0) -> Queue -> ToDevice(eth0)")
    assert names(flat) == ["FromDevice@1", "Queue@2", "ToDevice@3"]
    flat = parse_config("a :: Idle; b :: Idle; a -> Counter -> b; a[1] -> Counter -> b")
    assert names(flat) == ["a", "b", "Counter@3", "Counter@4"]


def test_anonymous_name_skips_names_already_declared():
    flat = parse_config("Idle -> Counter@2 :: Counter; Counter@2 -> Counter -> Discard")
    assert names(flat) == ["Idle@1", "Counter@2", "Counter@3", "Discard@4"]


def test_bare_capitalised_name_is_anonymous_but_declared_name_is_reference():
    flat = parse_config("Tee :: Tee(2); Tee -> Discard; Tee[1] -> Discard")
    assert names(flat) == ["Tee", "Discard@2", "Discard@3"]


def test_lowercase_class_with_config_is_anonymous():
    assert names(parse_config("a :: Idle; a -> myclass(1)")) == ["a", "myclass@2"]


def test_forward_reference_to_later_declaration():
    flat = parse_config("a -> b; a :: Idle; b :: Discard")
    assert edges(flat) == {("a", 0, "b", 0)}


# -- connection lists (Click 2.1) -----------------------------------------------------

def test_fan_out_and_fan_in():
    flat = parse_config("a, b, c :: Idle; a -> b, c; b, c -> a")
    assert edges(flat) == {("a", 0, "b", 0), ("a", 0, "c", 0), ("b", 0, "a", 0), ("c", 0, "a", 0)}


def test_port_forms_in_lists():
    flat = parse_config("s :: Tee(2); x :: Idle; s -> [0]x, [1]x; s[0], s[1] -> [2]x")
    assert edges(flat) == {("s", 0, "x", 0), ("s", 0, "x", 1), ("s", 0, "x", 2), ("s", 1, "x", 2)}


def test_port_list_inside_brackets():
    flat = parse_config("s :: Tee(3); d :: Idle; s[0, 2] -> d; d -> [1, 3]s")
    assert edges(flat) == {("s", 0, "d", 0), ("s", 2, "d", 0), ("d", 0, "s", 1), ("d", 0, "s", 3)}


def test_double_arrow_connects_pairwise():
    flat = parse_config("a, b, c, d :: Idle; a, b => c, d")
    assert edges(flat) == {("a", 0, "c", 0), ("b", 0, "d", 0)}


def test_double_arrow_spreads_a_lone_element_over_ports():
    flat = parse_config("t :: Tee(2); x, y, m :: Idle; t => x, y; x, y => m")
    assert edges(flat) == {("t", 0, "x", 0), ("t", 1, "y", 0), ("x", 0, "m", 0), ("y", 0, "m", 1)}


def test_list_in_middle_of_chain():
    flat = parse_config("a, b, c, d :: Idle; a -> b, c -> d")
    assert edges(flat) == {("a", 0, "b", 0), ("a", 0, "c", 0), ("b", 0, "d", 0), ("c", 0, "d", 0)}


def test_anonymous_elements_in_lists():
    flat = parse_config("t :: Tee(2); t -> Counter, Discard")
    assert edges(flat) == {("t", 0, "Counter@2", 0), ("t", 0, "Discard@3", 0)}


# -- compound elements ---------------------------------------------------------------

def test_compound_expands_with_prefixed_names():
    flat = parse_config("""
        elementclass MyQueue { input -> q :: Queue(10) -> Shaper(1000) -> output }
        src :: Idle; dst :: Discard
        src -> mq :: MyQueue -> dst
    """)
    assert names(flat) == ["src", "dst", "mq/q", "mq/Shaper@2"]
    assert edges(flat) == {("src", 0, "mq/q", 0), ("mq/q", 0, "mq/Shaper@2", 0), ("mq/Shaper@2", 0, "dst", 0)}
    assert flat.elements[2].loc.line == 2     # components keep their place in the definition


def test_anonymous_compound_class_use_is_named_class_at_n():
    flat = parse_config("elementclass C { input -> Counter -> output } a :: Idle -> C -> a")
    assert names(flat) == ["a", "C@2/Counter@1"]
    assert edges(flat) == {("a", 0, "C@2/Counter@1", 0), ("C@2/Counter@1", 0, "a", 0)}


def test_inline_anonymous_compound():
    flat = parse_config("a :: Idle; b :: Discard; a -> { input -> x :: Counter -> output } -> b")
    assert names(flat) == ["a", "b", "@3/x"]
    assert edges(flat) == {("a", 0, "@3/x", 0), ("@3/x", 0, "b", 0)}


def test_compound_multiple_ports():
    flat = parse_config("""
        c :: { input -> X -> output; input[1] -> Y -> [1]output }
        a, b, d, e :: Idle
        a -> c -> b;  d -> [1]c[1] -> e
    """)
    assert edges(flat) == {("a", 0, "c/X@1", 0), ("c/X@1", 0, "b", 0),
                           ("d", 0, "c/Y@2", 0), ("c/Y@2", 0, "e", 0)}


def test_compound_passthrough_and_fan_out():
    flat = parse_config("""
        elementclass Split { input -> output; input -> Counter -> [1]output }
        a, b, c :: Idle
        a -> s :: Split; s[0] -> b; s[1] -> c
    """)
    assert edges(flat) == {("a", 0, "b", 0), ("a", 0, "s/Counter@1", 0), ("s/Counter@1", 0, "c", 0)}


def test_passthrough_chain_of_compounds():
    flat = parse_config("elementclass P { input -> output } a, b :: Idle; a -> P -> P -> b")
    assert edges(flat) == {("a", 0, "b", 0)}
    assert names(flat) == ["a", "b"]


def test_unconnected_compound_ports_vanish():
    flat = parse_config("{ input -> X -> output } -> b :: Discard")
    assert edges(flat) == {("@1/X@1", 0, "b", 0)}


def test_fan_in_into_compound():
    flat = parse_config("elementclass F { input -> c :: Counter -> output } a, b, d :: Idle; a, b -> f :: F -> d")
    assert edges(flat) == {("a", 0, "f/c", 0), ("b", 0, "f/c", 0), ("f/c", 0, "d", 0)}


def test_nested_compounds_and_names():
    flat = parse_config("""
        elementclass Inner { $n | input -> c :: Counter($n) -> output }
        elementclass Outer { $n |
            input -> i1 :: Inner($n) -> i2 :: Inner(${n}0) -> output
        }
        a, b :: Idle
        a -> o :: Outer(7) -> b
    """)
    assert [(e.name, e.config) for e in flat.elements][2:] == [("o/i1/c", "7"), ("o/i2/c", "70")]
    assert edges(flat) == {("a", 0, "o/i1/c", 0), ("o/i1/c", 0, "o/i2/c", 0), ("o/i2/c", 0, "b", 0)}


def test_elementclass_defined_inside_compound_sees_outer_parameters():
    flat = parse_config("""
        elementclass Outer { $x |
            elementclass Inner { $y | input -> Paint($x, $y) -> output }
            input -> Inner(2) -> output
        }
        a :: Idle -> Outer(1) -> a
    """)
    assert decls(flat)["Outer@2/Inner@1/Paint@1"] == ("Paint", "1, 2")


def test_compound_formals_positional_and_keyword():
    flat = parse_config("""
        elementclass Shape { $rate, BURST $b, DELAY $d |
            input -> Shaper($rate, BURST $b) -> Delay($d) -> output }
        a :: Idle -> s :: Shape(DELAY 5ms, 1000, BURST 20) -> a
    """)
    assert decls(flat)["s/Shaper@1"] == ("Shaper", "1000, BURST 20")
    assert decls(flat)["s/Delay@2"] == ("Delay", "5ms")


def test_compound_without_inputs_or_outputs():
    flat = parse_config("elementclass Src { Idle -> output } elementclass Sink { input -> Discard } Src -> Sink")
    assert edges(flat) == {("Src@1/Idle@1", 0, "Sink@2/Discard@1", 0)}


def test_elementclass_uses_earlier_class_of_same_name():
    # Click's lexical scoping: the inner 'F' is the F defined before.
    flat = parse_config("""
        elementclass F { input -> X -> output }
        elementclass F { input -> F -> Y -> output }
        a :: Idle -> F -> a
    """)
    assert names(flat) == ["a", "F@2/F@1/X@1", "F@2/Y@2"]


def test_elementclass_only_sees_classes_defined_before_it():
    flat = parse_config("""
        elementclass A { input -> B -> output }
        elementclass B { input -> C -> output }
        a :: Idle -> A -> a
    """)
    assert decls(flat)["A@2/B@1"] == ("B", "")


def test_elementclass_synonym():
    flat = parse_config("""
        elementclass Wrap { input -> Counter -> output }
        elementclass W2 Wrap
        elementclass MyQueue Queue
        a :: Idle -> W2 -> MyQueue(5) -> a
    """)
    assert decls(flat) == {"a": ("Idle", ""), "W2@2/Counter@1": ("Counter", ""), "MyQueue@3": ("Queue", "5")}


def test_same_compound_instantiated_twice_is_independent():
    flat = parse_config("elementclass C { $v | input -> Paint($v) -> output } a :: Idle -> C(1) -> C(2) -> a")
    assert decls(flat)["C@2/Paint@1"] == ("Paint", "1")
    assert decls(flat)["C@3/Paint@1"] == ("Paint", "2")


def test_declaration_list_of_compound_instances():
    flat = parse_config("elementclass C { input -> Counter -> output } x, y :: C; x -> y")
    assert edges(flat) == {("x/Counter@1", 0, "y/Counter@1", 0)}


# -- variables ----------------------------------------------------------------------

def test_define_and_substitution_forms():
    flat = parse_config("define($DEV eth0, $Q 10) f :: FromDevice($DEV) -> Queue(${Q}0) -> ToDevice($DEV)")
    assert decls(flat)["f"] == ("FromDevice", "eth0")
    assert decls(flat)["Queue@2"] == ("Queue", "100")
    assert flat.defines == {"DEV": "eth0", "Q": "10"}


def test_define_applies_to_the_whole_file():
    flat = parse_config("x :: Queue($N); define($N 5)")
    assert flat.elements[0].config == "5"


def test_command_line_defines_override_file():
    flat = parse_config("define($DEV eth0) f :: FromDevice($DEV)", defines={"DEV": "tap3", "EXTRA": "1"})
    assert flat.elements[0].config == "tap3"
    assert flat.defines == {"DEV": "tap3", "EXTRA": "1"}


def test_command_line_define_without_file_define():
    assert parse_config("f :: FromDevice($IF)", defines={"IF": "eth1"}).elements[0].config == "eth1"


def test_define_values_may_use_other_variables():
    flat = parse_config("define($NET 10.0.0, $ADDR $NET.1) x :: Foo($ADDR)")
    assert flat.elements[0].config == "10.0.0.1"


def test_variables_in_quotes_and_comments():
    flat = parse_config("""define($X 1) x :: Foo("$X", '$X', $X /* $UNDEFINED */, \\$X)""")
    assert flat.elements[0].config == """"1", '$X', 1  , \\1"""


def test_dollar_without_a_name_is_left_alone():
    assert parse_config("x :: Foo(costs $ 5, $)").elements[0].config == "costs $ 5, $"


def test_compound_parameter_shadows_global_define():
    flat = parse_config("define($v outer) elementclass C { $v | input -> Paint($v) -> output } "
                        "a :: Idle -> C(inner) -> Paint($v) -> a")
    assert decls(flat)["C@2/Paint@1"] == ("Paint", "inner")
    assert decls(flat)["Paint@3"] == ("Paint", "outer")


def test_compound_sees_global_defines_and_local_defines():
    flat = parse_config("define($G g) elementclass C { define($L l) input -> Paint($G, $L) -> output } "
                        "a :: Idle -> C -> a")
    assert decls(flat)["C@2/Paint@1"] == ("Paint", "g, l")


def test_compound_arguments_are_expanded_in_caller_scope():
    flat = parse_config("define($R 99) elementclass C { $r | input -> Paint($r) -> output } a :: Idle -> C($R) -> a")
    assert decls(flat)["C@2/Paint@1"] == ("Paint", "99")


def test_compound_argument_with_quoted_comma():
    flat = parse_config("""elementclass C { $a, $b | input -> P($b) -> output } a :: Idle -> C("x, y", z) -> a""")
    assert decls(flat)["C@2/P@1"] == ("P", "z")


@pytest.mark.parametrize("text", ["a :: Idle; a -> a", "Idle -> Discard", "x :: Idle -> x"])
def test_small_configs_parse(text):
    assert parse_config(text).connections


def test_duplicate_connections_are_listed_once():
    flat = parse_config("a, b :: Idle; a -> b; a -> b")
    assert len(flat.connections) == 1


def test_error_is_config_error_not_lark():
    with pytest.raises(ConfigError):
        parse_config("a -> -> b")


def test_port_list_with_double_arrow_zips_in_order():
    flat = parse_config("a, b, c, d :: Idle; a [0,1,2] => c, b, d")
    assert edges(flat) == {("a", 0, "c", 0), ("a", 1, "b", 0), ("a", 2, "d", 0)}


def test_escaped_backslash_in_string():
    assert parse_config(r'm :: Message("\\");').elements[0].config == r'"\\"'


def test_anonymous_compound_with_formals_and_arguments():
    flat = parse_config("a :: Idle -> { $v | input -> Paint($v) -> output }(3) -> a")
    assert decls(flat)["@2/Paint@1"] == ("Paint", "3")


def test_class_defined_inside_compound_is_not_visible_outside():
    flat = parse_config("elementclass O { elementclass I { input -> X -> output } input -> I -> output } "
                        "a :: Idle -> O -> I -> a")
    assert decls(flat)["O@2/I@1/X@1"] == ("X", "")
    assert decls(flat)["I@3"] == ("I", "")      # a primitive 'I' as far as the file knows


def test_errors_in_unused_elementclass_are_still_reported():
    with pytest.raises(ConfigError, match="'nope' is not declared"):
        parse_config("elementclass Unused { input -> nope -> output } a :: Idle")


def test_comments_inside_define_are_ignored():
    flat = parse_config("define($A 1 /* one */, // the second\n  $B 2)\n"
                        "InfiniteSource(LIMIT $A, BURST $B) -> Discard;")
    assert flat.elements[0].config == "LIMIT 1, BURST 2"


def test_indexed_variables_take_one_word_of_the_value():
    flat = parse_config("elementclass F { $a, $n | input -> Paint(${a[$n]}) -> Paint(${a[0]}) "
                        "-> Print(\"${a[5]}\") -> output }\nIdle -> F(3 4 5, 2) -> Discard")
    assert [e.config for e in flat.elements if e.class_name in ("Paint", "Print")] == \
        ["5", "3", '""']


# -- overloaded compound classes ('||', '...', __REST__) ----------------------------

OVERLOADED = """
elementclass Foo {
   $a, $b | input -> Counter(A $a) -> output
|| $a, __REST__ $b | input -> Tee(REST $b) -> output
|| $a, TWO $b, __REST__ $c | input -> Paint($b) -> output
}
"""


def test_an_overloaded_class_takes_the_first_alternative_whose_formals_fit():
    flat = parse_config(OVERLOADED + "Idle -> x :: Foo(A) -> y :: Foo(A, TWO B) -> z :: Foo(1, 2, 3) -> Discard")
    d = decls(flat)
    # one argument: only the __REST__ alternative fits, with an empty rest
    assert d["x/Tee@1"] == ("Tee", "REST")
    # two arguments fit the plain two-positional alternative first
    assert d["y/Counter@1"] == ("Counter", "A A")
    # three: the rest collects what the positionals left, joined by ', '
    assert d["z/Tee@1"] == ("Tee", "REST 2, 3")


def test_ellipsis_adds_the_alternatives_of_the_earlier_definition():
    flat = parse_config(OVERLOADED + """
elementclass Foo { $a, $b | input -> Print(new) -> output || ... }
Idle -> x :: Foo(A, B) -> y :: Foo(A, B, C) -> Discard""")
    d = decls(flat)
    assert d["x/Print@1"] == ("Print", "new")
    assert d["y/Tee@1"] == ("Tee", "REST B, C")


def test_no_fitting_alternative_is_an_error_listing_them():
    with pytest.raises(ConfigError) as e:
        parse_config("elementclass F { $a | input -> output || $a, $b | input -> output }"
                     "Idle -> F(1, 2, 3) -> Discard")
    assert "no alternative of elementclass 'F' takes 3 arguments" in str(e.value)
    assert "$a; $a, $b" in str(e.value)


def test_ellipsis_without_an_earlier_definition_is_an_error():
    with pytest.raises(ConfigError, match="there is none before this one"):
        parse_config("elementclass F { $a | input -> output || ... } Idle -> F(1) -> Discard")


# -- '( ... )' groups -----------------------------------------------------------------

def test_a_group_maps_bare_ports_to_its_inputs_and_outputs():
    flat = parse_config("s :: Switch => ( [0] -> c :: Counter -> [0]; [1] -> [1] ) => p :: PrioSched")
    assert edges(flat) == {("s", 0, "c", 0), ("c", 0, "p", 0), ("s", 1, "p", 1)}
    # a name declared in a group belongs to the enclosing scope
    assert "c" in names(flat)


def test_group_outputs_pair_with_the_next_element_inputs():
    flat = parse_config("( Idle -> [0]; Idle -> [1]; ) => q :: Counter")
    assert edges(flat) == {("@1/Idle@1", 0, "q", 0), ("@1/Idle@2", 0, "q", 1)}
