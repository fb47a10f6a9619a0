"""The asyncio driver: tasks sleep and wake, timers, stop, and clean shutdown."""
import asyncio
import os
import threading
import time

from vforward.element import Element, PUSH_ONLY


def test_source_to_sink_moves_every_packet_and_leaks_none(make_router):
    r = make_router("s :: InfiniteSource(LIMIT 5000, BURST 64, STOP true) -> c :: Counter "
                    "-> q :: Queue(200) -> u :: Unqueue(32) -> d :: Discard;")
    assert r.run(duration=10) == 0
    assert r.element("c").count == 5000
    assert r.element("d").count + r.element("q").drops == 5000
    assert r.pool.n_used == 0


def test_unqueue_sleeps_on_empty_queue_and_wakes_on_push(make_router):
    r = make_router("s :: InfiniteSource(LIMIT 0) -> q :: Queue -> u :: Unqueue -> d :: Discard;")
    r.run_until_idle()
    assert not r._run_queue            # nothing to do: every task asleep
    r.element("s").write("limit", "10")
    r.run_until_idle()
    assert r.element("d").count == 10


def test_duration_stops_an_endless_source(make_router):
    r = make_router("InfiniteSource -> c :: Counter -> Discard;")
    t0 = time.monotonic()
    r.run(duration=0.3)
    assert 0.25 < time.monotonic() - t0 < 5
    assert r.element("c").count > 0


def test_stop_from_another_thread(make_router):
    r = make_router("InfiniteSource -> Discard;")
    threading.Timer(0.2, lambda: r.loop.call_soon_threadsafe(r.stop)).start()
    assert r.run(duration=10) == 0


class _Recorder(Element):
    """_Recorder -- test sink that records cleanup"""
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY
    cleaned = []

    def push(self, port, batch):
        batch.kill()

    def cleanup(self):
        _Recorder.cleaned.append(self.name)


def test_cleanup_runs_for_every_element_after_run(make_router):
    from vforward.element import register
    register(_Recorder)
    _Recorder.cleaned.clear()
    r = make_router("InfiniteSource(LIMIT 1, STOP true) -> rec :: _Recorder;")
    r.run(duration=5)
    assert _Recorder.cleaned == ["rec"]


def test_counter_summary_lists_counters(make_router):
    r = make_router("InfiniteSource(LIMIT 3, STOP true) -> c :: Counter -> Discard;")
    r.run(duration=5)
    rows = {(n, h): v for n, h, v in r.counter_summary()}
    assert rows[("c", "count")] == "3"


class _Boom(Element):
    """_Boom -- test sink whose push raises"""
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def push(self, port, batch):
        batch.kill()
        raise OSError("boom")


def test_an_element_that_raises_stops_the_router_with_status_2(make_router, capsys):
    from vforward.element import register
    register(_Boom)
    r = make_router("InfiniteSource(LIMIT 10, STOP true) -> b :: _Boom;")
    t0 = time.monotonic()
    assert r.run(duration=10) == 2
    assert time.monotonic() - t0 < 5
    assert "'b' (_Boom) failed" in capsys.readouterr().err


def test_a_raising_timer_callback_stops_the_router(make_router):
    r = make_router("InfiniteSource(LIMIT 0) -> Discard;")
    r.initialize()

    def bad():
        raise ValueError("timer")
    r.call_later(0.01, bad)
    assert r.run(duration=10) == 2


def test_a_router_group_runs_several_graphs_on_one_loop():
    from vforward.graph import build_graph
    from vforward.packet import PacketPool
    from vforward.runtime import RouterGroup
    group = RouterGroup()
    a = group.add("a", build_graph("InfiniteSource(LIMIT 100, STOP true) -> c :: Counter -> Discard;"),
                  PacketPool(512))
    b = group.add("b", build_graph("InfiniteSource(LIMIT 50, STOP true) -> c :: Counter -> Discard;"),
                  PacketPool(512))
    assert a.loop is b.loop
    assert group.run(duration=10) == 0
    assert a.element("c").count == 100 and b.element("c").count == 50
    assert a.pool.n_used == b.pool.n_used == 0


def test_an_element_failing_in_a_router_group_stops_the_whole_process_with_status_2():
    """So that a lab's supervisor sees the process die and restarts its routers
    together, instead of one router lying dead in a live process."""
    from vforward.graph import build_graph
    from vforward.packet import PacketPool
    from vforward.runtime import RouterGroup
    group = RouterGroup()
    a = group.add("a", build_graph("Idle -> Discard;"), PacketPool(64))
    b = group.add("b", build_graph("Idle -> Discard;"), PacketPool(64))

    def bad():
        raise ValueError("an element's bug")
    a.call_later(0.05, bad)
    t0 = time.monotonic()
    assert group.run(duration=20) == 2
    assert time.monotonic() - t0 < 10 and b._stopping


def test_a_polling_router_calls_its_readers_without_readiness(make_router):
    """poll: a device's reader runs on every turn of the loop, though its fd never
    becomes readable; without poll it never runs; after remove_reader it stops."""
    r_fd, w_fd = os.pipe()
    try:
        for poll, expect_calls in ((True, True), (False, False)):
            router = make_router("Idle -> Discard;")
            router.poll = poll
            calls = []
            router.add_reader(r_fd, lambda: calls.append(1), poll=True)
            router.call_later(0.05, router.remove_reader, r_fd)
            router.call_later(0.1, router.stop)
            router.run()
            assert (len(calls) > 100) == expect_calls, len(calls)
            if poll:            # nothing after the reader went
                n = len(calls)
                router.loop.run_until_complete(asyncio.sleep(0.02))
                assert len(calls) == n
    finally:
        os.close(r_fd)
        os.close(w_fd)
