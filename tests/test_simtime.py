"""Simulated time: the loop's clock jumps to the next timer."""
import time

from vforward.simtime import SimulatedTimeLoop


def test_an_hour_of_timers_passes_at_once_in_order():
    loop = SimulatedTimeLoop(start=1e9)
    fired = []
    for delay in (3600, 0.001, 60, 1):
        loop.call_later(delay, lambda d=delay: fired.append((d, loop.time())))
    loop.call_later(3601, loop.stop)
    start = time.monotonic()
    loop.run_forever()
    loop.close()
    assert time.monotonic() - start < 5
    assert [d for d, _ in fired] == [0.001, 1, 60, 3600]
    assert all(abs(t - (1e9 + d)) < 1e-5 for d, t in fired)


def test_ready_callbacks_do_not_move_the_clock():
    loop = SimulatedTimeLoop(start=5.0)
    seen = []
    loop.call_soon(lambda: seen.append(loop.time()))
    loop.call_soon(lambda: seen.append(loop.time()))
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.close()
    assert seen == [5.0, 5.0]
