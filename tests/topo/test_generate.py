"""Generated labs (rings and grids) parse, address and route as hand-written ones do."""
import os
import uuid

import pytest

from vforward.topo import generate
from vforward.topo.addressing import assign
from vforward.topo.model import load_lab, parse_lab
from vforward.topo.routes import static_routes


def lab_of(text):
    return assign(parse_lab(text))


def test_ring_has_n_routers_in_a_cycle_with_hosts_at_opposite_ends():
    lab = lab_of(generate.ring(8))
    assert lab.name == "ring8"
    assert [n.name for n in lab.routers()] == [f"r{i}" for i in range(1, 9)]
    router_links = [l for l in lab.links if lab.nodes[l.a.node].is_router and lab.nodes[l.b.node].is_router]
    assert len(router_links) == 8
    assert all(len([i for i in lab.nodes[f"r{i}"].interfaces if i != "eth3"]) == 2 for i in range(1, 9))
    assert lab.interface("h1:eth1").link.other(lab.interface("h1:eth1")).node == "r1"
    assert lab.interface("h2:eth1").link.other(lab.interface("h2:eth1")).node == "r5"


def test_grid_links_neighbours_and_puts_hosts_on_the_diagonal_corners():
    lab = lab_of(generate.grid(3, 4, hosts=4))
    assert lab.name == "grid3x4"
    assert len(lab.routers()) == 12
    assert len(lab.links) == 3 * 3 + 2 * 4 + 4
    peer = lambda ref: lab.interface(ref).link.other(lab.interface(ref)).ref   # noqa: E731
    assert peer("r2-2:eth1") == "r2-3:eth3"
    assert peer("r2-2:eth2") == "r3-2:eth4"
    corners = [peer(f"h{k}:eth1").split(":")[0] for k in range(1, 5)]
    assert corners == ["r1-1", "r3-4", "r1-4", "r3-1"]


@pytest.mark.parametrize("text", [generate.ring(2, hosts=1), generate.ring(5, hosts=0),
                                  generate.grid(1, 2), generate.grid(4, 4, hosts=3)])
def test_every_router_has_a_route_to_every_loopback(text):
    lab = lab_of(text)
    table = static_routes(lab)
    for router in lab.routers():
        prefixes = {r.prefix for r in table[router.name]}
        for other in lab.routers():
            if other is not router:
                assert other.loopback.network in prefixes, (router.name, other.name)


def test_validate_section_names_the_farthest_pair():
    lab = lab_of(generate.grid(3, 3, hosts=0))
    assert [(v.kind, v.src, v.dst) for v in lab.validations] == [
        ("reach", "r1-1", "r3-3"), ("ping", "r1-1", "r3-3")]
    lab = lab_of(generate.ring(6, hosts=2))
    assert {(v.src, v.dst) for v in lab.validations} == {("h1", "h2")}


def test_big_labs_get_address_pools_that_hold_them():
    lab = lab_of(generate.ring(300, hosts=2, name="big"))
    loopbacks = {r.loopback for r in lab.routers()}
    assert len(loopbacks) == 300


def test_path_writes_a_file_that_load_lab_reads(tmp_path):
    path = tmp_path / "g.yaml"
    text = generate.grid(2, 2, name="sq", path=str(path))
    assert path.read_text() == text
    assert load_lab(str(path)).name == "sq"


@pytest.mark.parametrize("call, message", [
    (lambda: generate.ring(1), "at least 2 routers"),
    (lambda: generate.ring(3, hosts=4), "0 to 3 hosts"),
    (lambda: generate.grid(2, 2, hosts=5), "0 to 4 hosts"),
    (lambda: generate.grid(1, 1), "at least 2 routers"),
    (lambda: generate.ring(4, name="a-very-long-lab-name"), "longer than 12"),
])
def test_impossible_labs_are_refused_with_a_reason(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.skipif(os.geteuid() != 0, reason="labs need root")
def test_a_generated_grid_deploys_and_validates(tmp_path):
    from vforward.topo.deploy import deploy, destroy
    from vforward.topo.state import load_state
    from vforward.topo.validate import validate
    name = "g" + uuid.uuid4().hex[:6]
    path = tmp_path / "grid.yaml"
    generate.grid(2, 2, hosts=2, name=name, path=str(path))
    deploy(str(path), nodes_per_worker=2, log=lambda *a: None)
    try:
        assert validate(assign(load_lab(str(path))), log=lambda *a: None) == 0
    finally:
        if load_state(name) is not None:
            destroy(name)
