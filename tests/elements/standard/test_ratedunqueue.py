"""RatedUnqueue and BandwidthRatedUnqueue: pull at a packet or byte rate on loop timers."""
import time

import pytest

from vforward.element import HandlerError
from vforward.graph import GraphError

BACKLOG = "InfiniteSource(LENGTH 100, BURST 64) -> Queue(2000)"


def test_moves_packets_at_the_given_rate(make_router):
    r = make_router(f"{BACKLOG} -> u :: RatedUnqueue(1000) -> c :: Counter -> Discard")
    r.run(duration=0.4)
    count = r.element("c").count
    assert 0.4 * 400 < count <= 400 + 25          # + the first packet and a 20 ms bucket
    assert r.element("u").read("count") == str(count)


def test_high_rates_move_bursts_and_keep_the_average(make_router):
    r = make_router(f"{BACKLOG} -> u :: RatedUnqueue(100000) -> c :: Counter -> Discard")
    t0 = time.monotonic()
    r.run(duration=0.3)
    # A loaded machine ends the run late: the rate holds over the time it really ran.
    ran = max(0.3, time.monotonic() - t0)
    assert 0.4 * 30000 < r.element("c").count <= 100000 * ran + 2100


def test_the_bucket_bounds_the_burst_after_a_pause(make_router):
    r = make_router("s :: InfiniteSource(BURST 64, ACTIVE false) -> Queue(2000) "
                    "-> u :: RatedUnqueue(100, BURST 5) -> c :: Counter -> Discard")
    r.loop.call_later(0.3, r.element("s").write, "active", "true")
    r.run(duration=0.32)
    assert r.element("c").count <= 5 + 5          # 30 tokens accrued, 5 kept, ~2 more earned


def test_rate_and_active_handlers(make_router):
    r = make_router(f"{BACKLOG} -> u :: RatedUnqueue(100, ACTIVE false) "
                    "-> c :: Counter -> Discard")
    u = r.element("u")
    u.write("rate", "2000")
    assert u.read("rate") == "2000" and u.read("active") == "false"
    r.loop.call_later(0.1, u.write, "active", "true")
    r.run(duration=0.3)
    # Active for at most the whole 0.3 s run (the 0.1 s timer starts before it).
    assert 0.4 * 400 < r.element("c").count <= 600 + 41
    u.write("reset")
    assert u.read("count") == "0"
    with pytest.raises(HandlerError):
        u.write("rate", "fast")


def test_bandwidth_rated_unqueue_keeps_the_byte_rate(make_router):
    r = make_router(f"{BACKLOG} -> u :: BandwidthRatedUnqueue(800kbps) -> c :: Counter -> Discard")
    r.run(duration=0.4)
    u = r.element("u")
    assert u.read("rate") == "100000"           # bytes per second
    nbytes = r.element("c").byte_count
    assert int(u.read("byte_count")) == nbytes
    assert 0.4 * 40000 < nbytes <= 40000 + 2000 + 64 * 100   # bucket, plus one batch of debt


@pytest.mark.parametrize("config, complaint", [
    ("RatedUnqueue", "missing argument RATE"),
    ("RatedUnqueue(-5)", "argument RATE"),
    ("RatedUnqueue(10, BURST_SIZE big)", "argument BURST_SIZE"),
    ("RatedUnqueue(10, BURST_DURATION soon)", "argument BURST_DURATION"),
    ("BandwidthRatedUnqueue(fast)", "argument RATE: expected a rate"),
    ("BandwidthRatedUnqueue(1Mbps, BURST 3)", "unknown keyword BURST"),
])
def test_bad_arguments_are_graph_errors_naming_them(make_router, config, complaint):
    with pytest.raises(GraphError, match=complaint):
        make_router(f"InfiniteSource -> Queue -> {config} -> Discard")


def test_bandwidth_bucket_lets_a_packet_go_at_a_zero_balance(capfd):
    from vforward.clickcli import main
    # 500 bytes of burst: five 100-byte packets empty it, and a sixth may still
    # go (as in Click: a packet leaves while the balance is not negative)
    main(["--simtime", "-e", """
        InfiniteSource(LENGTH 100) -> Queue(10)
          -> u :: BandwidthRatedUnqueue(RATE 200Bps, BURST_BYTES 500) -> c :: Counter -> Discard;
        Script(wait 0.1, read c.count, wait 0.5, read c.count, write stop)"""])
    assert capfd.readouterr().err.split() == ["c.count:", "6", "c.count:", "7"]
