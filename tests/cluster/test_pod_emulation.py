"""The manifests are executable: every generated Pod's container runs with its
command, args and env, its ConfigMap files at the path the Pod mounts, in a
network namespace of its own on a pod network (a bridge), the Services' names
resolvable as cluster DNS would answer them (/etc/netns/POD/hosts), and the
lab's `validate:` checks pass.  See podemulation.py for what is emulated and
what is not (no image, no scheduler: every pod runs on this machine)."""
import json
import os
import shutil
import subprocess
import uuid

import pytest
import yaml

from tests.cliprocess import run_cli
from tests.cluster.podemulation import PodEmulation
from vforward import netns
from vforward.bundled import lab as lab_path
from vforward.topo import render
from vforward.topo.deploy import NODE_SYSCTLS, prepare
from vforward.topo.validate import reach, target_address, validate

pytestmark = [pytest.mark.netns,
              pytest.mark.skipif(os.geteuid() != 0, reason="pods need root and namespaces"),
              pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed"),
              pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv is missing")]


def test_the_pods_of_an_ospf_lab_on_two_hosts_run_find_their_peers_and_pass_validate(tmp_path):
    name = "k8s" + uuid.uuid4().hex[:6]
    text = open(lab_path("ospf4.yaml")).read().replace("name: ospf4", f"name: {name}").replace(
        "routing: ospf\n", "routing: ospf\nhosts:\n  ha: {address: 192.0.2.1}\n"
        "  hb: {address: 192.0.2.2, mtu: 1400}\n", 1)
    path = tmp_path / "lab.yaml"
    path.write_text(text)
    out = tmp_path / "manifests"
    p = run_cli("topo", "manifests", str(path), "-o", str(out))
    assert p.returncode == 0, p.stderr
    objects = [o for f in sorted(out.iterdir()) for o in yaml.safe_load_all(f.read_text())]
    # Peers have no fallback address: a pod reaches another only through its Service name
    # (the router.click fallback, the host's underlay address, is not routed here).
    for cm in (o for o in objects if o["kind"] == "ConfigMap"):
        assert all(link["peer"]["address"] is None
                   for link in json.loads(cm["data"]["node.json"])["links"])
    lab = prepare(str(path))
    assert {lab.nodes[r].host for r in ("r1", "r2", "r3", "r4")} == {"ha", "hb"}
    crossing = [link for link in lab.links
                if lab.nodes[link.a.node].host != lab.nodes[link.b.node].host]
    assert crossing, "placement on two hosts cuts at least one link of the ring"

    emu = PodEmulation(objects, lambda pod: render.netns_name(lab, pod),
                       str(tmp_path / "volumes"), f"vfk-{name}")
    # The lab hosts' namespaces (h1, h2) exist before their routers' pods start: a pod
    # would make them itself (`ip netns add`, SYS_ADMIN), but inside its own mount
    # namespace, where this test's validate, run from the machine, could not see them.
    lab_hosts = [render.netns_name(lab, n.name) for n in lab.nodes.values() if not n.is_router]
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        netns.create_many(lab_hosts, NODE_SYSCTLS)
        emu.network()
        emu.start(str(logs))
        took = emu.wait_ready(60, str(logs))
        print(f"\nall {len(emu.pods)} pods ready {took:.1f}s after start")
        # OSPF may still be converging when the pods report ready (ready means up, not
        # converged): wait for h1 to reach h2, as a user would, then run the checks.
        assert reach(lab, "h1", target_address(lab, "h2"), within=60)[0], "never converged"
        report = []
        assert validate(lab, log=report.append) == 0, "\n".join(map(str, report))
        # every router link crosses the pod network: its MTU less the encapsulation,
        # the smaller host's (hb: 1400) between hosts, ha's (1500) inside ha
        inside_ha = next(link for link in lab.links if link not in crossing
                         and lab.nodes[link.a.node].is_router and lab.nodes[link.b.node].is_router
                         and lab.nodes[link.a.node].host == "ha")
        for iface, want in ((crossing[0].a, 1346), (inside_ha.a, 1446)):
            shown = subprocess.run(["ip", "-n", render.netns_name(lab, iface.node), "-o", "link",
                                    "show", iface.name], capture_output=True, text=True).stdout
            assert f"mtu {want} " in shown, shown
        codes = emu.stop()
        assert codes == {r.name: 0 for r in lab.routers()}, codes
        for r in lab.routers():   # each pod removed the TAPs it made
            left = netns.ip("-o", "link", "show", netns=render.netns_name(lab, r.name))
            assert not any(f": {i}:" in left or f": {i}@" in left for i in r.interfaces), left
    finally:
        emu.clean()
        netns.delete_many([n for n in lab_hosts if netns.exists(n)])
