"""RoundRobinSwitch: outputs in turn, across batches."""


def test_packets_are_dealt_out_in_turn(make_router):
    r = make_router("s :: InfiniteSource(LIMIT 7, BURST 3) -> rr :: RoundRobinSwitch; "
                    "rr[0] -> a :: Counter -> Discard; rr[1] -> b :: Counter -> Discard")
    r.run_until_idle()
    assert (r.element("a").count, r.element("b").count) == (4, 3)
