"""Resize: head and tail move within the slot."""
from vforward.clickcli import main


def _dumps(err):
    return [ln.split("|")[-1].replace(" ", "") if "|" in ln else "" for ln in err.splitlines()]


def test_removed_head_bytes_come_back_and_the_tail_shrinks(capfd):
    main(["-e", "InfiniteSource(DATA ABCDEF, LIMIT 1, STOP true) -> Resize(HEAD -2) -> Print "
          "-> Resize(2, -3) -> Print -> Resize(TAIL 1) -> Print -> Resize(HEAD -9) -> Print -> Discard"])
    assert _dumps(capfd.readouterr().err) == ["43444546", "414243", "41424344", ""]


def test_a_packet_without_room_is_dropped(capfd):
    main(["-e", "InfiniteSource(LIMIT 1, STOP true) -> r :: Resize(100000) -> c :: Counter -> Discard",
          "-h", "r.drops", "-h", "c.count"])
    assert capfd.readouterr().out.split() == ["r.drops:", "1", "c.count:", "0"]
