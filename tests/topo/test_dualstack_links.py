"""IPv6 across every lab link transport, and in kernel mode: the dual-stack
line h1 - r1 - r2 - h2 (static routes) with the r1-r2 link carried in
process, through shared memory or over UDP (each forced with `transport:`),
and the same lab forwarded by the Linux kernel.  IPv6 crosses each: ping -6,
iperf3 -6 TCP, and traceroute -6 through both routers; IPv4 still works
beside it."""
import os
import uuid

import pytest

from vforward.topo.deploy import deploy, destroy, prepare
from vforward.topo.state import load_state
from vforward.topo.render import netns_name
from vforward.topo.validate import address_owners, ping, reach, traceroute, validate
from tests.labtexts import line_lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")

VALIDATE6 = """\
validate:
  - ping: {from: h1, to: h2, family: ipv6}
  - ping: {from: h1, to: r2, family: ipv6}
  - traceroute: {from: h1, to: h2, family: ipv6, path: [r1, r2]}
  - ping: {from: h1, to: h2}
"""


def line(name: str, transport: str) -> str:
    return line_lab(name, head="ipv6: true\n", r1r2=f"      transport: {transport}\n",
                    tail=VALIDATE6)


@pytest.fixture(scope="module", params=[("inprocess", 25, "user"), ("shm", 1, "user"),
                                        ("udp", 1, "user"), ("udp", 1, "kernel")],
                ids=["inprocess", "shm", "udp", "kernel-mode"])
def lab(request, tmp_path_factory):
    name = "d6" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("links6") / "line.yaml"
    transport, per_worker, mode = request.param
    path.write_text(line(name, transport))
    deploy(str(path), nodes_per_worker=per_worker, mode=mode, log=lambda *a: None)
    try:
        lab = prepare(str(path))
        assert reach(lab, "h1", _h2(lab), within=20)[0]
        yield lab
    finally:
        if load_state(name) is not None:
            destroy(name)


def _h2(lab):
    return str(lab.nodes["h2"].interfaces["eth1"].address6.ip)


def test_ping6_traceroute6_and_the_validate_section_pass(lab):
    sent, got, out = ping(lab, "h1", _h2(lab), count=3, interval=0.05)
    assert got == 3, out
    owners = address_owners(lab)
    assert [owners.get(h, h) for h in traceroute(lab, "h1", _h2(lab))] == ["r1", "r2", "h2"]
    lines = []
    assert validate(lab, log=lines.append) == 0, lines
    assert lines[-1] == "4 passed, 0 failed"


def test_iperf3_tcp_over_ipv6_crosses_the_link(lab, iperf):
    end = iperf(netns_name(lab, "h1"), netns_name(lab, "h2"), _h2(lab))
    assert end["sum_received"]["bytes"] > 1_000_000


def test_inspect_lists_the_ipv6_addresses(lab):
    from vforward.topo import ops
    nodes = {n["node"]: n for n in ops.inspect(lab.name)["nodes"]}
    h1 = nodes["h1"]["interfaces"][0]
    assert h1["address6"] == str(lab.nodes["h1"].interfaces["eth1"].address6)
    assert {i["address6"] for i in nodes["r1"]["interfaces"]} == \
        {str(i.address6) for i in lab.nodes["r1"].interfaces.values()}
