"""The element names a lab router's interfaces get are the ones the metrics
exporter and `topo stats` look for: render and readers share one spelling."""
from vforward.catalogue import load_builtin
from vforward.graph import build_graph
from vforward.interface_elements import CLASSES, element_name, split_element_name
from vforward.topo.addressing import assign
from vforward.topo.model import parse_lab
from vforward.topo.render import router_config

LAB = """\
name: names
topology:
  nodes: {r1: {}, r2: {}, h1: {kind: host}}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["h1:eth1", "r1:eth2"]
"""


def test_a_name_splits_back_into_its_interface_and_role():
    assert split_element_name(element_name("eth1_5", "rx")) == ("eth1_5", "rx")
    assert split_element_name("eth1_kernel") is None and split_element_name("_rx") is None


def test_rendered_interfaces_have_every_role_with_its_class():
    load_builtin()
    lab = assign(parse_lab(LAB, "lab.yaml"))
    for link in lab.links:
        for end in (link.a, link.b):
            end.link.underlay.setdefault(end.ref, ("127.0.0.1", 40000 + len(end.link.underlay)))
    graph = build_graph(router_config(lab, lab.nodes["r1"]), "r1.click")
    roles = {}
    for name, element in graph.elements.items():
        split = split_element_name(name)
        if split is not None:
            assert CLASSES[split[1]] == element.class_name(), name
            roles.setdefault(split[0], set()).add(split[1])
    # toward a router: a probe; toward a host: the host's egress emulated on r1's side
    assert roles == {"eth1": {"rx", "tx", "egress", "probe"},
                     "eth2": {"rx", "tx", "egress", "ingress"}}
