"""RED: nothing dropped below MIN_THRESH, everything above MAX_THRESH."""


def test_red_drops_once_the_average_queue_passes_max(make_router):
    r = make_router("InfiniteSource(LIMIT 20000, BURST 64) -> red :: RED(5, 50, 0.1) -> "
                    "q :: Queue(100000) -> Idle", n_slots=32768)
    r.run_until_idle()
    red = r.element("red")
    assert int(red.read("drops")) > 10000          # the queue never drains
    assert float(red.read("avg_queue_size")) >= 50


def test_red_passes_everything_while_the_queue_stays_short(make_router):
    r = make_router("InfiniteSource(LIMIT 2000, BURST 4) -> red :: RED(50, 100, 0.5) -> "
                    "q :: Queue(1000) -> Discard")
    r.run_until_idle()
    assert r.element("red").read("drops") == "0"
