"""Rewriter patterns: Click's field forms."""
import pytest

from vforward.args import ArgumentError
from vforward.elements.ip.rewriter_patterns import Pattern, parse_input_spec


def test_three_fields_are_saddr_daddr_then_the_source_port_range():
    p = Pattern.parse(["2.0.0.2", "-", "0-65535#"])
    assert (p.saddr, p.sport, p.variation, p.daddr, p.dport) == (0x02000002, 0, 65535, None, None)
    assert p.sequential
    spec = parse_input_spec("pattern 2.0.0.2 - 0-65535 0 1")
    assert (spec.foutput, spec.routput) == (0, 1) and spec.pattern.variation == 65535


def test_a_single_port_must_still_be_positive():
    with pytest.raises(ArgumentError, match="bad source port"):
        Pattern.parse(["2.0.0.2", "0", "-", "-"])


def test_basic_nat_takes_a_four_field_pattern_and_checks_its_ports():
    spec = parse_input_spec("pattern 1.0.0.0 0-255 - - 0 1", napt=False)
    assert spec.pattern.unparse() == "1.0.0.0 -"
    with pytest.raises(ArgumentError, match="bad source port '456-19'") as e:
        parse_input_spec("pattern 1.0.0.0 456-19 - - 0 1", napt=False)
    assert e.value.click_reason == "bad source port"


def test_a_bad_address_carries_clicks_short_reason():
    with pytest.raises(ArgumentError) as e:
        parse_input_spec("pattern 1.0.0.x - 0 1", napt=False)
    assert e.value.click_reason == "bad source address"
