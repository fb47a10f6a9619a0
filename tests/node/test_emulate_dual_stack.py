"""A dual-stack OSPF lab (OSPFv3 beside OSPFv2) on emulated hosts over an
IPv4 underlay: node bundles carry each node kernel's IPv6 (addresses,
loopback6, a host's default route), so IPv6 crosses the hosts as IPv4 does.
Before, the node namespaces were made with IPv6 switched off and the lab
deployed without a word, its IPv6 checks failing."""
import os
import uuid

import pytest

from vforward.node.emulate import deploy_emulated
from vforward.topo.deploy import destroy, prepare
from vforward.topo.state import load_state
from vforward.topo.validate import reach, validate

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")]


def dual_stack_lab(name: str) -> str:
    return f"""name: {name}
ipv6: true
routing: ospf
hosts:
  a: {{address: 192.0.2.1, mtu: 1500}}
  b: {{address: 192.0.2.2}}
topology:
  nodes:
    r1: {{host: a}}
    r2: {{host: b}}
    h1: {{kind: host, host: a}}
    h2: {{kind: host, host: b}}
  links:
    - endpoints: [r1:eth1, r2:eth1]
    - endpoints: [h1:eth1, r1:eth2]
    - endpoints: [h2:eth1, r2:eth2]
validate:
  - ping: {{from: h1, to: h2}}
  - ping: {{from: h1, to: h2, family: ipv6}}
  - ping: {{from: r1, to: r2, family: ipv6}}
"""


def test_a_dual_stack_ospf_lab_on_emulated_hosts_answers_over_ipv6(tmp_path):
    name = "ds" + uuid.uuid4().hex[:6]
    path = tmp_path / "ds.yaml"
    path.write_text(dual_stack_lab(name))
    try:
        deploy_emulated(str(path), log=lambda *a: None)
        lab = prepare(str(path))
        h2 = lab.nodes["h2"].interfaces["eth1"]
        assert reach(lab, "h1", str(h2.address.ip), within=60)[0], "OSPF never converged"
        assert reach(lab, "h1", str(h2.address6.ip), within=60)[0], "OSPFv3 never converged"
        lines = []
        assert validate(lab, log=lines.append) == 0, "\n".join(lines)
        assert sum("PASS" in line for line in lines) == 3, "\n".join(lines)
    finally:
        if load_state(name) is not None:
            destroy(name)
