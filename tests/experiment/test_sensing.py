"""Sensing's pairs, table and Prometheus text (the measurement itself runs in
test_lab_experiments.py on a real lab)."""
import pytest

from vforward.experiment.sensing import PathSense, format_table, pairs_of, prometheus
from vforward.topo.model import TopologyError, parse_lab

LAB = """\
name: se
topology:
  nodes: {r1: {}, r2: {}, h1: {kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["h1:eth1", "r1:eth2"]
"""


def result(bound=False):
    return PathSense("r1", "r2", 1.5, 0.7, 0.8, 0.1, 19.5, bound, 10, 60, 60, 0.0)


def test_pairs_are_named_or_all():
    lab = parse_lab(LAB, "lab.yaml")
    assert pairs_of(lab, "r1:r2,h1:r2", False) == [("r1", "r2"), ("h1", "r2")]
    assert pairs_of(lab, None, True) == [("r1", "r2"), ("r1", "h1"), ("r2", "h1")]
    with pytest.raises(TopologyError, match="no node 'rr2'; did you mean 'r2'"):
        pairs_of(lab, "r1:rr2", False)
    with pytest.raises(TopologyError, match="'r1' is not a pair"):
        pairs_of(lab, "r1", False)


def test_the_table_marks_a_lower_bound():
    assert "19.5" in format_table([result()]) and ">19.5" not in format_table([result()])
    assert ">19.5" in format_table([result(bound=True)])


def test_prometheus_text_has_one_gauge_per_measure():
    text = prometheus("se", [result()])
    assert 'vforward_path_rtt_seconds{lab="se",src="r1",dst="r2"} 0.0015' in text
    assert 'vforward_path_loss_ratio{lab="se",src="r1",dst="r2"} 0.1' in text
    assert 'vforward_path_available_bandwidth_bits{lab="se",src="r1",dst="r2"} 19500000' in text
    assert text.count("# TYPE") == 4
