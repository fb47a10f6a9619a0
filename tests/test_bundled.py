"""vforward/bundled.py: the example configs and labs that ship in the package are
found through importlib.resources, and every one of them builds or loads."""
from __future__ import annotations

import os
from importlib import resources

import pytest

from vforward import bundled
from vforward.cli import main
from vforward.topo.model import load_lab

EXAMPLES = sorted(p.name for p in resources.files("vforward.configs.examples").iterdir()
                  if p.name.endswith(".click"))
LABS = sorted(p.name for p in resources.files("vforward.configs.labs").iterdir()
              if p.name.endswith(".yaml"))


def test_the_bench_and_the_readme_files_are_bundled():
    assert {"router.click", "nat-gateway.click", "udp-link-a.click"} <= set(EXAMPLES)
    assert {"ring4.yaml", "ospf4.yaml"} <= set(LABS)
    assert os.path.isfile(os.path.join(bundled.examples_dir(), "custom", "my_elements.py"))


@pytest.mark.parametrize("name", EXAMPLES)
def test_every_bundled_example_config_checks(name, capsys):
    assert main(["check", "-q", bundled.example(name)]) == 0, capsys.readouterr().err


def _is_scenario(name: str) -> bool:
    with open(bundled.lab(name)) as f:
        return "\ntopology:" not in "\n" + f.read()


@pytest.mark.parametrize("name", LABS)
def test_every_bundled_lab_loads(name):
    if _is_scenario(name):      # a scenario over a bundled lab (vforward topo run LAB SCENARIO)
        from vforward.experiment.scenario import check_against, load_scenario
        sc = load_scenario(bundled.lab(name))
        check_against(sc, load_lab(bundled.lab(name.replace("-failure", ""))))
        assert sc.events
        return
    lab = load_lab(bundled.lab(name))
    assert lab.name and lab.nodes
