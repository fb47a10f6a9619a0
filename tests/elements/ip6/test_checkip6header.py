"""CheckIP6Header: good packets leave with nh and dst_ip6 set; bad ones leave on
output 1 (or are dropped), counted per reason."""


CFG = "src :: _Frames6 -> chk :: CheckIP6Header -> good :: _Sink6; chk[1] -> bad :: _Sink6"


def test_good_packets_pass_with_their_destination_annotated_and_bad_ones_go_aside(make_router, six):
    r = make_router(CFG)
    r.initialize()
    good = six.ip6_packet(dst="2001:db8:9::9")
    multicast_src = six.ip6_packet(src="ff02::1")
    short = good[:30]
    r.element("src").send([good, multicast_src, short, good + b"\0\0"])
    assert r.element("good").frames == [good, good]     # padding cut
    assert r.element("good").dst6 == [six.addr("2001:db8:9::9")] * 2
    assert r.element("bad").frames == [multicast_src, short]
    chk = r.element("chk")
    assert chk.read("drops") == "2"
    assert "1\tbad source address" in chk.read("drop_details")
    assert "1\ttiny packet" in chk.read("drop_details")
    assert r.pool.n_used == 0


def test_an_offset_skips_the_link_header(make_router, six):
    r = make_router("src :: _Frames6 -> chk :: CheckIP6Header(14) -> good :: _Sink6")
    r.initialize()
    frame = bytes(12) + b"\x86\xdd" + six.ip6_packet()
    r.element("src").send([frame])
    assert r.element("good").frames == [frame]
    assert r.element("chk").read("drops") == "0"
