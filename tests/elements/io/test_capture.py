"""Capture: record times, the packet's receive time or the time it passes."""
import time

import pytest

from vforward.element import HandlerError
from vforward.elements.io.pcapfile import PcapReader


@pytest.mark.parametrize("stamp,expect_received", [("packet", True), ("pass", False)])
def test_capture_stamps_records_with_the_receive_time_or_the_passing_time(make_router, tmp_path, stamp,
                                                                         expect_received):
    path = tmp_path / "c.pcap"
    router = make_router(f'Idle -> cap :: Capture("{path}", STAMP {stamp}) -> Discard;')
    router.initialize()
    cap = router.element("cap")
    batch = router.pool.from_bytes([b"\x00" * 60])
    received = time.time_ns() - 5_000_000_000          # received five seconds ago
    router.pool.ts_ns[batch.idx] = received
    cap.push(0, batch)
    cap.write("stop")
    (ts, _, _), = list(PcapReader(str(path)).records())
    assert (abs(ts - received) < 1000) == expect_received
    assert cap.read("stamp") == stamp


def test_a_bad_stamp_is_refused(make_router):
    router = make_router("Idle -> cap :: Capture -> Discard;")
    with pytest.raises(HandlerError, match="expected packet or pass"):
        router.element("cap").write("stamp", "soon")
