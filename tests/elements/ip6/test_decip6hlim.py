"""DecIP6HLim: live packets leave with hop limit - 1; expired ones go to output 1."""



def test_hop_limit_is_decremented_and_expired_packets_go_aside(make_router, six):
    r = make_router("src :: _Frames6 -> dh :: DecIP6HLim -> live :: _Sink6; dh[1] -> dead :: _Sink6")
    r.initialize()
    frames = [six.ip6_packet(hlim=h) for h in (64, 1, 0, 2, 255)]
    r.element("src").send(frames)
    assert [f[7] for f in r.element("live").frames] == [63, 1, 254]
    assert [f[:7] + f[8:] for f in r.element("live").frames] == \
        [f[:7] + f[8:] for f in (frames[0], frames[3], frames[4])]
    assert r.element("dead").frames == [frames[1], frames[2]]
    dh = r.element("dh")
    assert (dh.read("count"), dh.read("drops")) == ("3", "2")
    dh.write("reset")
    assert dh.read("count") == "0"


def test_expired_packets_are_dropped_when_output_1_is_unconnected(make_router, six):
    r = make_router("src :: _Frames6 -> dh :: DecIP6HLim -> live :: _Sink6")
    r.initialize()
    r.element("src").send([six.ip6_packet(hlim=1)])
    assert r.element("live").frames == [] and r.pool.n_used == 0
