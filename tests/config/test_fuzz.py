"""Any configuration text yields a graph or an error located in the text: never a traceback.

Hypothesis writes texts from the language's own words (so that many get far
into the parser, the flattener and the elements' argument parsing) and from
raw characters."""
import re

from hypothesis import HealthCheck, given, settings, strategies as st

from vforward.catalogue import load_builtin
from vforward.config.errors import ConfigError
from vforward.graph import GraphError, build_graph

load_builtin()

CLASSES = ["Counter", "Discard", "Queue", "Unqueue", "InfiniteSource", "Idle", "Tee", "Paint",
           "Classifier", "IPFilter", "IPClassifier", "CheckIPHeader", "DecIPTTL", "Strip",
           "RadixIPLookup", "ARPQuerier", "ARPResponder", "IPRewriter", "LinkEmulator",
           "EtherLinkDecap", "VXLANDecap", "ICMPError", "Nothing", "counter"]
WORDS = CLASSES + ["::", "->", "[0]", "[1]", "[", "]", "(", ")", "{", "}", ";", ",", "|", "=>",
                   "elementclass", "define", "require", "input", "output", "$x", "$y", "a", "b",
                   "c", "a/b", "0", "1", "-1", "65536", "10.0.0.1", "10.0.0.0/8", "tcp", "udp",
                   "ACTIVE", "LIMIT", "true", "maybe", '"str"', "'q'", "//c\n", "/*", "*/",
                   "\n", " ", "\\", "12/0800", "allow", "deny", "pattern", "drop", "...", "..."]

located = re.compile(r"^fuzz\.click:\d+:\d+: \S")


def build_or_locate(text):
    try:
        build_graph(text, "fuzz.click")
    except (ConfigError, GraphError) as e:
        assert located.match(str(e)) or str(e).startswith("fuzz.click"), \
            f"error without a place: {e!r} for {text!r}"
        assert "Traceback" not in str(e)


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(WORDS), max_size=30).map(" ".join))
def test_texts_of_the_languages_words_build_or_fail_with_a_place(text):
    build_or_locate(text)


@settings(max_examples=150, deadline=None, derandomize=True)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=80))
def test_any_characters_build_or_fail_with_a_place(text):
    build_or_locate(text)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(st.sampled_from(CLASSES[:-2]), st.lists(st.sampled_from(WORDS[24:]), max_size=8))
def test_any_arguments_to_a_class_build_or_fail_with_a_place(cls, args):
    build_or_locate(f"Idle -> x :: {cls}({' '.join(args)}) -> Discard;")
