"""The lexical and syntactic surface: declarations, ports, comments, strings, configs."""
from vforward.config import Location, parse_config


def names(flat):
    return [(e.name, e.class_name, e.config) for e in flat.elements]


def edges(flat):
    return [(c.from_name, c.from_port, c.to_name, c.to_port) for c in flat.connections]


def test_declaration_with_and_without_config():
    flat = parse_config("a :: Counter; b :: Queue(20); c :: Discard()")
    assert names(flat) == [("a", "Counter", ""), ("b", "Queue", "20"), ("c", "Discard", "")]
    assert flat.connections == []


def test_multiple_names_share_class_and_config():
    flat = parse_config("a, b, c :: Queue(10, 2)")
    assert names(flat) == [(n, "Queue", "10, 2") for n in "abc"]


def test_config_text_is_kept_raw_not_split():
    flat = parse_config("c :: Classifier(12/0800,   -  )")
    assert flat.elements[0].config == "12/0800,   -"


def test_chain_with_ports_and_inline_declarations():
    flat = parse_config("a :: Tee(2); a[1] -> [0] c :: Counter -> d :: Discard; a -> [1]c")
    assert names(flat)[1:] == [("c", "Counter", ""), ("d", "Discard", "")]
    assert edges(flat) == [("a", 1, "c", 0), ("c", 0, "d", 0), ("a", 0, "c", 1)]


def test_semicolons_are_optional_between_statements():
    flat = parse_config("a :: Idle b :: Idle a -> b b -> a ;;; ")
    assert edges(flat) == [("a", 0, "b", 0), ("b", 0, "a", 0)]


def test_statements_split_across_lines():
    flat = parse_config("a :: Idle\n  ->\n  b :: Discard\n")
    assert edges(flat) == [("a", 0, "b", 0)]


def test_comments_everywhere():
    text = """// leading comment
    a /* between name and :: */ :: /* and class */ Queue( /* inside args */ 5 // trailing
    ) // after
    /* multi
       line -> not a connection */
    a -> /* x */ [0] /* y */ Discard // done
    """
    flat = parse_config(text)
    assert names(flat) == [("a", "Queue", "5"), ("Discard@2", "Discard", "")]
    assert edges(flat) == [("a", 0, "Discard@2", 0)]


def test_comment_ends_identifier():
    flat = parse_config("an/id//too/many\n:: Idle")
    assert names(flat) == [("an/id", "Idle", "")]


def test_hash_lines_are_ignored():
    flat = parse_config("#include <foo>\n  # define X\na :: Idle\n#x\n")
    assert names(flat) == [("a", "Idle", "")]


def test_quoted_strings_may_hold_separators():
    text = """p :: Print("a, b) -> c // not a comment", 'x)(y', "esc\\"aped)") -> Discard"""
    flat = parse_config(text)
    assert flat.elements[0].config == """"a, b) -> c // not a comment", 'x)(y', "esc\\"aped)\""""
    assert edges(flat) == [("p", 0, "Discard@2", 0)]


def test_nested_parentheses_in_config():
    flat = parse_config("f :: IPFilter(allow src host 1.2.3.4 && (tcp || (udp && dst port 53)), deny all)")
    assert flat.elements[0].config == "allow src host 1.2.3.4 && (tcp || (udp && dst port 53)), deny all"


def test_backslash_escaped_paren_does_not_close_config():
    flat = parse_config(r"x :: Foo(a \) b)")
    assert flat.elements[0].config == r"a \) b"


def test_comment_inside_config_may_hold_a_paren():
    flat = parse_config("x :: Foo(a // end-of-line comment)\n   still going!)")
    assert flat.elements[0].config == "a  \n   still going!"


def test_config_spanning_lines_and_keyword_text():
    flat = parse_config("x :: Foo(define,\n  require -> elementclass :: [1])")
    assert flat.elements[0].config == "define,\n  require -> elementclass :: [1]"


def test_identifiers_may_hold_slash_and_at():
    flat = parse_config("my/elem@1 :: Idle; my/elem@1 -> Discard")
    assert edges(flat) == [("my/elem@1", 0, "Discard@2", 0)]


def test_require_collects_raw_arguments():
    flat = parse_config('require(linuxmodule, package "fast, classifier" /* c */); a :: Idle')
    assert flat.requirements == ["linuxmodule", 'package "fast, classifier"']


def test_locations_of_declarations_and_connections():
    flat = parse_config("\n  a :: Idle\n  a -> b :: Discard", filename="r.click")
    assert flat.elements[0].loc == Location("r.click", 2, 3)
    assert flat.elements[1].loc == Location("r.click", 3, 8)
    assert str(flat.connections[0].loc) == "r.click:3:5"   # the arrow


def test_default_filename():
    assert parse_config("a :: Idle").elements[0].loc.file == "<config>"


def test_empty_config():
    flat = parse_config("  // nothing\n")
    assert (flat.elements, flat.connections, flat.requirements, flat.defines) == ([], [], [], {})
