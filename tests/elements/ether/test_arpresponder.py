"""ARPResponder: replies for configured addresses and prefixes, built in the query's slot."""
import ipaddress

import dpkt
import pytest

from vforward.element import PUSH_ONLY, Element, HandlerError, register
from vforward.graph import GraphError

ASKER_MAC = bytes.fromhex("02aaaaaaaaaa")
ASKER_IP = "18.26.4.99"
MAC1 = bytes.fromhex("0000C0AE67EF")
MAC2 = bytes.fromhex("020000000002")
MAC3 = bytes.fromhex("020000000003")


class _Frames(Element):
    """_ARFrames -- test source pushing frames with a device (port) annotation"""
    CLASS_NAME = "_ARFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, port=0, paint=0):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.port[batch.idx] = port
        batch.pool.paint[batch.idx] = paint
        self.sent_slots = batch.idx.tolist()
        self.emit(0, batch)


class _Sink(Element):
    """_ARSink -- test sink keeping bytes, slots and annotations"""
    CLASS_NAME = "_ARSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received, self.slots, self.ports, self.paints = [], [], [], []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        self.slots += batch.idx.tolist()
        self.ports += batch.pool.port[batch.idx].tolist()
        self.paints += batch.pool.paint[batch.idx].tolist()
        batch.kill()


register(_Frames)
register(_Sink)


def ip4(text):
    return ipaddress.IPv4Address(text).packed


def query(target, sender_ip=ASKER_IP, sender_mac=ASKER_MAC, op=dpkt.arp.ARP_OP_REQUEST, pad=0):
    arp = dpkt.arp.ARP(op=op, sha=sender_mac, spa=ip4(sender_ip), tha=b"\0" * 6, tpa=ip4(target))
    frame = bytes(dpkt.ethernet.Ethernet(dst=b"\xff" * 6, src=sender_mac, type=0x0806, data=arp))
    return frame + b"\0" * pad


def responder(make_router, args, outputs=2):
    tail = "; ar[1] -> other :: _ARSink" if outputs == 2 else ""
    r = make_router(f"src :: _ARFrames -> ar :: ARPResponder({args}) -> out :: _ARSink{tail}")
    r.initialize()
    return r


def answer(frame):
    """(Ethernet dst, Ethernet src, op, sha, spa, tha, tpa) of a reply."""
    eth = dpkt.ethernet.Ethernet(frame)
    assert eth.type == 0x0806 and len(frame) == 42
    a = eth.arp
    assert (a.hrd, a.pro, a.hln, a.pln) == (1, 0x0800, 6, 4)
    return (eth.dst, eth.src, a.op, a.sha, str(ipaddress.IPv4Address(a.spa)), a.tha,
            str(ipaddress.IPv4Address(a.tpa)))


def done(r):
    r.cleanup()
    assert r.pool.n_used == 0


def test_answers_a_query_for_its_address_in_the_query_slot(make_router):
    r = responder(make_router, "18.26.4.24 00:00:C0:AE:67:EF")
    r.element("src").send([query("18.26.4.24", pad=18)], port=3, paint=7)
    out = r.element("out")
    assert [answer(f) for f in out.received] == [
        (ASKER_MAC, MAC1, dpkt.arp.ARP_OP_REPLY, MAC1, "18.26.4.24", ASKER_MAC, ASKER_IP)]
    assert out.ports == [3] and out.paints == [0]      # device kept, the rest cleared
    assert out.slots == r.element("src").sent_slots     # built in the query's own slot
    assert r.element("other").received == []
    done(r)


def test_answers_for_whole_prefixes_with_the_most_specific_entry(make_router):
    r = responder(make_router, "18.26.7.0/24 00:00:C0:AE:67:EF, 18.26.7.128/25 02:00:00:00:00:02,"
                               " 18.26.8.0/255.255.255.0 02:00:00:00:00:03")
    r.element("src").send([query("18.26.7.1"), query("18.26.7.200"), query("18.26.8.77"),
                           query("18.26.9.1")])
    got = [answer(f) for f in r.element("out").received]
    assert [(g[1], g[4]) for g in got] == [(MAC1, "18.26.7.1"), (MAC2, "18.26.7.200"),
                                           (MAC3, "18.26.8.77")]
    assert r.element("other").received == [query("18.26.9.1")]
    done(r)


def test_several_addresses_may_share_one_ethernet_address(make_router):
    r = responder(make_router, "10.0.0.1 10.0.0.2 10.9.0.0/16 02:00:00:00:00:02")
    r.element("src").send([query(t) for t in ("10.0.0.1", "10.0.0.2", "10.9.3.4", "10.0.0.3")])
    got = [answer(f) for f in r.element("out").received]
    assert [(g[1], g[4]) for g in got] == [(MAC2, "10.0.0.1"), (MAC2, "10.0.0.2"),
                                           (MAC2, "10.9.3.4")]
    done(r)


def test_anything_but_a_matching_query_goes_to_output_1_unchanged(make_router):
    r = responder(make_router, "10.0.0.1 02:00:00:00:00:02")
    reply = query("10.0.0.1", op=dpkt.arp.ARP_OP_REPLY)
    ipv4 = bytes(dpkt.ethernet.Ethernet(dst=MAC2, src=ASKER_MAC, type=0x0800,
                                        data=bytes(dpkt.ip.IP(dst=ip4("10.0.0.1")))))
    runt = query("10.0.0.1")[:41]
    others = [reply, ipv4, runt, query("10.0.0.9")]
    r.element("src").send(others[:2] + [query("10.0.0.1")] + others[2:])
    assert len(r.element("out").received) == 1
    assert r.element("other").received == others
    done(r)


def test_with_one_output_unanswered_packets_are_dropped_and_counted(make_router):
    r = responder(make_router, "10.0.0.1 02:00:00:00:00:02", outputs=1)
    r.element("src").send([query("10.0.0.7"), query("10.0.0.1"), b"runt"])
    assert len(r.element("out").received) == 1
    assert r.element("ar").read("drops") == "2"
    done(r)


def test_a_large_mixed_batch_is_answered_in_one_go(make_router):
    r = responder(make_router, "10.0.0.0/24 02:00:00:00:00:02, 10.0.0.64/26 02:00:00:00:00:03")
    frames = [query(f"10.0.{i % 2}.{i % 256}", sender_ip=f"10.5.{i >> 8}.{i & 255}")
              for i in range(1000)]
    r.element("src").send(frames)
    out = r.element("out").received
    expected = []
    for i in range(1000):
        if i % 2 == 0:
            mac = MAC3 if 64 <= i % 256 < 128 else MAC2
            expected.append((ASKER_MAC, mac, 2, mac, f"10.0.0.{i % 256}", ASKER_MAC,
                             f"10.5.{i >> 8}.{i & 255}"))
    assert [answer(f) for f in out] == expected
    assert len(r.element("other").received) == 500
    done(r)


def test_handlers_list_look_up_add_and_remove_entries(make_router):
    r = responder(make_router, "18.26.4.24 18.26.7.0/24 00-00-C0-AE-67-EF")
    ar = r.element("ar")
    assert ar.read("table") == "18.26.4.24/32 00-00-C0-AE-67-EF\n18.26.7.0/24 00-00-C0-AE-67-EF\n"
    assert ar.read("lookup", "18.26.7.9") == "00-00-C0-AE-67-EF"
    assert ar.read("lookup", "1.2.3.4") == ""
    ar.write("add", "1.2.3.0/24 02:00:00:00:00:02")
    assert ar.read("lookup", "1.2.3.4") == "02-00-00-00-00-02"
    ar.write("remove", "18.26.7.0/24")
    assert ar.read("lookup", "18.26.7.9") == ""
    r.element("src").send([query("1.2.3.4"), query("18.26.7.9")])
    assert len(r.element("out").received) == 1 and len(r.element("other").received) == 1
    with pytest.raises(HandlerError, match="not in the table"):
        ar.write("remove", "9.9.9.0/24")
    with pytest.raises(HandlerError, match="Ethernet address"):
        ar.write("add", "9.9.9.9")
    with pytest.raises(HandlerError, match="IP address"):
        ar.read("lookup", "nope")
    done(r)


def test_bad_entries_are_graph_errors_naming_the_argument(make_router):
    with pytest.raises(GraphError, match="argument 1: more than one Ethernet address"):
        make_router("Idle -> ARPResponder(10.0.0.1 1:1:1:1:1:1 2:2:2:2:2:2) -> Discard")
    with pytest.raises(GraphError, match="argument 2: no Ethernet address"):
        make_router("Idle -> ARPResponder(10.0.0.1 1:1:1:1:1:1, 10.0.0.2) -> Discard")
    with pytest.raises(GraphError, match="neither an IP address"):
        make_router("Idle -> ARPResponder(10.0.0.300 1:1:1:1:1:1) -> Discard")


def test_config_handler_replaces_the_table_and_reads_addressinfo_names(make_router, capfd):
    r = make_router("AddressInfo(a 192.0.2.2/24 00:01:02:03:04:05, b 00:01:02:03:04:06);"
                    "Idle -> ar :: ARPResponder(198.51.100.1 00:00:00:00:00:01) -> Discard")
    r.initialize()
    ar = r.element("ar")
    ar.write("config", "a:ipnet b:eth, a")
    assert ar.read("table") == ("192.0.2.2/32 00-01-02-03-04-05\n"
                                "192.0.2.0/24 00-01-02-03-04-06\n")
    assert ar.read("lookup", "192.0.2.9") == "00-01-02-03-04-06"
    assert capfd.readouterr().err == ""
    ar.write("config", "a, a")
    assert "  warning: multiple entries for 192.0.2.2/32" in capfd.readouterr().err.splitlines()
    with pytest.raises(HandlerError, match="neither an IP address"):
        ar.write("config", "nosuchname")
    assert ar.read("table") == "192.0.2.2/32 00-01-02-03-04-05\n"


def test_a_missing_device_for_addresses_is_a_placed_error_or_an_offline_checks_warning():
    from vforward.graph import build_graph
    from vforward.host_device_addresses import static_check
    text = "Idle\n  -> ARPResponder(192.0.2.1 novfdev3) -> Discard;"
    with static_check(offline=False), pytest.raises(GraphError) as e:
        build_graph(text, "r.click")
    assert str(e.value).startswith("r.click:2:6: ARPResponder@2 :: ARPResponder: argument 1")
    assert "no network device 'novfdev3'" in str(e.value)
    assert "vforward check --no-devices" in str(e.value)
    with pytest.raises(GraphError, match="no network device 'novfdev3'.*create the device"):
        build_graph(text, "r.click")                        # as vforward run reads it
    with static_check(offline=True) as missing:             # vforward check --no-devices
        build_graph(text, "r.click")
    assert list(missing) == ["novfdev3"] and str(missing["novfdev3"][0]) == "r.click:2:6"
