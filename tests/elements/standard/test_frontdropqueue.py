"""FrontDropQueue: when full, the oldest packet goes."""
from vforward.clickcli import main


def test_a_full_queue_keeps_the_newest_packets(capfd):
    main(["-e", """
s :: InfiniteSource(LIMIT 10, ACTIVE false) -> n :: Counter -> SetIPAddress(1.2.3.4) -> q :: FrontDropQueue(3)
  -> u :: Unqueue(ACTIVE false) -> c :: Counter -> Discard;
DriverManager(write s.active true, wait 10ms, print q.length, print q.drops,
              write u.active true, wait 10ms, print c.count, stop)"""])
    # the source is never paused: all ten arrive, seven oldest are dropped
    assert capfd.readouterr().out.split() == ["3", "7", "3"]
