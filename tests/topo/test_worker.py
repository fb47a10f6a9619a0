"""A lab worker (vforward/topo/worker.py): what it reads from the lab's directory."""
import pytest

from vforward.args import ArgumentError
from vforward.topo.worker import POLL_BUDGET_FILE, poll_budget_of


def test_a_lab_without_a_poll_budget_file_never_spins(tmp_path):
    assert poll_budget_of(str(tmp_path)) == (0.0, 0.0)


def test_the_poll_budget_file_gives_the_window_and_the_share(tmp_path):
    (tmp_path / POLL_BUDGET_FILE).write_text("200us,10%\n")
    assert poll_budget_of(str(tmp_path)) == pytest.approx((200e-6, 0.10))


def test_a_bad_poll_budget_file_is_an_error_that_says_what_is_expected(tmp_path):
    (tmp_path / POLL_BUDGET_FILE).write_text("fast\n")
    with pytest.raises(ArgumentError, match="poll budget"):
        poll_budget_of(str(tmp_path))


def test_a_workers_routers_of_one_slot_size_share_one_pool_of_their_slots_together():
    from vforward.catalogue import load_builtin
    from vforward.graph import build_graph
    from vforward.packet import GSO_SLOT_SIZE
    from vforward.topo.worker import GSO_POOL_SLOTS, shared_pools
    load_builtin()
    small = [build_graph("Idle -> Discard;") for _ in range(3)]
    big = [build_graph("Idle -> KernelTap(10.0.0.1/24, DEVNAME x, OFFLOAD true) -> Discard;")
           for _ in range(2)]
    pools = shared_pools(small + big, pool_slots=100)
    assert len({id(pools[id(g)]) for g in small}) == 1
    assert len({id(pools[id(g)]) for g in big}) == 1
    assert pools[id(small[0])] is not pools[id(big[0])]
    assert pools[id(small[0])].n_slots == 300
    assert pools[id(big[0])].n_slots == 2 * min(100, GSO_POOL_SLOTS)
    assert pools[id(big[0])].slot_size == GSO_SLOT_SIZE
