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
