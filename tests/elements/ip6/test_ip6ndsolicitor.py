"""IP6NDSolicitor: unknown next hops are held and solicited; an advertisement
releases them framed for the advertised address; known ones are framed at once."""
from vforward.elements.ip6.ndmessages import (ADV_SOLICITED, NDMessage, advertisement,
                                              solicitation)

ME, ME_ETH = "2001:db8:1::1", bytes.fromhex("020000000101")
HOST_ETH = bytes.fromhex("020000000102")
CFG = (f"src :: _Frames6 -> nd :: IP6NDSolicitor({ME}, 02:00:00:00:01:01) -> out :: _Sink6;"
       "nd[1] -> asked :: _Sink6; adv :: _Frames6 -> [1]nd")


def test_packets_wait_for_the_advertisement_and_leave_framed_in_order(make_router, six):
    r = make_router(CFG)
    r.initialize()
    frames = [six.udp6(dst="2001:db8:1::2", sport=p) for p in (1, 2, 3)]
    r.element("src").send(frames, annotate_dst=True)
    assert r.element("out").frames == []
    (ns,) = r.element("asked").frames           # one solicitation for three packets
    m = NDMessage.parse(ns)
    assert m is not None and m.type == 135 and m.target == six.addr("2001:db8:1::2")
    assert m.dst == six.addr("ff02::1:ff00:2") and ns[:6] == bytes.fromhex("3333ff000002")
    assert m.src == six.addr(ME) and m.lladdr == ME_ETH
    nd = r.element("nd")
    assert nd.read("length") == "3" and nd.read("queries") == "1"
    na = advertisement(HOST_ETH, six.addr("2001:db8:1::2"), six.addr(ME), ME_ETH, ADV_SOLICITED)
    r.element("adv").send([na])
    header = HOST_ETH + ME_ETH + b"\x86\xdd"
    assert r.element("out").frames == [header + f for f in frames]
    assert nd.read("length") == "0" and nd.read("responses") == "1"
    assert nd.read("table").split()[:3] == ["2001:db8:1::2", "1", "02-00-00-00-01-02"]
    r.element("src").send([frames[0]], annotate_dst=True)      # known now: framed at once
    assert r.element("out").frames[-1] == header + frames[0]
    assert r.pool.n_used == 0


def test_multicast_next_hops_need_no_solicitation_and_the_unspecified_one_is_dropped(
        make_router, six):
    r = make_router(CFG)
    r.initialize()
    r.element("src").send([six.udp6(dst="ff02::5"), six.udp6(dst="::")], annotate_dst=True)
    assert r.element("out").frames == [bytes.fromhex("333300000005") + ME_ETH + b"\x86\xdd"
                                       + six.udp6(dst="ff02::5")]
    assert r.element("asked").frames == [] and r.element("nd").read("drops") == "1"


def test_handlers_insert_release_and_delete(make_router, six):
    r = make_router(CFG)
    r.initialize()
    nd = r.element("nd")
    r.element("src").send([six.udp6(dst="2001:db8:1::7")], annotate_dst=True)
    nd.write("insert", "2001:db8:1::7 02:00:00:00:01:07")
    assert len(r.element("out").frames) == 1 and nd.read("count") == "1"
    nd.write("delete", "2001:db8:1::7")
    assert nd.read("count") == "0"


def test_solicitations_teach_the_sender_and_bad_messages_teach_nothing(make_router, six):
    r = make_router(CFG)
    r.initialize()
    ns = solicitation(HOST_ETH, six.addr("2001:db8:1::9"), six.addr(ME))
    bad_hlim = bytearray(ns)
    bad_hlim[14 + 7] = 64
    r.element("adv").send([ns, bytes(bad_hlim)])
    assert r.element("nd").read("count") == "1"
    assert r.element("nd").read("table").split()[0] == "2001:db8:1::9"
