"""RatedSplitter, BandwidthRatedSplitter, Meter: by rate, on the loop's clock."""
from vforward.clickcli import main


def test_ratedsplitter_passes_its_rate_and_splits_off_the_rest(capfd):
    # 100 packets/s for 2 simulated seconds into a 20/s splitter
    main(["--simtime", "-e", "RatedSource(RATE 100, LIMIT 200, STOP true) -> s :: RatedSplitter(20);"
          " s[0] -> a :: Counter -> Discard; s[1] -> b :: Counter -> Discard",
          "-h", "a.count", "-h", "b.count"])
    out = capfd.readouterr().out.split()
    a, b = int(out[1]), int(out[3])
    # Click's default bucket holds one packet: a token that matures just after
    # an arrival waits for the next one (10 ms later), so a little below 41
    assert a + b == 200 and 33 <= a <= 44


def test_bandwidth_splitter_counts_bytes(capfd):
    main(["--simtime", "-e", "RatedSource(LENGTH 100, RATE 100, LIMIT 200, STOP true) "
          "-> s :: BandwidthRatedSplitter(2000Bps); s[0] -> a :: Counter -> Discard; "
          "s[1] -> Discard", "-h", "a.count"])
    assert 38 <= int(capfd.readouterr().out) <= 44     # 20 packets of 100 bytes a second


def test_meter_sends_a_fast_stream_to_the_last_output(capfd):
    main(["--simtime", "-e", "RatedSource(RATE 1000, LIMIT 3000, STOP true) -> m :: Meter(100);"
          " m[0] -> a :: Counter -> Discard; m[1] -> b :: Counter -> Discard", "-h", "b.count"])
    assert int(capfd.readouterr().out) > 2500


def test_ratedsplitter_bucket_starts_full_and_holds_burst_size(capfd):
    main(["--simtime", "-e", "InfiniteSource -> Queue(10) -> RatedUnqueue(10) "
          "-> s :: RatedSplitter(RATE 2, BURST_SIZE 50) -> c :: Counter -> Discard; s[1] -> Discard; "
          "DriverManager(wait 10, stop)", "-h", "c.count"])
    # 50 at once from the full bucket (as fast as RatedUnqueue brings them), then 2 a second
    assert 66 <= int(capfd.readouterr().out) <= 70
