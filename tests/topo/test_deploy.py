"""Placement of a lab's routers on worker processes (no devices needed)."""
from vforward.topo import generate
from vforward.topo.addressing import assign
from vforward.topo.deploy import placement_of, worker_groups
from vforward.topo.model import parse_lab
from vforward.topo.render import link_transport


def lab_of(text):
    return assign(parse_lab(text))


def test_a_small_lab_is_spread_over_the_cpus_in_balanced_runs():
    lab = lab_of(generate.ring(5, hosts=2))
    assert worker_groups(lab, 25, cpus=2) == [["r1", "r2", "r3"], ["r4", "r5"]]
    assert worker_groups(lab, 25, cpus=8) == [["r1"], ["r2"], ["r3"], ["r4"], ["r5"]]
    assert worker_groups(lab, 25, cpus=1) == [["r1", "r2", "r3", "r4", "r5"]]


def test_a_spread_lab_links_its_workers_by_shared_memory_and_keeps_the_rest_in_process():
    lab = lab_of(generate.ring(4, hosts=2))
    placement = placement_of(lab, worker_groups(lab, 25, cpus=2))
    kinds = sorted(link_transport(l, placement) for l in lab.links
                   if lab.nodes[l.a.node].is_router and lab.nodes[l.b.node].is_router)
    assert kinds == ["inprocess", "inprocess", "shm", "shm"]


def test_a_big_lab_keeps_per_worker_routers_a_process_whatever_the_cpus():
    lab = lab_of(generate.grid(10, 10, hosts=2))
    for cpus in (2, 64):
        groups = worker_groups(lab, 25, cpus=cpus)
        assert [len(g) for g in groups] == [25, 25, 25, 25]
    assert [len(g) for g in worker_groups(lab, 30, cpus=2)] == [30, 30, 30, 10]


def test_a_forced_in_process_link_keeps_a_small_lab_in_one_worker():
    text = generate.ring(4, hosts=2).replace('- endpoints: ["r1:eth1", "r2:eth2"]',
                                            '- {endpoints: ["r1:eth1", "r2:eth2"], transport: inprocess}')
    lab = lab_of(text)
    assert any(l.transport == "inprocess" for l in lab.links)
    assert worker_groups(lab, 25, cpus=2) == [["r1", "r2", "r3", "r4"]]


def test_deploy_refuses_fewer_than_one_cpu_before_touching_anything(tmp_path, capsys):
    from vforward.cli import main
    path = tmp_path / "ring.yaml"
    path.write_text(generate.ring(3, hosts=2, name="cpu0"))
    assert main(["topo", "deploy", str(path), "--cpus", "0"]) == 1
    assert "--cpus 0: give at least 1" in capsys.readouterr().err


def test_deploy_refuses_a_bad_poll_budget_before_touching_anything(tmp_path, capsys):
    from vforward.cli import main
    from vforward.topo.state import load_state
    path = tmp_path / "ring.yaml"
    path.write_text(generate.ring(3, hosts=2, name="badspin"))
    assert main(["topo", "deploy", str(path), "--poll-budget", "fast"]) == 1
    assert "--poll-budget: poll budget 'fast': expected a time" in capsys.readouterr().err
    assert load_state("badspin") is None
