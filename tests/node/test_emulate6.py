"""Emulated hosts on an IPv6 underlay: two routers on hosts with IPv6
addresses, pods in 2001:db8:64::/48.  The lab validates, its link between
hosts is carried in UDP over IPv6 (seen on the underlay bridge by tcpdump),
and path-MTU discovery gives the underlay MTU less 74 bytes."""
import os
import shutil
import subprocess
import uuid

import pytest

from vforward.node.emulate import deploy_emulated, underlay_netns
from vforward.topo.deploy import destroy, prepare
from vforward.topo.state import load_state
from vforward.topo.validate import validate

pytestmark = [pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")]


def ipv6_hosts_lab(name: str) -> str:
    return f"""name: {name}
hosts:
  a: {{address: "2001:db8:100::1", mtu: 1500}}
  b: {{address: "2001:db8:100::2"}}
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
  - ping: {{from: r1, to: r2}}
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    name = "n6" + uuid.uuid4().hex[:6]
    path = tmp_path_factory.mktemp("emu6") / "two6.yaml"
    path.write_text(ipv6_hosts_lab(name))
    try:
        deploy_emulated(str(path), log=lambda *a: None)
        yield prepare(str(path))
    finally:
        if load_state(name) is not None:
            destroy(name)


def _in(ns, *cmd, timeout=15):
    return subprocess.run(["ip", "netns", "exec", ns, *cmd], capture_output=True, text=True,
                          timeout=timeout)


def test_a_lab_on_ipv6_hosts_validates_over_a_udp_over_ipv6_underlay(lab):
    lines = []
    assert validate(lab, log=lines.append) == 0, "\n".join(lines)
    assert "2001:db8:100::1/128" in _in(f"vfh-{lab.name}-a", "ip", "address", "show", "ul0").stdout
    if shutil.which("tcpdump"):
        dump = subprocess.Popen(["ip", "netns", "exec", underlay_netns(lab.name), "tcpdump",
                                 "-i", "br0", "-n", "-c", "2", "-l", "ip6 and udp"],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            for _ in range(10):
                _in(f"vf-{lab.name}-h1", "ping", "-n", "-c", "1", "-W", "1", "172.16.1.2")
                if dump.poll() is not None:
                    break
            out = dump.communicate(timeout=5)[0]
        finally:
            if dump.poll() is None:
                dump.kill()
                dump.wait()
        # pod r1 to pod r2, routed by the hosts across the bridge
        assert "2001:db8:64:1::2" in out and "2001:db8:64:2::2" in out and "UDP" in out, out


def test_path_mtu_discovery_gives_the_underlay_mtu_less_74_bytes(lab):
    ns = f"vf-{lab.name}-h1"
    fits = _in(ns, "ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", "1398", "172.16.1.2")
    assert fits.returncode == 0, fits.stdout + fits.stderr                  # 1426-byte packet
    big = _in(ns, "ping", "-n", "-c", "1", "-W", "2", "-M", "do", "-s", "1399", "172.16.1.2")
    assert big.returncode != 0
    assert "Frag needed" in big.stdout and "mtu = 1426" in big.stdout, big.stdout + big.stderr
