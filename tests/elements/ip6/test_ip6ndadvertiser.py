"""IP6NDAdvertiser: valid solicitations for our addresses get an advertisement
from the target, to the asker, with the target's link-layer address."""
from vforward.elements.ip6.ndmessages import ADV_OVERRIDE, ADV_ROUTER, ADV_SOLICITED, NDMessage, \
    solicitation

HOST_ETH = bytes.fromhex("020000000102")
CFG = ("src :: _Frames6 -> adv :: IP6NDAdvertiser(2001:db8:1::1 02:00:00:00:01:01, "
       "fe80::1 02:00:00:00:01:01, 2001:db8:99::/48 02:00:00:00:09:09) -> out :: _Sink6")


def test_a_solicitation_for_our_address_is_answered(make_router, six):
    r = make_router(CFG)
    r.initialize()
    r.element("src").send([solicitation(HOST_ETH, six.addr("2001:db8:1::2"),
                                        six.addr("2001:db8:1::1"))])
    (na,) = r.element("out").frames
    m = NDMessage.parse(na)
    assert m is not None and m.type == 136
    assert na[:6] == HOST_ETH and m.dst == six.addr("2001:db8:1::2")
    assert m.src == m.target == six.addr("2001:db8:1::1")
    assert m.lladdr == bytes.fromhex("020000000101")
    assert m.flags == ADV_ROUTER | ADV_SOLICITED | ADV_OVERRIDE


def test_proxy_prefixes_dad_probes_and_strangers(make_router, six):
    r = make_router(CFG)
    r.initialize()
    r.element("src").send([
        solicitation(HOST_ETH, six.addr("2001:db8:1::2"), six.addr("2001:db8:99::77")),
        solicitation(HOST_ETH, six.addr("::"), six.addr("fe80::1")),
        solicitation(HOST_ETH, six.addr("2001:db8:1::2"), six.addr("2001:db8:1::3")),
        six.udp6()])
    proxy, dad = (NDMessage.parse(f) for f in r.element("out").frames)
    assert proxy.lladdr == bytes.fromhex("020000000909")
    assert dad.dst == six.addr("ff02::1") and not dad.flags & ADV_SOLICITED
    adv = r.element("adv")
    assert (adv.read("count"), adv.read("drops")) == ("2", "2")
    assert "2001:db8:99::/48 02:00:00:00:09:09" in adv.read("table")


def test_click_1_name_ndadv_answers_as_ip6ndadvertiser(make_router, six):
    r = make_router("src :: _Frames6 -> adv :: NDAdv(3ffe:1ce1:2::5/128 00:a0:c9:9c:fd:9e) "
                    "-> out :: _Sink6")
    r.initialize()
    r.element("src").send([solicitation(HOST_ETH, six.addr("3ffe:1ce1:2::9"),
                                        six.addr("3ffe:1ce1:2::5"))])
    (na,) = r.element("out").frames
    m = NDMessage.parse(na)
    assert m.target == six.addr("3ffe:1ce1:2::5") and m.lladdr == bytes.fromhex("00a0c99cfd9e")
    assert r.element("adv").read("count") == "1"
