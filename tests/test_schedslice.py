"""A short scheduler slice for lab workers (vforward/schedslice.py)."""
import threading

import pytest

from vforward.schedslice import current_slice, request_slice


def in_a_thread(fn):
    """fn() run on a thread of its own, so the test process keeps its slice."""
    out = []
    t = threading.Thread(target=lambda: out.append(fn()))
    t.start()
    t.join()
    return out[0]


def test_a_thread_that_asks_for_a_short_slice_runs_with_it():
    before, granted, after = in_a_thread(lambda: (current_slice(), request_slice(200e-6),
                                                  current_slice()))
    if before is None or not granted:
        pytest.skip("this kernel has no sched_setattr for fair tasks")
    if after == before and before != pytest.approx(200e-6):
        pytest.skip("this kernel (before 6.12) ignores a fair task's slice")
    assert after == pytest.approx(200e-6)


def test_the_slice_is_the_asking_threads_alone():
    mine = current_slice()
    in_a_thread(lambda: request_slice(300e-6))
    assert current_slice() == mine
