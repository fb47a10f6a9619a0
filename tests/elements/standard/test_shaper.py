"""Shaper and BandwidthShaper: an Unqueue behind them runs at their rate."""
from vforward.clickcli import main


def test_shaper_limits_pulls_to_its_rate(capfd):
    main(["--simtime", "-e", "InfiniteSource(LIMIT 1000) -> Queue(2000) -> Shaper(50) -> Unqueue "
          "-> c :: Counter -> Discard; DriverManager(wait 2s, stop)", "-h", "c.count"])
    assert 95 <= int(capfd.readouterr().out) <= 105


def test_bandwidth_shaper_limits_bytes(capfd):
    main(["--simtime", "-e", "InfiniteSource(LENGTH 100, LIMIT 1000) -> Queue(2000) "
          "-> BandwidthShaper(8000bps) -> Unqueue -> c :: Counter -> Discard; "
          "DriverManager(wait 4s, stop)", "-h", "c.count"])
    assert 38 <= int(capfd.readouterr().out) <= 42     # 1000 bytes/s, 100-byte packets


def test_output_1_gets_only_what_output_0_refuses(capfd):
    # a sink pulling every millisecond through a round-robin of both outputs:
    # at 250 per second a quarter is shaped, the rest leaves by output 1
    main(["--simtime", "-e", "InfiniteSource(LIMIT 100) -> s :: Shaper(250) "
          "=> ( [0] -> shaped :: Counter -> [0]; [1] -> [1] ) => RoundRobinSched "
          "-> total :: Counter -> TimedSink(1ms); DriverManager(wait 150ms, stop)",
          "-h", "shaped.count", "-h", "total.count"])
    out = capfd.readouterr().out.split()
    assert out[0] == "shaped.count:" and 23 <= int(out[1]) <= 27
    assert out[2:] == ["total.count:", "100"]
