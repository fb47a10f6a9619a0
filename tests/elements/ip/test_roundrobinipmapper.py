"""RoundRobinIPMapper: an IPRewriter input naming it gives each new flow the
next of its patterns, with that pattern's outputs."""
from __future__ import annotations

import pytest

from vforward.graph import GraphError
from vforward.runtime import ElementError

from tests.elements.ip.test_ipaddrrewriter import PRIV, PRIV2, PRIV3, UDP, ends, pkt

CONFIG = ("src :: _NATAddrSource;\n"
          "m :: RoundRobinIPMapper(- - 192.0.2.10 - 0 1, - - 192.0.2.11 - 2 1);\n"
          "rw :: IPRewriter({spec});\n"
          "src -> rw; rw[0] -> a :: _NATAddrSink; rw[1] -> r :: _NATAddrSink;\n"
          "rw[2] -> b :: _NATAddrSink;\n")


def test_new_flows_take_the_patterns_in_turn_and_old_flows_keep_theirs(make_router):
    router = make_router(CONFIG.format(spec="m"))
    router.initialize()
    server = "198.51.100.1"
    router.element("src").send([pkt(UDP, PRIV, server), pkt(UDP, PRIV2, server),
                                pkt(UDP, PRIV, server), pkt(UDP, PRIV3, server)])
    a, b = router.element("a").take(), router.element("b").take()
    assert [ends(f) for f in a] == [(PRIV, "192.0.2.10"), (PRIV, "192.0.2.10"),
                                    (PRIV3, "192.0.2.10")]
    assert [ends(f) for f in b] == [(PRIV2, "192.0.2.11")]
    assert router.element("m").read("patterns") == ("- - 192.0.2.10 - 0 1\n"
                                                    "- - 192.0.2.11 - 2 1\n")
    assert router.element("rw").read("patterns") == "<mapper m> [3]\n"


def test_an_input_spec_naming_no_mapper_is_refused(make_router):
    router = make_router(CONFIG.format(spec="nosuch"))
    with pytest.raises(ElementError, match="no mapper element named 'nosuch'"):
        router.initialize()


def test_a_pattern_without_outputs_is_refused(make_router):
    with pytest.raises(GraphError, match="expected 'SADDR SPORT DADDR DPORT FOUTPUT ROUTPUT'"):
        make_router("m :: RoundRobinIPMapper(- - 192.0.2.10 -)")
