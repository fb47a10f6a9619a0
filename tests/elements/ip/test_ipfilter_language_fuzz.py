"""Any IPFilter/IPClassifier pattern parses or is refused with the bad word pointed at,
never a traceback; what parses also compiles and classifies."""
from hypothesis import HealthCheck, given, settings, strategies as st

from vforward.elements.ip.ipfilter_language import PatternError, parse_pattern

WORDS = ["ip", "src", "dst", "host", "net", "port", "tcp", "udp", "icmp", "type", "opt", "syn",
         "ack", "fin", "rst", "and", "or", "not", "&&", "||", "!", "(", ")", "?", ":", "==",
         "!=", "<", ">", "<=", ">=", "&", "10.0.0.1", "10.0.0.0/8", "10.0/16", "1.2.3.4/33",
         "80", "65536", "-1", "0x10", "www", "ssh", "echo", "ip[0]", "ip[0:2]", "transp[2:2]",
         "tcp[13]", "ip[70000:4]", "ip[1:9]", "vers", "hl", "tos", "ttl", "id", "len", "frag",
         "unfrag", "proto", "mask", "true", "false", "-", "dscp", "ect", "ce", "ip6", "ether",
         "4", "0", "255", "256", "[", "]"]


def parse_or_point(text):
    try:
        parse_pattern(text)
    except PatternError as e:
        assert 0 <= e.start <= max(len(text), 1) and e.end >= e.start
        assert str(e).startswith("pattern ")


@settings(max_examples=250, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(WORDS), max_size=14).map(" ".join))
def test_word_salad_parses_or_points_at_the_bad_word(text):
    parse_or_point(text)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.text(max_size=40))
def test_any_characters_parse_or_point_at_the_bad_word(text):
    parse_or_point(text)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=8).map(" ".join))
def test_patterns_in_an_element_build_or_fail_with_a_place(text):
    from vforward.config.errors import ConfigError
    from vforward.graph import GraphError, build_graph
    text = text.replace(",", " ")
    try:
        build_graph(f"Idle -> f :: IPClassifier({text}, -) -> Discard; f[1] -> Discard;",
                    "fuzz.click")
    except (ConfigError, GraphError) as e:
        assert str(e).startswith("fuzz.click:1:")
