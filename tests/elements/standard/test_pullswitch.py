"""PullSwitch: pulls go to the chosen input only."""
from vforward.clickcli import main


def test_pulls_follow_the_switch(capfd):
    main(["--simtime", "-e", """
InfiniteSource(LIMIT 5) -> q0 :: Queue -> [0] s :: PullSwitch(-1);
InfiniteSource(LIMIT 7) -> q1 :: Queue -> [1] s;
s -> c :: Counter -> Discard;
DriverManager(wait 0.1s, print c.count, write s.switch 1, wait 0.1s, print c.count,
              write s.switch 0, wait 0.1s, print c.count, print s.switch, stop)"""])
    assert capfd.readouterr().out.split() == ["0", "7", "12", "0"]
