"""ARPQuerier: resolved batches framed at once; unresolved ones held, queried, released."""
import ipaddress
import re
import time

import dpkt
import pytest

from vforward.element import PUSH_ONLY, Element, ElementError, HandlerError, register
from vforward.graph import GraphError

MY_MAC = bytes.fromhex("020000000001")
MY_IP = "10.0.0.1"


class _Frames(Element):
    """_AQFrames -- test source pushing packets with next-hop (dst_ip) annotations"""
    CLASS_NAME = "_AQFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, next_hops=None, ts=0):
        batch = self.router.pool.from_bytes(frames)
        if next_hops is not None:
            batch.pool.dst_ip[batch.idx] = [int(ipaddress.IPv4Address(h)) for h in next_hops]
        batch.pool.ts_ns[batch.idx] = ts
        self.sent_slots = batch.idx.tolist()
        self.emit(0, batch)


class _Sink(Element):
    """_AQSink -- test sink keeping bytes, slots, offsets and timestamps"""
    CLASS_NAME = "_AQSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received, self.slots, self.offsets, self.ts = [], [], [], []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        self.slots += batch.idx.tolist()
        self.offsets += batch.pool.off[batch.idx].tolist()
        self.ts += batch.pool.ts_ns[batch.idx].tolist()
        batch.kill()


register(_Frames)
register(_Sink)


def mac(i):
    return bytes([2, 0, 0, 0, 1, i])


def ip4(text):
    return ipaddress.IPv4Address(text).packed


def packet(tag, dst="192.0.2.9"):
    """An IPv4/UDP packet whose payload names it."""
    ip = dpkt.ip.IP(src=ip4("10.9.9.9"), dst=ip4(dst), p=17,
                    data=dpkt.udp.UDP(sport=5, dport=7, data=f"packet {tag}".encode()))
    ip.len = len(bytes(ip))
    return bytes(ip)


def arp(op, sender_ip, sender_mac, target_ip="10.0.0.1", target_mac=MY_MAC):
    a = dpkt.arp.ARP(op=op, sha=sender_mac, spa=ip4(sender_ip), tha=target_mac, tpa=ip4(target_ip))
    return bytes(dpkt.ethernet.Ethernet(dst=target_mac, src=sender_mac, type=0x0806, data=a))


def reply(sender_ip, sender_mac):
    return arp(dpkt.arp.ARP_OP_REPLY, sender_ip, sender_mac)


def querier(make_router, keywords="", outputs=2, ip="10.0.0.1/24"):
    kw = f", {keywords}" if keywords else ""
    tail = "; q[1] -> queries :: _AQSink" if outputs == 2 else ""
    r = make_router(f"ip :: _AQFrames -> q :: ARPQuerier({ip}, 02:00:00:00:00:01{kw}) "
                    f"-> out :: _AQSink; arp :: _AQFrames -> [1]q{tail}")
    r.initialize()
    return r


def framed(frame):
    """(Ethernet dst, src, type, payload) of an output frame."""
    return frame[:6], frame[6:12], int.from_bytes(frame[12:14], "big"), frame[14:]


def parse_query(frame):
    eth = dpkt.ethernet.Ethernet(frame)
    a = eth.arp
    assert eth.type == 0x0806 and len(frame) == 42
    assert (a.hrd, a.pro, a.hln, a.pln, a.op) == (1, 0x0800, 6, 4, dpkt.arp.ARP_OP_REQUEST)
    assert (eth.src, a.sha, a.tha) == (MY_MAC, MY_MAC, b"\0" * 6)
    return eth.dst, str(ipaddress.IPv4Address(a.spa)), str(ipaddress.IPv4Address(a.tpa))


def done(r):
    r.cleanup()
    assert r.pool.n_used == 0


def test_known_next_hops_get_their_headers_for_the_whole_batch(make_router):
    r = querier(make_router)
    q = r.element("q")
    for i in range(2, 52):
        q.write("insert", f"10.0.0.{i} {mac(i).hex(':')}")
    hops = [f"10.0.0.{2 + i % 50}" for i in range(1000)]
    packets = [packet(i) for i in range(1000)]
    r.element("ip").send(packets, hops)
    out = r.element("out")
    assert [framed(f) for f in out.received] == [
        (mac(2 + i % 50), MY_MAC, 0x0800, packets[i]) for i in range(1000)]
    assert out.slots == r.element("ip").sent_slots          # framed in place
    assert out.offsets == [r.pool.headroom - 14] * 1000
    assert r.element("queries").received == []
    assert q.read("count") == "50" and q.read("queries") == "0"
    done(r)


def test_single_packets_are_framed_as_a_batch_would_be(make_router):
    # A batch of one takes a scalar fast path; it must frame, hold, drop and
    # move exactly as the batch path does.
    r = querier(make_router)
    q = r.element("q")
    q.write("insert", f"10.0.0.2 {mac(2).hex(':')}")
    sent = []
    for i, hop in enumerate(["10.0.0.2", "10.0.0.3", "10.0.0.255", "224.1.2.3", "10.0.0.2"]):
        r.element("ip").send([packet(i)], [hop])
        sent += r.element("ip").sent_slots
    out = r.element("out")
    assert [framed(f) for f in out.received] == [
        (mac(2), MY_MAC, 0x0800, packet(0)), (b"\xff" * 6, MY_MAC, 0x0800, packet(2)),
        (bytes.fromhex("01005e010203"), MY_MAC, 0x0800, packet(3)),
        (mac(2), MY_MAC, 0x0800, packet(4))]
    assert out.slots == [sent[0], sent[2], sent[3], sent[4]]
    assert [parse_query(f)[2] for f in r.element("queries").received] == ["10.0.0.3"]
    assert q.read("length") == "1"
    # a packet that lost its headroom is moved back into its slot, then framed
    batch = r.pool.from_bytes([packet(5)])
    slot = int(batch.idx[0])
    r.pool.data[slot, 4:4 + len(packet(5))] = r.pool.data[slot, r.pool.headroom:
                                                          r.pool.headroom + len(packet(5))]
    r.pool.off[slot] = 4
    r.pool.dst_ip[slot] = int(ipaddress.IPv4Address("10.0.0.2"))
    q.push(0, batch)
    assert framed(out.received[-1]) == (mac(2), MY_MAC, 0x0800, packet(5))
    done(r)


def test_a_single_packet_to_an_old_mapping_sends_the_refresh_query(make_router):
    r = querier(make_router, "POLL_TIMEOUT 0.05")
    q = r.element("q")
    q.write("insert", "10.0.0.2 02:00:00:00:01:02")
    r.element("ip").send([packet(1)], ["10.0.0.2"], ts=5)
    assert r.element("queries").received == []
    time.sleep(0.07)
    r.element("ip").send([packet(2)], ["10.0.0.2"], ts=6)
    r.element("ip").send([packet(3)], ["10.0.0.2"], ts=7)   # within 100 ms: no second query
    assert len(r.element("out").received) == 3
    assert [parse_query(f) for f in r.element("queries").received] == \
        [(bytes.fromhex("020000000102"), MY_IP, "10.0.0.2")]
    assert r.element("queries").ts == [6]
    done(r)


def test_an_unknown_next_hop_holds_packets_and_sends_one_query(make_router):
    r = querier(make_router)
    q = r.element("q")
    r.element("ip").send([packet(1), packet(2)], ["10.0.0.2"] * 2, ts=77)
    r.element("ip").send([packet(3)], ["10.0.0.2"])      # within 100 ms: no second query
    assert r.element("out").received == []
    assert q.read("length") == "3"
    queries = r.element("queries")
    assert [parse_query(f) for f in queries.received] == [(b"\xff" * 6, MY_IP, "10.0.0.2")]
    assert queries.ts == [77]
    assert q.read("queries") == "1"
    assert re.fullmatch(r"10\.0\.0\.2 0 FF-FF-FF-FF-FF-FF \d+\.\d{6}\n", q.read("table"))
    done(r)


def test_the_reply_releases_held_packets_in_order_with_the_learned_address(make_router):
    r = querier(make_router)
    q = r.element("q")
    r.element("ip").send([packet(1), packet(2), packet(3)], ["10.0.0.2", "10.0.0.3", "10.0.0.2"])
    assert len(r.element("queries").received) == 2
    r.element("arp").send([reply("10.0.0.2", mac(2))])
    out = r.element("out")
    assert [framed(f) for f in out.received] == [(mac(2), MY_MAC, 0x0800, packet(1)),
                                                 (mac(2), MY_MAC, 0x0800, packet(3))]
    assert q.read("length") == "1" and q.read("responses") == "1"
    assert re.search(r"^10\.0\.0\.2 1 02-00-00-00-01-02 0\.\d{6}$", q.read("table"), re.M)
    r.element("ip").send([packet(4)], ["10.0.0.2"])       # now known: goes at once
    assert framed(out.received[-1]) == (mac(2), MY_MAC, 0x0800, packet(4))
    r.element("arp").send([reply("10.0.0.3", mac(3))])
    assert framed(out.received[-1]) == (mac(3), MY_MAC, 0x0800, packet(2))
    assert q.read("length") == "0" and q.read("drops") == "0"
    done(r)


def test_the_query_is_repeated_when_packets_still_arrive_after_100_ms(make_router):
    r = querier(make_router)
    r.element("ip").send([packet(1)], ["10.0.0.2"])
    time.sleep(0.12)
    r.element("ip").send([packet(2)], ["10.0.0.2"])
    r.element("ip").send([packet(3)], ["10.0.0.2"])
    assert [parse_query(f)[2] for f in r.element("queries").received] == ["10.0.0.2"] * 2
    done(r)


def test_with_one_output_queries_share_output_0(make_router):
    r = querier(make_router, outputs=1)
    r.element("ip").send([packet(1)], ["10.0.0.2"])
    r.element("arp").send([reply("10.0.0.2", mac(2))])
    out = r.element("out").received
    assert parse_query(out[0]) == (b"\xff" * 6, MY_IP, "10.0.0.2")
    assert framed(out[1]) == (mac(2), MY_MAC, 0x0800, packet(1))
    done(r)


def test_only_well_formed_replies_on_input_1_teach_anything(make_router):
    r = querier(make_router)
    q = r.element("q")
    r.element("ip").send([packet(1)], ["10.0.0.2"])
    r.element("arp").send([
        arp(dpkt.arp.ARP_OP_REQUEST, "10.0.0.2", mac(2)),      # a query: Click learns nothing
        reply("10.0.0.2", bytes.fromhex("010000000002")),      # a group address
        reply("10.0.0.2", mac(2))[:41],                        # cut short
    ])
    assert r.element("out").received == []
    assert q.read("length") == "1" and q.read("responses") == "2"
    assert q.read("drops") == "1"          # the short one: counted, not silently freed
    done(r)


def test_an_unsolicited_reply_is_learned(make_router):
    r = querier(make_router)
    r.element("arp").send([reply("10.0.0.7", mac(7))])
    r.element("ip").send([packet(1)], ["10.0.0.7"])
    assert [framed(f)[0] for f in r.element("out").received] == [mac(7)]
    assert r.element("queries").received == []
    done(r)


def test_broadcast_multicast_and_zero_next_hops_need_no_query(make_router):
    r = querier(make_router)
    q = r.element("q")
    hops = ["10.0.0.255", "255.255.255.255", "224.1.2.3", "239.129.2.3", "0.0.0.0"]
    r.element("ip").send([packet(i) for i in range(5)], hops)
    assert [framed(f)[0].hex("-") for f in r.element("out").received] == [
        "ff-ff-ff-ff-ff-ff", "ff-ff-ff-ff-ff-ff", "01-00-5e-01-02-03", "01-00-5e-01-02-03"]
    assert r.element("queries").received == []
    assert q.read("drops") == "1" and q.read("count") == "0"
    assert q.read("broadcast") == "10.0.0.255"
    done(r)


def test_capacity_drops_the_oldest_held_packets_and_counts_them(make_router):
    r = querier(make_router, "CAPACITY 4")
    q = r.element("q")
    r.element("ip").send([packet(i) for i in range(1, 11)], ["10.0.0.2"] * 10)
    assert q.read("length") == "4" and q.read("drops") == "6"
    assert q.read("stats") == "6 packets killed\n1 ARP queries sent\n"
    r.element("arp").send([reply("10.0.0.2", mac(2))])
    assert [framed(f)[3] for f in r.element("out").received] == [packet(i) for i in (7, 8, 9, 10)]
    done(r)


def test_entry_packet_capacity_bounds_the_packets_held_per_address(make_router):
    r = querier(make_router, "ENTRY_PACKET_CAPACITY 2")
    q = r.element("q")
    r.element("ip").send([packet(i) for i in range(5)] + [packet(9)],
                         ["10.0.0.2"] * 5 + ["10.0.0.3"])
    assert q.read("length") == "3" and q.read("drops") == "3"
    r.element("arp").send([reply("10.0.0.2", mac(2))])
    assert [framed(f)[3] for f in r.element("out").received] == [packet(0), packet(1)]
    done(r)


def test_entry_capacity_evicts_the_oldest_entry_with_its_packets(make_router):
    r = querier(make_router, "ENTRY_CAPACITY 2")
    q = r.element("q")
    r.element("ip").send([packet(i) for i in range(3)], ["10.0.0.2", "10.0.0.3", "10.0.0.4"])
    assert q.read("count") == "2" and q.read("drops") == "1"
    assert [line.split()[0] for line in q.read("table").splitlines()] == ["10.0.0.3", "10.0.0.4"]
    done(r)


def test_entries_expire_after_timeout_on_a_running_router(make_router):
    r = querier(make_router, "TIMEOUT 0.2")
    q = r.element("q")
    q.write("insert", "10.0.0.2 02:00:00:00:01:02")
    r.element("ip").send([packet(1)], ["10.0.0.3"])         # held, never answered
    seen = {}

    def early():
        seen["early"] = (q.read("count"), q.read("length"))

    def late():
        seen["late"] = (q.read("count"), q.read("length"), q.read("drops"))
        r.element("ip").send([packet(2)], ["10.0.0.2"])     # forgotten: held and asked again
        seen["after"] = (q.read("length"), q.read("queries"))

    r.call_later(0.05, early)
    r.call_later(0.5, late)
    r.run(duration=0.6)
    assert seen["early"] == ("2", "1")
    assert seen["late"] == ("0", "0", "1")
    assert seen["after"] == ("1", "2")
    assert r.element("out").received == []
    assert r.pool.n_used == 0                               # run() cleaned up what was held


def test_an_expired_mapping_is_not_used_before_the_timer_removes_it(make_router):
    r = querier(make_router, "TIMEOUT 0.05")
    q = r.element("q")
    q.write("insert", "10.0.0.2 02:00:00:00:01:02")
    time.sleep(0.07)
    assert q.read("table").split()[1] == "0"
    r.element("ip").send([packet(1)], ["10.0.0.2"])
    assert r.element("out").received == []
    assert [parse_query(f)[2] for f in r.element("queries").received] == ["10.0.0.2"]
    r.element("arp").send([reply("10.0.0.2", mac(9))])
    assert [framed(f)[0] for f in r.element("out").received] == [mac(9)]
    done(r)


@pytest.mark.parametrize("broadcast_poll, to", [("false", mac(2)), ("true", b"\xff" * 6)])
def test_an_old_mapping_in_use_is_refreshed_by_one_query(make_router, broadcast_poll, to):
    r = querier(make_router, f"POLL_TIMEOUT 0.15, BROADCAST_POLL {broadcast_poll}")
    q = r.element("q")
    q.write("insert", "10.0.0.2 02:00:00:00:01:02")
    r.element("ip").send([packet(1)], ["10.0.0.2"])
    assert r.element("queries").received == []
    time.sleep(0.2)
    r.element("ip").send([packet(2), packet(3)], ["10.0.0.2"] * 2)
    r.element("ip").send([packet(4)], ["10.0.0.2"])
    assert len(r.element("out").received) == 4              # still sent meanwhile
    assert [parse_query(f) for f in r.element("queries").received] == [(to, MY_IP, "10.0.0.2")]
    done(r)


def test_insert_delete_and_clear_handlers(make_router):
    r = querier(make_router)
    q = r.element("q")
    r.element("ip").send([packet(1), packet(2)], ["10.0.0.2", "10.0.0.3"])
    q.write("insert", "10.0.0.2 02-00-00-00-01-02")          # releases what waits for it
    assert [framed(f)[0] for f in r.element("out").received] == [mac(2)]
    q.write("delete", "10.0.0.3")                            # drops what waits for it
    assert q.read("count") == "1" and q.read("drops") == "1"
    lines = q.read("table").splitlines()
    assert len(lines) == 1 and lines[0].startswith("10.0.0.2 1 02-00-00-00-01-02 ")
    with pytest.raises(HandlerError, match="not in the ARP table"):
        q.write("delete", "10.0.0.3")
    with pytest.raises(HandlerError, match="IP ETH"):
        q.write("insert", "10.0.0.4")
    with pytest.raises(HandlerError, match="IP address"):
        q.write("delete", "ten")
    r.element("ip").send([packet(3)], ["10.0.0.4"])
    q.write("clear")
    assert (q.read("count"), q.read("length"), q.read("queries")) == ("0", "0", "0")
    done(r)


def test_ipaddr_and_broadcast_handlers(make_router):
    r = querier(make_router, ip="10.0.0.1")
    q = r.element("q")
    assert (q.read("ipaddr"), q.read("broadcast")) == ("10.0.0.1", "255.255.255.255")
    q.write("ipaddr", "10.0.0.5")
    q.write("broadcast", "10.0.0.127")
    r.element("ip").send([packet(1), packet(2)], ["10.0.0.2", "10.0.0.127"])
    assert parse_query(r.element("queries").received[0])[1] == "10.0.0.5"
    assert framed(r.element("out").received[0])[0] == b"\xff" * 6
    q.write("ipaddr", "0.0.0.0")                             # unconfigured: drops everything
    r.element("ip").send([packet(3)], ["10.0.0.127"])
    assert len(r.element("out").received) == 1 and q.read("drops") == "1"
    with pytest.raises(HandlerError, match="ipaddr"):
        q.write("ipaddr", "x")
    done(r)


def test_queriers_can_share_an_arptable(make_router):
    r = make_router("""
        t :: ARPTable(CAPACITY 8);
        ip1 :: _AQFrames -> q1 :: ARPQuerier(10.0.0.1, 02:00:00:00:00:01, TABLE t)
            -> out1 :: _AQSink;
        ip2 :: _AQFrames -> q2 :: ARPQuerier(10.0.0.1, 02:00:00:00:00:01, TABLE t)
            -> out2 :: _AQSink;
        Idle -> [1]q1; Idle -> [1]q2;
    """)
    r.initialize()
    q1, t = r.element("q1"), r.element("t")
    r.element("ip2").send([packet(1)], ["10.0.0.2"])
    assert t.read("length") == "1"
    q1.write("insert", "10.0.0.2 02:00:00:00:01:02")        # q1 sends what q2 held
    assert [framed(f)[3] for f in r.element("out1").received] == [packet(1)]
    r.element("ip2").send([packet(2)], ["10.0.0.2"])
    out2 = r.element("out2").received                       # one output: q2's query came first
    assert parse_query(out2[0])[2] == "10.0.0.2"
    assert [framed(f)[3] for f in out2[1:]] == [packet(2)]
    r.element("ip1").send([packet(3)], ["10.0.0.3"])
    t.write("insert", "10.0.0.3 02:00:00:00:01:03")         # the table's own handler releases too
    assert framed(r.element("out1").received[-1])[:1] == (mac(3),)
    assert t.read("count") == r.element("q2").read("count") == "2"
    done(r)


def test_configuration_mistakes_are_reported(make_router):
    with pytest.raises(GraphError, match="missing argument ETH"):
        make_router("Idle -> q :: ARPQuerier(10.0.0.1) -> Discard; Idle -> [1]q")
    with pytest.raises(GraphError, match="argument IP"):
        make_router("Idle -> q :: ARPQuerier(10.0.0, 1:1:1:1:1:1) -> Discard; Idle -> [1]q")
    with pytest.raises(GraphError, match="CAPACITY belong to the ARPTable"):
        make_router("t :: ARPTable; Idle -> q :: ARPQuerier(10.0.0.1, 1:1:1:1:1:1, TABLE t, "
                    "CAPACITY 5) -> Discard; Idle -> [1]q")
    with pytest.raises(GraphError, match="CAPACITY_SLIM_FACTOR"):
        make_router("Idle -> q :: ARPQuerier(10.0.0.1, 1:1:1:1:1:1, CAPACITY_SLIM_FACTOR 0) "
                    "-> Discard; Idle -> [1]q")
    r = make_router("c :: Counter; Idle -> c -> Discard; Idle -> q :: ARPQuerier(10.0.0.1, "
                    "1:1:1:1:1:1, TABLE c) -> Discard; Idle -> [1]q")
    with pytest.raises(ElementError, match="TABLE 'c' is a Counter, not an ARPTable"):
        r.initialize()


# -- under a scan --------------------------------------------------------------------------
def test_a_scan_of_a_large_subnet_keeps_the_table_bounded_and_known_next_hops(make_router):
    """Packets to 20 000 addresses nobody answers for: the table stays at its
    entry capacity, held packets at CAPACITY, the drops are counted, and the
    next hop traffic uses is never evicted: its packets are framed at once."""
    import ipaddress
    import tracemalloc
    r = querier(make_router, "CAPACITY 256, ENTRY_CAPACITY 1000", ip="10.0.0.1/16")
    q = r.element("q")
    q.write("insert", "10.0.0.2 02:00:00:00:01:02")
    base = int(ipaddress.IPv4Address("10.0.16.0"))
    frames, live = [packet(i) for i in range(250)], [packet("live")]
    tracemalloc.start()
    try:
        for wave in range(2):
            for b in range(40):
                dsts = [str(ipaddress.IPv4Address(base + wave * 10000 + b * 250 + i))
                        for i in range(250)]
                r.element("ip").send(frames, dsts)
                before = len(r.element("out").received)
                r.element("ip").send(live, ["10.0.0.2"])
                assert len(r.element("out").received) == before + 1   # framed at once
                for sink in ("out", "queries"):     # what the test keeps is not the table's
                    for kept in vars(r.element(sink)).values():
                        if isinstance(kept, list):
                            kept.clear()
            if wave == 0:
                after_first = tracemalloc.get_traced_memory()[0]
        grown = tracemalloc.get_traced_memory()[0] - after_first
    finally:
        tracemalloc.stop()
    assert int(q.read("count")) <= 1000 and int(q.read("length")) <= 256
    assert int(q.read("drops")) >= 20000 - 256
    assert q.read("table").startswith("10.0.0.2 1 02-00-00-00-01-02 ")
    assert grown < 512 * 1024, f"the second wave of 10 000 addresses grew memory by {grown} bytes"
    done(r)


def test_the_default_entry_capacity_is_bounded(make_router):
    r = querier(make_router)
    assert r.element("q").table.entry_capacity == 4096
    done(r)


def test_packets_waiting_for_answers_never_hold_more_than_a_quarter_of_the_pool(make_router):
    """With CAPACITY above the pool, a scan would otherwise hold every slot and
    leave the router unable to receive anything."""
    import ipaddress
    r = make_router("ip :: _AQFrames -> q :: ARPQuerier(10.0.0.1/16, 02:00:00:00:00:01, "
                    "CAPACITY 100000) -> out :: _AQSink; arp :: _AQFrames -> [1]q; "
                    "q[1] -> queries :: _AQSink", n_slots=1024)
    r.initialize()
    q = r.element("q")
    frames = [packet(i) for i in range(100)]
    for b in range(30):
        r.element("ip").send(frames, [str(ipaddress.IPv4Address(0x0A001000 + b * 100 + i))
                                      for i in range(100)])
        for kept in vars(r.element("queries")).values():
            if isinstance(kept, list):
                kept.clear()
    assert int(q.read("length")) <= 256
    assert r.pool.n_free >= 1024 - 256 - 1
    done(r)


def test_a_full_queue_keeps_the_entry_its_newest_packet_waits_on(capfd):
    from vforward.clickcli import main
    dump = "!data timestamp ip_dst\\n0 192.0.2.1\\n0.5 192.0.2.1\\n"
    main(["--simtime", "-e", f"""
        FromIPSummaryDump(DATA "{dump}", TIMING true, STOP true)
          -> arpq :: ARPQuerier(192.0.2.10, 2:1:0:a:a:f, CAPACITY 1, TIMEOUT 0.1) -> Discard;
        Idle -> [1]arpq;
        DriverManager(pause, print arpq.count, print arpq.length, print arpq.table)"""])
    # the first packet made room for the second; its address's entry stays, unresolved
    count, length, table = capfd.readouterr().out.splitlines()[:3]
    assert (count, length) == ("1", "1")
    assert table.startswith("192.0.2.1 0 FF-FF-FF-FF-FF-FF ")


def test_a_refresh_query_leaves_before_the_packet_that_made_it_due(capfd):
    from vforward.clickcli import main
    dump = "!data timestamp ip_dst sport\\n0 192.0.2.1 1\\n0.09 192.0.2.1 2\\n"
    main(["--simtime", "-e", f"""
        FromIPSummaryDump(DATA "{dump}", TIMING true, STOP true)
          -> arpq :: ARPQuerier(192.0.2.10, 2:1:0:a:a:f, TIMEOUT 1, POLL_TIMEOUT 0.08)
          -> IPPrint(ip, TIMESTAMP false) -> Discard;
        arpq[1] -> ARPPrint(q, TIMESTAMP false) -> ARPResponder(0/0 2:2:1:b:b:0)
          -> ARPPrint(r) -> [1]arpq;"""])
    lines = capfd.readouterr().err.splitlines()
    assert [l.split(":")[0] for l in lines] == ["q", "r", "ip", "q", "r", "ip"]
    assert lines[4].startswith("r: 0.000000: arp reply 192.0.2.1")   # a reply is a new packet


def test_a_full_queue_drops_the_oldest_entries_packets_but_keeps_the_entries(capfd):
    from vforward.clickcli import main
    dump = "!data ip_dst\\n192.0.2.1\\n192.0.2.2\\n192.0.2.3\\n192.0.2.1\\n192.0.2.2\\n"
    main(["--simtime", "-e", f"""
        FromIPSummaryDump(DATA "{dump}", STOP true)
          -> arpq :: ARPQuerier(192.0.2.10, 2:1:0:a:a:f, CAPACITY 4) -> Discard;
        arpq[1] -> Discard; Idle -> [1]arpq;
        DriverManager(pause, print arpq.count, print arpq.length)"""])
    # the fifth packet: down to 2 held, emptying 192.0.2.1's entry first, then
    # 192.0.2.2's; both entries stay, waiting for answers (as in Click)
    assert capfd.readouterr().out.split() == ["3", "2"]
