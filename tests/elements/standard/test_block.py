"""Block: packets whose address IPRateMonitor found busy go to output 1."""
from vforward.clickcli import main


def ip_data(src, dst):
    """An IPv4 header as Click's hex DATA string (checksum not needed: MarkIPHeader)."""
    a = [int(x) for x in src.split(".")] + [int(x) for x in dst.split(".")]
    return "\\<45 00 00 1c 00 00 00 00 40 11 00 00 " + " ".join(f"{x:02x}" for x in a) + \
        " 00 35 00 35 00 08 00 00>"


def run(capfd, config, *handlers):
    """Each handler's text, as `click -h` prints it (a 'NAME:' line above each when several)."""
    args = ["--simtime", "-e", config]
    for h in handlers:
        args += ["-h", h]
    assert main(args) == 0
    out = capfd.readouterr().out
    if len(handlers) == 1:
        return [out.rstrip("\n")]
    blocks = out.rstrip("\n").split("\n\n")
    assert [b.split("\n", 1)[0] for b in blocks] == [h + ":" for h in handlers]
    return [b.split("\n", 1)[1] for b in blocks]


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
