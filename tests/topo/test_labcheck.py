"""`vforward check LAB.yaml`: a lab file is checked as a lab, not read as Click."""
from vforward.cli import main

LAB = """name: chk
topology:
  nodes:
    r1: {}
    r2: {}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
"""


def test_check_builds_every_router_of_a_lab_file(tmp_path, capsys):
    lab = tmp_path / "lab.yaml"
    lab.write_text(LAB)
    assert main(["check", str(lab)]) == 0, capsys.readouterr().err
    assert capsys.readouterr().out.splitlines() == ["router r1: builds", "router r2: builds"]


def test_check_names_a_dangling_link_endpoint_at_its_line(tmp_path, capsys):
    lab = tmp_path / "lab.yaml"
    lab.write_text(LAB.replace('"r2:eth1"]', '"r3:eth1"]'))
    assert main(["check", str(lab)]) == 1
    err = capsys.readouterr().err
    assert f"{lab}:7: endpoint 'r3:eth1' names node 'r3', which is not under topology.nodes" in err
    assert "expected '->'" not in err


def test_a_validate_check_naming_no_node_lists_the_nodes_when_none_is_close(tmp_path, capsys):
    lab = tmp_path / "lab.yaml"
    lab.write_text(LAB + "validate:\n  - ping: {from: r1, to: x7}\n")
    assert main(["check", str(lab)]) == 1
    assert (f"{lab}:9: ping: 'to' must name a node or an address, not 'x7'; the lab's nodes "
            "are r1, r2") in capsys.readouterr().err
