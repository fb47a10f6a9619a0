"""Automatic placement: METIS puts unpinned nodes on the lab's hosts in balanced
numbers with the fewest links between hosts; pins and lab hosts are respected."""
import json
import os
import shutil
import uuid

import pytest

from tests.cliprocess import run_cli
from vforward.cluster.placement import place
from vforward.topo.model import TopologyError, parse_lab

HOSTS = """\
hosts:
  ha: {address: 192.0.2.1}
  hb: {address: 192.0.2.2}
  hc: {address: 192.0.2.3}
"""


def clusters_lab(**kw):
    text, clusters = clusters_text(**kw)
    return parse_lab(text, "clus3.yaml"), clusters


def clusters_text(pins=None, hosts=HOSTS, extra_hosts=True):
    """Three full meshes of four routers (c0: r0 r3 r6 r9, c1: r1 r4 ..., c2: r2 r5 ...),
    joined in a triangle by one link each, listed interleaved so that file order says
    nothing; a lab host on one router of each mesh.  The best placement cuts 3 links."""
    pins = pins or {}
    clusters = [[f"r{c + 3 * i}" for i in range(4)] for c in range(3)]
    lines = ["name: clus3", hosts, "topology:", "  nodes:"]
    for i in range(12):
        pin = f"host: {pins[f'r{i}']}" if f"r{i}" in pins else ""
        lines.append(f"    r{i}: {{{pin}}}")
    if extra_hosts:
        for c in range(3):
            pin = f"host: {pins[f'h{c}']}" if f"h{c}" in pins else ""
            lines.append(f"    h{c}: {{kind: host{', ' + pin if pin else ''}}}")
    lines.append("  links:")
    port = {}

    def link(a, b):
        port[a] = port.get(a, 0) + 1
        port[b] = port.get(b, 0) + 1
        lines.append(f'    - endpoints: ["{a}:eth{port[a]}", "{b}:eth{port[b]}"]')
    for members in clusters:
        for i, a in enumerate(members):
            for b in members[i + 1:]:
                link(a, b)
    link("r0", "r1")
    link("r4", "r2")
    link("r5", "r3")
    if extra_hosts:
        for c in range(3):
            link(f"h{c}", clusters[c][0])
    return "\n".join(lines) + "\n", clusters


def test_metis_places_each_mesh_on_one_host_cutting_only_the_three_joining_links():
    lab, clusters = clusters_lab()
    p = place(lab)
    assert p.method == "metis"
    assert sorted(p.counts().values()) == [5, 5, 5]     # 4 routers and a lab host each
    for members in clusters:
        assert len({p.hosts[m] for m in members}) == 1
    assert len({p.hosts[members[0]] for members in clusters}) == 3
    assert sorted((link.a.node, link.b.node) for link in p.crossing) == \
        [("r0", "r1"), ("r4", "r2"), ("r5", "r3")]


def test_a_lab_host_goes_with_the_router_it_is_linked_to():
    lab, clusters = clusters_lab()
    p = place(lab)
    for c in range(3):
        assert p.hosts[f"h{c}"] == p.hosts[clusters[c][0]]
        assert lab.nodes[f"h{c}"].host == p.hosts[f"h{c}"]


def test_pinned_nodes_stay_and_their_mesh_follows_them():
    # r0 (mesh c0) pinned to hc, r1 (mesh c1) to ha: METIS's parts are named after them
    lab, clusters = clusters_lab(pins={"r0": "hc", "r1": "ha"})
    p = place(lab)
    assert p.hosts["r0"] == "hc" and p.hosts["r1"] == "ha"
    assert "r0" not in p.automatic and "r1" not in p.automatic and "r9" in p.automatic
    assert {p.hosts[m] for m in clusters[0]} == {"hc"}
    assert {p.hosts[m] for m in clusters[1]} == {"ha"}
    assert {p.hosts[m] for m in clusters[2]} == {"hb"}
    assert len(p.crossing) == 3


def test_a_pinned_lab_host_brings_its_router():
    lab, clusters = clusters_lab(pins={"h2": "hb"})
    p = place(lab)
    assert p.hosts[clusters[2][0]] == "hb" and p.hosts["h2"] == "hb"


def test_a_lab_host_pinned_away_from_its_router_is_refused_naming_both():
    lab, clusters = clusters_lab(pins={"h0": "ha", "r0": "hb"})
    with pytest.raises(TopologyError, match=r"h0 on ha .*r0 on hb|r0 on hb.*h0 on ha"):
        place(lab)


def test_placement_is_the_same_every_time_the_lab_is_read():
    first = place(clusters_lab()[0]).hosts
    for _ in range(3):
        assert place(clusters_lab()[0]).hosts == first


def test_a_lab_without_hosts_stays_on_the_local_machine():
    lab, _ = clusters_lab(hosts="")
    p = place(lab)
    assert p.method == "pinned" and set(p.hosts.values()) == {"local"} and not p.crossing


def test_balance_holds_when_the_graph_gives_no_natural_split():
    lab, _ = clusters_lab(extra_hosts=False,
                          hosts="hosts:\n  ha: {address: 192.0.2.1}\n  hb: {address: 192.0.2.2}\n")
    p = place(lab)
    assert sorted(p.counts().values()) == [6, 6]


def test_topo_place_prints_hosts_and_crossing_links_and_json(tmp_path):
    path = tmp_path / "clus3.yaml"
    path.write_text(clusters_text()[0])
    p = run_cli("topo", "place", str(path))
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "links crossing hosts: 3 of 24" in out and "r0:eth4 -- r1:eth4" in out
    p = run_cli("topo", "place", str(path), "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["method"] == "metis" and len(doc["crossing"]) == 3
    assert sorted(len(h["nodes"]) for h in doc["hosts"].values()) == [5, 5, 5]


@pytest.mark.netns
@pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")
@pytest.mark.skipif(shutil.which("bird") is None, reason="bird2 is not installed")
def test_an_automatic_placement_runs_on_emulated_hosts_and_validates(tmp_path):
    from vforward.bundled import lab as bundled_lab
    from vforward.node.emulate import deploy_emulated
    from vforward.topo.deploy import destroy, prepare
    from vforward.topo.state import load_state
    from vforward.topo.validate import reach, target_address, validate
    name = "pl" + uuid.uuid4().hex[:6]
    text = open(bundled_lab("ospf4.yaml")).read().replace("name: ospf4", f"name: {name}")
    path = tmp_path / "lab.yaml"
    path.write_text(text.replace("routing: ospf\n", "routing: ospf\nhosts:\n"
                                 "  ha: {address: 192.0.2.1}\n  hb: {address: 192.0.2.2}\n", 1))
    try:
        deploy_emulated(str(path), log=lambda *a: None)
        lab = prepare(str(path))
        assert sorted(place(lab).counts().values()) == [3, 3]
        assert reach(lab, "h1", target_address(lab, "h2"), within=60)[0]
        assert validate(lab, log=lambda *a: None) == 0
    finally:
        if load_state(name) is not None:
            destroy(name)


def test_a_plain_deploy_of_a_placed_lab_names_the_ways_to_run_it(tmp_path):
    from vforward.topo.deploy import DeployError, deploy
    path = tmp_path / "clus3.yaml"
    path.write_text(clusters_text()[0])
    with pytest.raises(DeployError, match="--emulate-hosts to try the placement here, --k8s to run it"):
        deploy(str(path))
