"""TimedSink: one packet per interval."""
from vforward.clickcli import main


def test_timedsink_pulls_once_per_interval(capfd):
    main(["--simtime", "-e", "InfiniteSource(LIMIT 100) -> q :: SimpleQueue(200) -> "
          "t :: TimedSink(0.1s); DriverManager(wait 1.05s, stop)", "-h", "t.count"])
    assert capfd.readouterr().out == "10\n"
