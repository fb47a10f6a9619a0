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
