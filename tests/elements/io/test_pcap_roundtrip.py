"""FromDump -> ToDump round trips: dpkt, tshark and tcpdump read back what went in."""
import os
import shutil
import subprocess

import dpkt
import pytest

from vforward.elements.io.pcapfile import write_records

_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
# The bundled capture: data/ in the tree, vforward/data/ once shipped with the package.
SAMPLE = next((p for p in (os.path.join(_ROOT, "data", "sample.pcap"),
                           os.path.join(_ROOT, "vforward", "data", "sample.pcap"))
               if os.path.exists(p)), os.path.join(_ROOT, "data", "sample.pcap"))


def dpkt_records(path):
    """(bytes, ts_ns) of every record, and the file's link type, as dpkt reads them."""
    with open(path, "rb") as f:
        reader = dpkt.pcap.Reader(f)
        nano = reader._divisor != 1e6
        out = []
        for ts, buf in reader:
            ns = int(ts * 10**9) if nano else round(ts * 1e6) * 1000
            out.append((bytes(buf), ns))
        return out, reader.datalink()


def expected(encap):
    """What the round trip must give: whole frames, or the IPv4 packets' IP parts."""
    frames, _ = dpkt_records(SAMPLE)
    if encap == "ETHER":
        return frames
    return [(b[14:], ts) for b, ts in frames if b[12:14] == b"\x08\x00"]


def round_trip(make_router, src, out, encap, nano):
    if encap == "ETHER":
        path = "FromDump({src}, STOP true) -> ToDump({out}, SNAPLEN 0, NANO {nano});"
    else:
        path = ("FromDump({src}, FORCE_IP true, STOP true) -> Strip(14) "
                "-> ToDump({out}, ENCAP IP, SNAPLEN 0, NANO {nano});")
    r = make_router(path.format(src=src, out=out, nano=str(nano).lower()))
    assert r.run(duration=10) == 0
    assert r.pool.n_used == 0


def _tool(name):
    exe = shutil.which(name)
    if exe is None:
        pytest.skip(f"{name} is not installed (make system installs it)")
    return exe


CASES = [("ETHER", False), ("ETHER", True), ("IP", False), ("IP", True)]


@pytest.mark.parametrize("encap, nano", CASES)
def test_round_trip_is_read_back_identically_by_dpkt(tmp_path, make_router, encap, nano):
    out = str(tmp_path / "out.pcap")
    round_trip(make_router, SAMPLE, out, encap, nano)
    got, linktype = dpkt_records(out)
    assert linktype == (1 if encap == "ETHER" else 101)
    assert got == expected(encap)


@pytest.mark.parametrize("encap, nano", CASES)
def test_round_trip_is_read_by_tshark_and_tcpdump(tmp_path, make_router, encap, nano):
    tshark, tcpdump = _tool("tshark"), _tool("tcpdump")
    out = str(tmp_path / "out.pcap")
    round_trip(make_router, SAMPLE, out, encap, nano)
    want = [len(b) for b, _ in expected(encap)]
    env = dict(os.environ, HOME=str(tmp_path))   # tshark keeps a profile in $HOME
    ts = subprocess.run([tshark, "-n", "-r", out, "-T", "fields", "-e", "frame.len"],
                        capture_output=True, text=True, timeout=60, env=env)
    assert ts.returncode == 0, ts.stderr
    assert [int(x) for x in ts.stdout.split()] == want
    td = subprocess.run([tcpdump, "-n", "-r", out], capture_output=True, text=True, timeout=60)
    assert td.returncode == 0, td.stderr
    assert len(td.stdout.splitlines()) == len(want)
    assert "truncated" not in td.stderr


def test_nanosecond_big_endian_input_survives_a_round_trip(tmp_path, make_router):
    frames, _ = dpkt_records(SAMPLE)
    records = [(ts + i * 7, b) for i, (b, ts) in enumerate(frames)]   # real nanoseconds
    src, out = str(tmp_path / "be.pcap"), str(tmp_path / "out.pcap")
    write_records(src, records, nano=True, byteorder=">")
    round_trip(make_router, src, out, "ETHER", True)
    got, _ = dpkt_records(out)
    assert got == [(b, ts) for ts, b in records]
