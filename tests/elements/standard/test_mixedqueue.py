"""MixedQueue: input 0 joins the tail, input 1 jumps to the head."""
from vforward.clickcli import main


def test_input_1_leaves_first_and_a_full_queue_drops_its_tail(capfd):
    main(["-e", """
a :: InfiniteSource(DATA "a", LIMIT 3, ACTIVE false) -> [0] m :: MixedQueue(4);
b :: InfiniteSource(DATA "b", LIMIT 3, ACTIVE false) -> [1] m;
m -> u :: Unqueue(ACTIVE false) -> Print(CONTENTS ASCII) -> Discard;
DriverManager(write a.active true, wait 10ms, write b.active true, wait 10ms,
              print m.drops, write u.active true, wait 10ms, stop)"""])
    err = capfd.readouterr()
    # a a a, then b b b at the head: the fourth push finds it full and drops an 'a'
    assert err.out.split() == ["2"]
    assert [ln.split("|")[-1].strip() for ln in err.err.splitlines()] == ["b", "b", "b", "a"]
