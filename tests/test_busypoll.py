"""Adaptive polling (vforward/busypoll.py): a router spins a while after device work, within its budget."""
import os
import time

import pytest

from vforward.args import ArgumentError
from vforward.busypoll import DEFAULT_WINDOW, parse_budget
from vforward.graph import build_graph
from vforward.runtime import Router


def run_with_pipe(poll_budget, writes_at=(0.02,), duration=0.25):
    """A router whose one packet device is a pipe, written at `writes_at`;
    (router, times the reader ran, CPU seconds the process used)."""
    router = Router(build_graph("Idle -> Discard;", "test.click"), n_slots=64,
                    poll_budget=poll_budget)
    r_fd, w_fd = os.pipe()
    os.set_blocking(r_fd, False)
    reads = []

    def on_readable():
        try:
            os.read(r_fd, 1)      # one per write, however late the reader runs
            reads.append(time.monotonic())
        except BlockingIOError:
            pass
    try:
        router.add_reader(r_fd, on_readable, poll=True)
        for t in writes_at:
            router.call_later(t, os.write, w_fd, b"x")
        router.call_later(duration, router.stop)
        cpu = time.process_time()
        router.run()
        cpu = time.process_time() - cpu
    finally:
        router.remove_reader(r_fd)
        router.close()
        os.close(r_fd)
        os.close(w_fd)
    return router, reads, cpu


def test_budget_zero_never_spins():
    router, reads, cpu = run_with_pipe((0.0, 0.0), writes_at=(0.02, 0.05, 0.08))
    assert len(reads) == 3
    assert router.busy_poll is None
    # Sleeping in epoll the whole time: far less CPU than the 0.25 s of wall time.
    assert cpu < 0.1


def test_a_read_starts_a_spin_that_lasts_the_window_then_the_router_sleeps():
    window = 0.03
    router, reads, cpu = run_with_pipe((window, 1.0))
    bp = router.busy_poll
    assert len(reads) == 1
    assert bp.spins > 10, "the loop turned without sleeping after the read"
    assert bp.episodes == 1
    assert window <= bp.spin_seconds < window + 0.02
    assert not bp._spinning, "the spin ended"


def test_a_packet_during_the_spin_extends_it():
    router, reads, cpu = run_with_pipe((0.03, 1.0), writes_at=(0.02, 0.04))
    assert len(reads) == 2
    # One spin, from the first read to 30 ms after the second (the reads'
    # own times: a busy machine runs the writer late).
    assert router.busy_poll.episodes == 1
    assert router.busy_poll.spin_seconds >= (reads[1] - reads[0]) + 0.03 - 0.002


def test_the_cpu_share_caps_the_spinning():
    # A 30 ms window after each of three reads, but 2% of a CPU holds at most
    # 20 ms of spinning: one short spin, then none until the budget is earned.
    router, reads, cpu = run_with_pipe((0.03, 0.02), writes_at=(0.02, 0.1, 0.15))
    assert len(reads) == 3
    assert router.busy_poll.spin_seconds < 0.045


@pytest.mark.parametrize("text, expect", [
    ("0", (0.0, 0.0)), ("50us", (50e-6, 1.0)), ("5%", (DEFAULT_WINDOW, 0.05)),
    ("50us,5%", (50e-6, 0.05)), ("0%", (0.0, 0.0)),
])
def test_poll_budgets_parse(text, expect):
    assert parse_budget(text) == pytest.approx(expect)


@pytest.mark.parametrize("text", ["fast", "150%", "1s"])
def test_bad_poll_budgets_say_what_is_expected(text):
    with pytest.raises(ArgumentError, match="poll budget"):
        parse_budget(text)


def test_routers_of_one_group_share_one_spin_and_any_of_their_devices_starts_it():
    from vforward.packet import PacketPool
    from vforward.runtime import RouterGroup
    group = RouterGroup(poll_budget=(0.02, 1.0))
    a = group.add("a", build_graph("Idle -> Discard;", "a.click"), PacketPool(64))
    b = group.add("b", build_graph("Idle -> Discard;", "b.click"), PacketPool(64))
    assert a.busy_poll is b.busy_poll is group.busy_poll is not None
    r_fd, w_fd = os.pipe()
    os.set_blocking(r_fd, False)
    try:
        b.add_reader(r_fd, lambda: os.read(r_fd, 1), poll=True)
        group.loop.call_later(0.02, os.write, w_fd, b"x")
        group.loop.call_later(0.1, group.stop)
        group.run()
    finally:
        b.remove_reader(r_fd)
        os.close(r_fd)
        os.close(w_fd)
        group.loop.close()
    assert group.busy_poll.episodes == 1
    assert group.busy_poll.spin_seconds >= 0.02


def test_a_group_without_a_budget_never_spins():
    from vforward.packet import PacketPool
    from vforward.runtime import RouterGroup
    group = RouterGroup()
    router = group.add("a", build_graph("Idle -> Discard;", "a.click"), PacketPool(64))
    assert group.busy_poll is None and router.busy_poll is None
    group.loop.close()
