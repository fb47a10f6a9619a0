"""RatedSplitter, BandwidthRatedSplitter, Meter: by rate, on the loop's clock."""
from vforward.clickcli import main


def test_ratedsplitter_passes_its_rate_and_splits_off_the_rest(capfd):
    # 100 packets/s for 2 simulated seconds into a 20/s splitter
    main(["--simtime", "-e", "RatedSource(RATE 100, LIMIT 200, STOP true) -> s :: RatedSplitter(20);"
          " s[0] -> a :: Counter -> Discard; s[1] -> b :: Counter -> Discard",
          "-h", "a.count", "-h", "b.count"])
    out = capfd.readouterr().out.split()
    a, b = int(out[1]), int(out[3])
    assert a + b == 200 and 38 <= a <= 44


def test_bandwidth_splitter_counts_bytes(capfd):
    main(["--simtime", "-e", "RatedSource(LENGTH 100, RATE 100, LIMIT 200, STOP true) "
          "-> s :: BandwidthRatedSplitter(2000Bps); s[0] -> a :: Counter -> Discard; "
          "s[1] -> Discard", "-h", "a.count"])
    assert 38 <= int(capfd.readouterr().out) <= 44     # 20 packets of 100 bytes a second


def test_meter_sends_a_fast_stream_to_the_last_output(capfd):
    main(["--simtime", "-e", "RatedSource(RATE 1000, LIMIT 3000, STOP true) -> m :: Meter(100);"
          " m[0] -> a :: Counter -> Discard; m[1] -> b :: Counter -> Discard", "-h", "b.count"])
    assert int(capfd.readouterr().out) > 2500
