"""ToDump: packets out to a pcap file, push or pull, closed at shutdown."""
import os
import struct
import time

import dpkt
import pytest

from vforward.elements.io.pcapfile import (LINKTYPE_ETHERNET, LINKTYPE_RAW, MAGIC_MICRO,
                                           MAGIC_NANO, PcapReader, write_records)
from vforward.element import ElementError
from vforward.graph import GraphError

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
# The bundled capture: data/ in the tree, vforward/data/ once shipped with the package.
SAMPLE = next((p for p in (os.path.join(_ROOT, "data", "sample.pcap"),
                           os.path.join(_ROOT, "vforward", "data", "sample.pcap"))
               if os.path.exists(p)), os.path.join(_ROOT, "data", "sample.pcap"))
T0 = 1_700_000_000_123_456_789


def file_header(path):
    """(magic, snaplen, linktype) of a little-endian pcap file."""
    with open(path, "rb") as f:
        magic, _, _, _, _, snaplen, linktype = struct.unpack("<IHHiIII", f.read(24))
    return magic, snaplen, linktype


def records(path):
    """(ts_ns, bytes, wire length) of every record, by the plain reader."""
    reader = PcapReader(path)
    out = list(reader.records())
    assert reader.error is None
    reader.close()
    return out


def sample_records():
    return records(SAMPLE)


def test_writes_every_packet_with_its_timestamp(tmp_path, make_router):
    out = str(tmp_path / "out.pcap")
    r = make_router(f"FromDump({SAMPLE}, STOP true) -> d :: ToDump({out}, SNAPLEN 0);")
    assert r.run(duration=5) == 0
    want = [(ts, data) for ts, data, _ in sample_records()]
    assert [(ts, data) for ts, data, _ in records(out)] == want
    assert r.element("d").read("count") == "300"
    assert r.pool.n_used == 0


def test_header_is_microsecond_ethernet_with_the_snaplen_by_default(tmp_path, make_router):
    out = str(tmp_path / "out.pcap")
    make_router(f"InfiniteSource(LIMIT 1, STOP true) -> ToDump({out});").run(duration=5)
    assert file_header(out) == (MAGIC_MICRO, 2000, LINKTYPE_ETHERNET)


def test_nano_keeps_nanosecond_timestamps(tmp_path, make_router):
    src = str(tmp_path / "in.pcap")
    out = str(tmp_path / "out.pcap")
    write_records(src, [(T0 + i * 1001, b"\x11" * 60) for i in range(4)], nano=True)
    make_router(f"FromDump({src}, STOP true) -> ToDump({out}, NANO true);").run(duration=5)
    assert file_header(out)[0] == MAGIC_NANO
    assert [ts for ts, _, _ in records(out)] == [T0 + i * 1001 for i in range(4)]


def test_microsecond_output_truncates_nanoseconds(tmp_path, make_router):
    src = str(tmp_path / "in.pcap")
    out = str(tmp_path / "out.pcap")
    write_records(src, [(T0, b"\x11" * 60)], nano=True)
    make_router(f"FromDump({src}, STOP true) -> ToDump({out});").run(duration=5)
    assert [ts for ts, _, _ in records(out)] == [T0 // 1000 * 1000]


def test_unstamped_packets_get_the_current_time(tmp_path, make_router):
    out = str(tmp_path / "out.pcap")
    before = time.time_ns()
    make_router(f"InfiniteSource(LIMIT 3, STOP true) -> ToDump({out});").run(duration=5)
    after = time.time_ns()
    stamps = [ts for ts, _, _ in records(out)]
    assert len(stamps) == 3
    assert all(before // 1000 * 1000 <= ts <= after for ts in stamps)


def test_snaplen_cuts_the_bytes_and_keeps_the_wire_length(tmp_path, make_router):
    out = str(tmp_path / "out.pcap")
    make_router(f"InfiniteSource(LENGTH 300, LIMIT 2, STOP true) -> ToDump({out}, SNAPLEN 100);"
                ).run(duration=5)
    assert file_header(out)[1] == 100
    assert [(len(data), wire) for _, data, wire in records(out)] == [(100, 300), (100, 300)]


def test_encap_ip_writes_raw_ip_link_type(tmp_path, make_router):
    out = str(tmp_path / "out.pcap")
    r = make_router(f"InfiniteSource(LIMIT 1, STOP true) -> d :: ToDump({out}, ENCAP IP);")
    r.run(duration=5)
    assert file_header(out)[2] == LINKTYPE_RAW
    assert r.element("d").read("encap") == "IP"


def test_an_unknown_encap_is_a_graph_error(tmp_path, make_router):
    with pytest.raises(GraphError, match="ENCAP.*ETHER or IP"):
        make_router(f"InfiniteSource -> ToDump({tmp_path}/x.pcap, ENCAP ATM);")


def test_use_encap_from_takes_the_link_type_of_a_fromdump_declared_later(tmp_path, make_router):
    src = str(tmp_path / "in.pcap")
    out = str(tmp_path / "out.pcap")
    write_records(src, [(T0, b"\x45" + bytes(19))], linktype=LINKTYPE_RAW)
    r = make_router(f"d :: ToDump({out}, USE_ENCAP_FROM src); "
                    f"src :: FromDump({src}, STOP true) -> d;")
    r.run(duration=5)
    assert file_header(out)[2] == LINKTYPE_RAW


def test_use_encap_from_an_unknown_element_fails_at_initialize(tmp_path, make_router):
    r = make_router(f"InfiniteSource -> ToDump({tmp_path}/o.pcap, USE_ENCAP_FROM nosuch);")
    with pytest.raises(ElementError, match="USE_ENCAP_FROM names 'nosuch'"):
        r.initialize()


def test_with_an_output_packets_pass_through(tmp_path, make_router):
    out = str(tmp_path / "out.pcap")
    r = make_router(f"FromDump({SAMPLE}, STOP true) -> ToDump({out}) -> c :: Counter -> Discard;")
    r.run(duration=5)
    assert r.element("c").count == 300
    assert len(records(out)) == 300


def test_on_a_pull_input_it_drains_the_queue_itself(tmp_path, make_router):
    out = str(tmp_path / "out.pcap")
    r = make_router(f"FromDump({SAMPLE}) -> q :: Queue(1000) -> d :: ToDump({out}, BURST 7);")
    r.run_until_idle()
    assert r.element("q").read("length") == "0"
    r.close()
    assert len(records(out)) == 300


def test_pulled_through_it_writes_what_its_puller_takes(tmp_path, make_router):
    out = str(tmp_path / "out.pcap")
    r = make_router(f"FromDump({SAMPLE}) -> Queue(1000) -> ToDump({out}) -> u :: Unqueue(50) "
                    "-> Discard;")
    r.run_until_idle()
    assert r.element("u").count == 300
    r.close()
    assert len(records(out)) == 300


def test_two_todumps_on_one_file_are_a_graph_error(tmp_path, make_router):
    out = tmp_path / "same.pcap"
    relative = os.path.relpath(out)
    with pytest.raises(GraphError, match="same.pcap"):
        make_router(f"InfiniteSource -> Tee(2) => ToDump({out}), ToDump({relative});")


def test_the_file_is_complete_only_after_shutdown_unless_unbuffered(tmp_path, make_router):
    buffered, direct = str(tmp_path / "b.pcap"), str(tmp_path / "u.pcap")
    r = make_router(f"InfiniteSource(LIMIT 5) -> Tee(2) => ToDump({buffered}), "
                    f"ToDump({direct}, UNBUFFERED true);")
    r.run_until_idle()
    assert os.path.getsize(buffered) == 0          # still in the write buffer
    assert len(records(direct)) == 5
    r.close()
    assert len(records(buffered)) == 5


def test_an_unwritable_path_is_an_error_naming_it(tmp_path, make_router):
    path = str(tmp_path / "no" / "such" / "dir.pcap")
    r = make_router(f"InfiniteSource -> ToDump({path});")
    with pytest.raises(ElementError, match=f"'{path}'.*No such file"):
        r.initialize()


def test_filename_handler(tmp_path, make_router):
    r = make_router(f"InfiniteSource(LIMIT 0) -> d :: ToDump({tmp_path}/x.pcap);")
    assert r.element("d").read("filename") == f"{tmp_path}/x.pcap"


def test_dpkt_reads_what_todump_writes(tmp_path, make_router):
    out = str(tmp_path / "out.pcap")
    make_router(f"InfiniteSource(LENGTH 80, LIMIT 10, STOP true) -> ToDump({out});").run(5)
    with open(out, "rb") as f:
        got = [buf for _, buf in dpkt.pcap.Reader(f)]
    assert len(got) == 10 and all(len(b) == 80 for b in got)


def test_use_encap_from_a_fromdump_whose_file_is_missing_names_the_file(tmp_path, make_router):
    missing = str(tmp_path / "missing.pcap")
    r = make_router(f"d :: ToDump({tmp_path}/o.pcap, USE_ENCAP_FROM src); "
                    f"src :: FromDump({missing}) -> d;")
    with pytest.raises(ElementError, match=f"USE_ENCAP_FROM src: .*'{missing}'"):
        r.initialize()
