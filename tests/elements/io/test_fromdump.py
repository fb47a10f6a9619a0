"""FromDump: pcap records in, packets with their timestamps out; clear errors on bad files."""
import gzip
import os
import struct
import time

import dpkt
import pytest

from vforward.element import Element, ElementError, PUSH_ONLY, register
from vforward.elements.io.pcapfile import (LINKTYPE_IPV4, LINKTYPE_RAW, PcapReader,
                                           write_records)
from vforward.graph import GraphError

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
# The bundled capture, shipped with the package.
SAMPLE = os.path.join(_ROOT, "vforward", "data", "sample.pcap")
T0 = 1_700_000_000_123_456_789   # a nanosecond timestamp


class _Collector(Element):
    """_Collector -- test sink keeping each packet's bytes, ts_ns and nh offset"""
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.packets = []       # (bytes, ts_ns, nh - off)
        self.arrivals = []      # time.monotonic() of each packet
        self.batch_sizes = []

    def push(self, port, batch):
        pool, now = batch.pool, time.monotonic()
        self.batch_sizes.append(len(batch))
        for slot in batch.idx:
            self.packets.append((pool.packet_bytes(slot), int(pool.ts_ns[slot]),
                                 int(pool.nh[slot]) - int(pool.off[slot])))
            self.arrivals.append(now)
        batch.kill()


register(_Collector)


def dpkt_records(path):
    """(bytes, ts_ns) of every record, as dpkt reads them."""
    with open(path, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        nano = reader._divisor != 1e6
        out = []
        for ts, buf in reader:
            ns = int(ts * 10**9) if nano else round(ts * 1e6) * 1000
            out.append((bytes(buf), ns))
    return out


def udp_frame(i, size=60):
    """An Ethernet/IPv4/UDP frame whose payload carries i."""
    ip = dpkt.ip.IP(src=b"\x0a\0\0\x01", dst=b"\x0a\0\0\x02", p=17,
                    data=dpkt.udp.UDP(sport=1000, dport=2000, ulen=8 + size,
                                      data=i.to_bytes(4, "big") * (size // 4)))
    return bytes(dpkt.ethernet.Ethernet(src=b"\x02" * 6, dst=b"\x04" * 6, data=ip))


def run(make_router, config, n_slots=4096, duration=5):
    r = make_router(config, n_slots=n_slots)
    code = r.run(duration=duration)
    return r, code


# -- reading ------------------------------------------------------------------------
def test_sample_pcap_gives_the_frames_and_timestamps_dpkt_reads(make_router):
    r, code = run(make_router, f"src :: FromDump({SAMPLE}, STOP true) -> out :: _Collector;")
    assert code == 0
    got = [(b, ts) for b, ts, _ in r.element("out").packets]
    assert got == dpkt_records(SAMPLE)
    assert len(got) == 300
    assert r.pool.n_used == 0


def test_fast_batch_read_matches_the_plain_record_reader():
    from vforward.packet import PacketPool
    pool = PacketPool(512)
    fast = PcapReader(SAMPLE)
    batch = pool.alloc(512)
    k = fast.read_into(pool, batch.idx)
    got = [(pool.packet_bytes(s), int(pool.ts_ns[s])) for s in batch.idx[:k]]
    plain = PcapReader(SAMPLE)
    assert got == [(data, ts) for ts, data, _ in plain.records()]
    assert fast.exhausted and fast.error is None and fast.pos == fast.size
    fast.close()
    plain.close()


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_both_byte_orders_and_both_resolutions(tmp_path, make_router, order, nano):
    path = str(tmp_path / "in.pcap")
    records = [(T0 + i * 1_000_001_001, udp_frame(i)) for i in range(5)]
    write_records(path, records, nano=nano, byteorder=order)
    r, _ = run(make_router, f"FromDump({path}, STOP true) -> out :: _Collector;")
    got = r.element("out").packets
    assert [b for b, _, _ in got] == [f for _, f in records]
    want_ts = [ts if nano else ts // 1000 * 1000 for ts, _ in records]
    assert [ts for _, ts, _ in got] == want_ts


def test_gzipped_pcap_is_read(tmp_path, make_router):
    path = str(tmp_path / "in.pcap.gz")
    with open(SAMPLE, "rb") as f, gzip.open(path, "wb") as g:
        g.write(f.read())
    r, _ = run(make_router, f"FromDump({path}, STOP true) -> out :: _Collector;")
    assert len(r.element("out").packets) == 300


def test_ethernet_ipv4_packets_get_nh_after_the_link_header(tmp_path, make_router):
    path = str(tmp_path / "in.pcap")
    plain = udp_frame(1)
    tagged = plain[:12] + b"\x81\x00\x00\x05" + plain[12:]      # 802.1Q, VLAN 5
    arp = bytes(dpkt.ethernet.Ethernet(type=dpkt.ethernet.ETH_TYPE_ARP, data=dpkt.arp.ARP()))
    write_records(path, [(T0, plain), (T0, tagged), (T0, arp)])
    r, _ = run(make_router, f"FromDump({path}, STOP true) -> out :: _Collector;")
    assert [nh for _, _, nh in r.element("out").packets] == [14, 18, 0 - r.pool.headroom]


@pytest.mark.parametrize("linktype", [LINKTYPE_RAW, LINKTYPE_IPV4])
def test_raw_ip_captures_have_encap_ip_and_nh_at_the_start(tmp_path, make_router, linktype):
    path = str(tmp_path / "in.pcap")
    write_records(path, [(T0, udp_frame(i)[14:]) for i in range(3)], linktype=linktype)
    r, _ = run(make_router, f"src :: FromDump({path}, STOP true) -> out :: _Collector;")
    assert r.element("src").read("encap") == "IP"
    assert [nh for _, _, nh in r.element("out").packets] == [0, 0, 0]


def test_force_ip_drops_non_ip_with_one_output(make_router):
    r, _ = run(make_router, f"FromDump({SAMPLE}, FORCE_IP true, STOP true) -> out :: _Collector;")
    frames = [b for b, _ in dpkt_records(SAMPLE)]
    ip_frames = [f for f in frames if f[12:14] == b"\x08\x00"]
    assert [b for b, _, _ in r.element("out").packets] == ip_frames
    assert len(ip_frames) == 292
    assert all(nh == 14 for _, _, nh in r.element("out").packets)
    assert r.pool.n_used == 0


def test_force_ip_sends_non_ip_to_output_1_when_connected(make_router):
    r, _ = run(make_router, f"src :: FromDump({SAMPLE}, FORCE_IP true, STOP true); "
                            "src[0] -> ip :: _Collector; src[1] -> other :: _Collector;")
    assert len(r.element("ip").packets) == 292
    other = r.element("other").packets
    assert len(other) == 8 and all(b[12:14] == b"\x08\x06" for b, _, _ in other)
    assert r.element("src").read("count") == "300"


def test_burst_bounds_each_batch_and_a_small_pool_is_enough(make_router):
    r, _ = run(make_router, f"FromDump({SAMPLE}, BURST 32, STOP true) -> out :: _Collector;",
               n_slots=20)
    out = r.element("out")
    assert len(out.packets) == 300
    assert max(out.batch_sizes) <= 20


def test_sample_sends_about_the_given_fraction(make_router):
    r, _ = run(make_router, f"FromDump({SAMPLE}, SAMPLE 0.5, STOP true) -> out :: _Collector;")
    assert 100 < len(r.element("out").packets) < 200
    r, _ = run(make_router, f"FromDump({SAMPLE}, SAMPLE 0, STOP true) -> out :: _Collector;")
    assert r.element("out").packets == []
    assert r.pool.n_used == 0


def test_sample_outside_zero_to_one_is_a_graph_error(make_router):
    with pytest.raises(GraphError, match="SAMPLE"):
        make_router(f"FromDump({SAMPLE}, SAMPLE 1.5) -> Discard;")


# -- time range ------------------------------------------------------------------
def _ten_packets_10ms_apart(tmp_path):
    path = str(tmp_path / "ten.pcap")
    write_records(path, [(T0 + i * 10_000_000, udp_frame(i)) for i in range(10)], nano=True)
    return path


def _indices(r):
    return [int.from_bytes(b[42:46], "big") for b, _, _ in r.element("out").packets]


@pytest.mark.parametrize("keywords, expected", [
    ("START_AFTER 25ms", list(range(3, 10))),
    ("END_AFTER 25ms", [0, 1, 2]),
    ("START_AFTER 20ms, INTERVAL 30ms", [2, 3, 4]),
    (f"START {(T0 + 40_000_000) / 1e9!r}", list(range(4, 10))),
    (f"END {(T0 + 40_000_000) / 1e9!r}", [0, 1, 2, 3]),
])
def test_start_and_end_keywords_select_a_time_range(tmp_path, make_router, keywords, expected):
    path = _ten_packets_10ms_apart(tmp_path)
    r, code = run(make_router, f"FromDump({path}, {keywords}, STOP true) -> out :: _Collector;")
    assert code == 0
    assert _indices(r) == expected
    assert r.pool.n_used == 0


def test_conflicting_time_keywords_are_refused(make_router):
    with pytest.raises(GraphError, match="END, END_AFTER and INTERVAL"):
        make_router(f"FromDump({SAMPLE}, END 5, INTERVAL 1s) -> Discard;")


# -- end of file ----------------------------------------------------------------------
def test_without_stop_the_element_goes_idle_and_the_router_keeps_running(make_router):
    r = make_router(f"src :: FromDump({SAMPLE}) -> out :: _Collector;")
    t0 = time.monotonic()
    r.run(duration=0.2)
    assert time.monotonic() - t0 >= 0.15
    assert r.element("src").read("active") == "false"
    assert len(r.element("out").packets) == 300


def test_end_call_writes_the_named_handler(make_router):
    r = make_router(f"src :: FromDump({SAMPLE}, END_CALL c.reset) -> c :: Counter "
                    "-> out :: _Collector;")
    r.run(duration=0.2)
    assert len(r.element("out").packets) == 300
    assert r.element("c").count == 0      # reset at the end


def test_end_call_stop_stops_the_router(make_router):
    r = make_router(f"FromDump({SAMPLE}, END_CALL stop) -> out :: _Collector;")
    t0 = time.monotonic()
    assert r.run(duration=10) == 0
    assert time.monotonic() - t0 < 5


def test_end_call_to_a_missing_handler_fails_at_initialize(make_router):
    r = make_router(f"FromDump({SAMPLE}, END_CALL c.nosuch) -> c :: Counter -> Discard;")
    with pytest.raises(ElementError, match="no write handler 'nosuch'"):
        r.initialize()


def test_stop_and_end_call_together_are_refused(make_router):
    with pytest.raises(GraphError, match="STOP or END_CALL"):
        make_router(f"FromDump({SAMPLE}, STOP true, END_CALL c.reset) -> c :: Counter -> Discard;")


def test_active_false_waits_for_the_active_handler(make_router):
    r = make_router(f"src :: FromDump({SAMPLE}, ACTIVE false, STOP true) -> out :: _Collector;")
    r.run_until_idle()
    assert r.element("out").packets == []
    r.element("src").write("active", "true")
    assert r.run(duration=5) == 0
    assert len(r.element("out").packets) == 300


def test_handlers_report_count_position_and_encapsulation(make_router):
    r = make_router(f"src :: FromDump({SAMPLE}, BURST 100, ACTIVE false) -> out :: _Collector;")
    src = r.element("src")
    r.initialize()
    size = os.path.getsize(SAMPLE)
    assert (src.read("filesize"), src.read("filepos"), src.read("count")) == (str(size), "24", "0")
    assert src.read("encap") == "ETHER" and src.read("filename") == SAMPLE
    src.write("active", "true")
    r.run_until_idle(max_rounds=1)
    assert src.read("count") == "100"
    assert 24 < int(src.read("filepos")) < size
    r.run_until_idle()
    assert src.read("filepos") == str(size)


def test_stop_handler_stops_the_router(make_router):
    r = make_router(f"src :: FromDump({SAMPLE}, ACTIVE false) -> Discard;")
    r.loop.call_later(0.05, r.element("src").write, "stop", "")
    t0 = time.monotonic()
    r.run(duration=10)
    assert time.monotonic() - t0 < 5


# -- TIMING -------------------------------------------------------------------------
def test_timing_replays_at_the_recorded_pace(tmp_path, make_router):
    path = str(tmp_path / "paced.pcap")
    write_records(path, [(T0 + i * 50_000_000, udp_frame(i)) for i in range(3)])
    r = make_router(f"FromDump({path}, TIMING true, STOP true) -> out :: _Collector;")
    t0 = time.monotonic()
    assert r.run(duration=10) == 0
    elapsed = time.monotonic() - t0
    out = r.element("out")
    assert _indices(r) == [0, 1, 2]
    assert out.arrivals[1] - out.arrivals[0] >= 0.04    # loop timers have ~1 ms grain
    assert out.arrivals[2] - out.arrivals[0] >= 0.09
    assert elapsed >= 0.09


def test_timing_sends_the_capture_in_order_and_whole(make_router):
    # The sample spans about 0.3 s: every packet arrives, in file order.
    r = make_router(f"FromDump({SAMPLE}, true, STOP true) -> out :: _Collector;")
    t0 = time.monotonic()
    r.run(duration=10)
    got = [(b, ts) for b, ts, _ in r.element("out").packets]
    assert got == dpkt_records(SAMPLE)
    span = (got[-1][1] - got[0][1]) / 1e9
    assert time.monotonic() - t0 >= span * 0.9


# -- bad files --------------------------------------------------------------------------
def test_a_missing_file_is_an_error_naming_the_path(tmp_path, make_router):
    path = str(tmp_path / "nowhere.pcap")
    r = make_router(f"FromDump({path}) -> Discard;")
    with pytest.raises(ElementError, match=f"'{path}'.*No such file"):
        r.initialize()


def test_a_file_that_is_not_pcap_is_named_with_its_magic(tmp_path, make_router):
    path = str(tmp_path / "text.pcap")
    with open(path, "w") as f:
        f.write("hello, this is not a capture\n")
    r = make_router(f"FromDump({path}) -> Discard;")
    with pytest.raises(ElementError, match=f"'{path}' is not a pcap file: byte offset 0"):
        r.initialize()


def test_a_pcapng_file_gets_a_conversion_hint(tmp_path, make_router):
    path = str(tmp_path / "x.pcapng")
    with open(path, "wb") as f:
        f.write(struct.pack("<II", 0x0A0D0D0A, 28) + b"\x4d\x3c\x2b\x1a" + bytes(20))
    r = make_router(f"FromDump({path}) -> Discard;")
    with pytest.raises(ElementError, match="pcapng.*editcap"):
        r.initialize()


def test_an_empty_file_is_an_error(tmp_path, make_router):
    path = str(tmp_path / "empty.pcap")
    open(path, "wb").close()
    r = make_router(f"FromDump({path}) -> Discard;")
    with pytest.raises(ElementError, match="not a pcap file"):
        r.initialize()


def test_a_header_only_file_has_no_packets(tmp_path, make_router):
    path = str(tmp_path / "none.pcap")
    write_records(path, [])
    r, code = run(make_router, f"FromDump({path}, STOP true) -> out :: _Collector;")
    assert code == 0 and r.element("out").packets == []


def _cut(tmp_path, n_bytes):
    with open(SAMPLE, "rb") as f:
        data = f.read()[:n_bytes]
    path = str(tmp_path / "cut.pcap")
    with open(path, "wb") as f:
        f.write(data)
    return path


def _record_offsets(path):
    reader = PcapReader(path)
    offsets = []
    while not reader.exhausted:
        offsets.append(reader.pos)
        next(reader.records(), None)
    reader.close()
    return offsets


def test_a_file_cut_inside_a_record_sends_what_precedes_and_names_the_offset(
        tmp_path, make_router, capsys):
    offsets = _record_offsets(SAMPLE)
    path = _cut(tmp_path, offsets[100] + 30)         # inside record 101's bytes
    r, code = run(make_router, f"src :: FromDump({path}, STOP true) -> out :: _Collector;")
    assert len(r.element("out").packets) == 100
    assert code == 1
    error = r.element("src").read("error")
    assert f"'{path}'" in error and f"byte offset {offsets[100]}" in error
    assert "record 101" in error and "cut short" in error
    assert error in capsys.readouterr().err


def test_a_file_cut_inside_a_record_header_names_the_offset(tmp_path, make_router):
    offsets = _record_offsets(SAMPLE)
    path = _cut(tmp_path, offsets[7] + 9)
    r, code = run(make_router, f"src :: FromDump({path}, STOP true) -> out :: _Collector;")
    assert len(r.element("out").packets) == 7
    assert f"byte offset {offsets[7]}: the file ends inside the header of record 8" \
        in r.element("src").read("error")


def test_an_absurd_record_length_stops_reading_without_crashing(tmp_path, make_router):
    offsets = _record_offsets(SAMPLE)
    with open(SAMPLE, "rb") as f:
        data = bytearray(f.read())
    struct.pack_into("<I", data, offsets[42] + 8, 0x7FFFFFFF)    # caplen of record 43
    path = str(tmp_path / "corrupt.pcap")
    with open(path, "wb") as f:
        f.write(data)
    r, code = run(make_router, f"src :: FromDump({path}, BURST 16, STOP true) "
                               "-> out :: _Collector;")
    assert len(r.element("out").packets) == 42
    assert code == 1
    error = r.element("src").read("error")
    assert f"byte offset {offsets[42]}" in error and "2147483647 captured bytes" in error
    assert r.pool.n_used == 0


def test_records_longer_than_a_slot_are_cut_to_fit(tmp_path, make_router, capsys):
    path = str(tmp_path / "jumbo.pcap")
    write_records(path, [(T0, bytes(range(256)) * 16), (T0, udp_frame(1))])
    r, _ = run(make_router, f"FromDump({path}, STOP true) -> out :: _Collector;")
    room = r.pool.slot_size - r.pool.headroom
    got = r.element("out").packets
    assert [len(b) for b, _, _ in got] == [room, len(udp_frame(1))]
    assert got[0][0] == (bytes(range(256)) * 16)[:room]
    assert "1 records were longer than a packet slot" in capsys.readouterr().err
