"""Block: packets whose address IPRateMonitor found busy go to output 1."""
from tests.clickrun import handler_texts as run, ip_data


def test_block_lets_a_flow_through_until_its_rate_passes_thresh(capfd):
    out = run(capfd, f"RatedSource({ip_data('192.0.2.1', '198.51.100.2')}, RATE 200, LIMIT 600, "
                     "STOP true) -> MarkIPHeader -> IPRateMonitor(PACKETS, 1, 1000) "
                     "-> b :: Block(50); b[0] -> ok :: Counter -> Discard; "
                     "b[1] -> blocked :: Counter -> Discard",
              "ok.count", "blocked.count", "b.thresh")
    ok, blocked, thresh = map(int, out)
    # the average reaches 50/s after 10 epochs of 80 ms at 200/s: 200 * (1 - (31/32)^10) > 50
    assert ok + blocked == 600 and 150 <= ok <= 175 and thresh == 50



def test_thresh_0_passes_everything_and_thresh_can_be_written(make_router):
    r = make_router("Idle -> b :: Block(0) -> Discard")
    r.initialize()
    b = r.element("b")
    batch = r.pool.from_bytes([bytes(40)] * 3)
    r.pool.fwd_rate[batch.idx] = [10, 1000, 5]
    sent = []
    b._out_push[0] = lambda port, bt: sent.append(bt.idx.tolist()) or bt.kill()
    b.push(0, batch)
    assert len(sent[0]) == 3
    b.write("thresh", "8")
    assert b.read("thresh") == "8"
    batch = r.pool.from_bytes([bytes(40)] * 3)
    r.pool.fwd_rate[batch.idx] = [10, 1000, 5]
    b.push(0, batch)
    assert len(sent[1]) == 1 and (b.read("count"), b.read("drops")) == ("4", "2")
    assert r.pool.n_used == 0
