"""FullNoteQueue pauses the source filling it; NotifierQueue does not."""
import pytest

from vforward.clickcli import main


@pytest.mark.parametrize("queue, sent, scheduled", [("FullNoteQueue", "5", "false"),
                                                    ("NotifierQueue", "15", "false"),
                                                    ("QuickNoteQueue", "5", "false")])
def test_only_a_full_notifier_pauses_its_source(capfd, queue, sent, scheduled):
    main(["--simtime", "-e", f"i :: InfiniteSource(LIMIT 15) -> c :: Counter -> q :: {queue}(5) -> Idle; "
          "DriverManager(wait 0.1s, print i.scheduled, print c.count, stop)"])
    assert capfd.readouterr().out.split() == [scheduled, sent]
