"""The topology schema: every malformed document is a TopologyError that names
file:line and the fix, never a traceback; the model's own checks still run."""
import copy
import re

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vforward.topo.addressing import assign
from vforward.topo.model import TopologyError, parse_impairment, parse_lab

# A document that uses every key of the format once.
FULL = {
    "name": "fuzz",
    "routing": "static",
    "defaults": {"kind": "router", "impair": {"jitter": "1ms"}},
    "hosts": {"far": {"address": "192.0.2.10"}},
    "addressing": {"p2p": "10.0.0.0/16", "p2p_prefix": 30, "loopback": "10.255.0.0/24",
                   "lan": "172.16.0.0/16"},
    "topology": {
        "nodes": {
            "r1": {"kind": "router", "routing": "ospf", "loopback": "10.255.0.9/32",
                   "bgp": {"asn": 65001,
                           "neighbors": ["r2", {"address": "192.0.2.9", "asn": 65100}]}},
            "r2": {"host": "far", "extra": "Idle -> Discard;", "config": "r2.click"},
            "h1": {"kind": "host"},
        },
        "links": [
            {"endpoints": ["r1:eth1", "r2:eth1"], "cost": 20, "state": "up",
             "subnet": "10.9.0.0/30",
             "impair": {"delay": "10ms", "jitter": "1ms", "loss": "1%", "rate": "10mbit",
                        "queue": 100}},
            {"endpoints": ["h1:eth1", "r1:eth2"],
             "addresses": ["172.16.9.2/24", "172.16.9.1/24"]},
        ],
    },
    "validate": [
        {"reach": {"from": "h1", "to": "r2"}},
        {"ping": {"from": "h1", "to": "192.0.2.10", "count": 3}},
        {"traceroute": {"from": "h1", "to": "r2", "path": ["r1", "r2"]}},
    ],
}

LOCATED = re.compile(r"^lab\.yaml:\d+(:\d+)?: \S")


def text_of(doc) -> str:
    return yaml.dump(doc, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper),
                     default_flow_style=False, sort_keys=False, allow_unicode=True)


def error_of(doc_or_text) -> str:
    text = doc_or_text if isinstance(doc_or_text, str) else text_of(doc_or_text)
    with pytest.raises(TopologyError) as e:
        parse_lab(text, "lab.yaml")
    return str(e.value)


def changed(path, value):
    doc = copy.deepcopy(FULL)
    _set(doc, path, value)
    return doc


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def test_the_full_document_parses_and_gets_addresses():
    lab = assign(parse_lab(text_of(FULL), "lab.yaml"))
    assert [v.kind for v in lab.validations] == ["reach", "ping", "traceroute"]
    assert lab.links[0].impair.queue == 100 and lab.links[0].cost == 20
    assert lab.nodes["r2"].host == "far" and lab.nodes["r1"].bgp["asn"] == 65001


def test_a_word_for_a_ping_count_is_a_located_error_asking_for_a_number():
    text = text_of(changed(("validate", 1, "ping", "count"), "lots"))
    msg = error_of(text)
    assert msg.startswith(f"lab.yaml:{line_of(text, 'count: lots')}: ")
    assert "validate.ping.count must be a whole number" in msg and "'lots'" in msg


def test_a_traceroute_path_given_as_text_is_an_error_not_split_into_letters():
    text = text_of(changed(("validate", 2, "traceroute", "path"), "r1"))
    msg = error_of(text)
    assert msg.startswith(f"lab.yaml:{line_of(text, 'path: r1')}: ")
    assert "must be a list" in msg and "write [r1]" in msg and "node 'r'" not in msg


def test_a_list_as_a_node_config_is_refused():
    msg = error_of(changed(("topology", "nodes", "r2", "config"), [1, 2]))
    assert LOCATED.match(msg) and "topology.nodes.r2.config must be a single value" in msg


@pytest.mark.parametrize("path,bad,good", [
    (("topology", "links", 0), "impiar", "impair"),
    (("topology", "links", 0, "impair"), "dealy", "delay"),
    (("topology", "nodes", "r1"), "loopbak", "loopback"),
    (("topology", "nodes", "r1", "bgp"), "neighbours", "neighbors"),
    (("validate", 0, "reach"), "form", "from"),
    (("addressing",), "p2p_prefx", "p2p_prefix"),
    ((), "adressing", "addressing"),
])
def test_unknown_keys_in_every_section_suggest_the_known_one(path, bad, good):
    doc = copy.deepcopy(FULL)
    section = doc
    for part in path:
        section = section[part]
    section[bad] = section.pop(good)
    text = text_of(doc)
    msg = error_of(text)
    assert msg.startswith(f"lab.yaml:{line_of(text, bad + ':')}: unknown key '{bad}'")
    assert f"did you mean '{good}'?" in msg


def test_a_misspelt_check_and_a_missing_endpoint_name_the_fix():
    doc = copy.deepcopy(FULL)
    doc["validate"][1] = {"pnig": doc["validate"][1]["ping"]}
    assert "did you mean 'ping'?" in error_of(doc)
    msg = error_of(changed(("topology", "links", 0, "endpoints"), ["r1:eth1"]))
    assert "endpoints must list at least 2 items" in msg and '"r1:eth1", "r2:eth1"' in msg
    msg = error_of(changed(("validate", 0, "reach"), {"to": "r2"}))
    assert "validate.reach needs 'from'" in msg


def test_checks_name_known_nodes_or_addresses():
    assert "did you mean 'r2'?" in error_of(changed(("validate", 0, "reach", "to"), "r22"))
    assert "did you mean 'h1'?" in error_of(changed(("validate", 0, "reach", "from"), "h11"))
    assert "unknown node 'r3'" in error_of(changed(("validate", 2, "traceroute", "path"), ["r3"]))


def test_an_impairment_built_in_code_is_checked_by_the_same_schema():
    with pytest.raises(TopologyError, match=r"^impair r1:eth1: unknown key 'dleay'"):
        parse_impairment({"dleay": "1ms"}, "impair r1:eth1")
    with pytest.raises(TopologyError, match=r"^impair r1:eth1: queue must be at least 1"):
        parse_impairment({"queue": 0}, "impair r1:eth1")
    assert parse_impairment({"delay": "5ms", "queue": 7}, "x").queue == 7


# -- malformed documents, generated --------------------------------------------------

def paths(doc, prefix=()):
    """Every place in the document: (path to it, is a mapping)."""
    yield prefix, isinstance(doc, dict)
    items = doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else ()
    for key, value in items:
        yield from paths(value, prefix + (key,))


PLACES = list(paths(FULL))
MAPPINGS = [p for p, is_mapping in PLACES if is_mapping]
VALUES = [p for p, _ in PLACES if p]

yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=12)
    | st.dates() | st.sampled_from(["r1", "r2", "h1", "r1:eth1", "10.0.0.1/30", "", "-", "~"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)
bad_addresses = st.sampled_from(["10.0.0.300/30", "10.0.0.1", "10.0.0.1/33", "::1/64", "",
                                 "10.0.0.0/30", "10.0.0.3/30", "0.0.0.0/0", "r1", "1e3"])
endpoints = st.sampled_from(["r1:eth1", "r1:eth9", "r9:eth1", "r1", "r1:", ":eth1", "R1:eth1",
                             "h1:eth1", "r2:Eth1", "r1:eth1:x", "r2:eth1", "h1:eth2"])
ADDRESS_PLACES = [p for p in VALUES if p[-1] in ("address", "loopback", "subnet", "p2p", "lan")
                  or p[-2:-1] == ("addresses",)]


def _set(doc, path, value):
    *parents, last = path
    for part in parents:
        doc = doc[part]
    doc[last] = value


def _delete(doc, path):
    *parents, last = path
    for part in parents:
        doc = doc[part]
    del doc[last]


mutations = st.one_of(
    st.tuples(st.just("set"), st.sampled_from(VALUES), yaml_values),
    st.tuples(st.just("delete"), st.sampled_from(VALUES), st.none()),
    st.tuples(st.just("add"), st.sampled_from(MAPPINGS), st.tuples(st.text(max_size=8), yaml_values)),
    st.tuples(st.just("set"), st.sampled_from(ADDRESS_PLACES), bad_addresses),
    st.tuples(st.just("set"), st.sampled_from([("topology", "links", 0, "endpoints"),
                                               ("topology", "links", 1, "endpoints")]),
              st.lists(endpoints, min_size=0, max_size=3)),
)


def mutate(ops):
    doc = copy.deepcopy(FULL)
    for op, path, arg in ops:
        try:
            if op == "set":
                _set(doc, path, arg)
            elif op == "delete":
                _delete(doc, path)
            else:
                _set(doc, path + (arg[0],), arg[1])
        except (KeyError, IndexError, TypeError):
            pass   # an earlier change removed or replaced this place
    return doc


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(mutations, min_size=1, max_size=3))
def test_a_malformed_document_is_a_located_error_or_a_lab_never_a_traceback(ops):
    text = text_of(mutate(ops))
    try:
        assign(parse_lab(text, "lab.yaml"))
    except TopologyError as e:
        assert LOCATED.match(str(e)), str(e)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.text(min_size=1, max_size=4))
def test_garbled_yaml_text_is_a_located_error_or_a_lab(at, junk):
    text = text_of(FULL)
    at %= len(text)
    try:
        assign(parse_lab(text[:at] + junk + text[at:], "lab.yaml"))
    except TopologyError as e:
        assert LOCATED.match(str(e)), str(e)
