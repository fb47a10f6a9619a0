"""ShmLink: two routers joined through descriptor rings in a shared region,
each on its own event loop (as two processes are), woken by the doorbell."""
import asyncio
import os
import uuid

import pytest

from vforward.element import ElementError
from vforward.graph import build_graph
from vforward.packet import GSO_SLOT_SIZE, GSO_TCPV4, PacketPool
from vforward.runtime import RouterGroup
from tests.elements.link.test_inprocesslink import _tcp_super_frame  # noqa: F401 (registers the test elements)

CONFIG = 'src :: _InProcFrames -> link :: ShmLink("{path}", {side}{extra}) -> keep :: _InProcKeep;'


@pytest.fixture
def region():
    path = f"/dev/shm/vforward-test-{uuid.uuid4().hex[:8]}"
    yield path
    for p in (path, path + ".0", path + ".1"):
        if os.path.exists(p):
            os.unlink(p)


def _end(path, side, pool, extra=""):
    group = RouterGroup()
    router = group.add("r", build_graph(CONFIG.format(path=path, side=side, extra=extra)), pool)
    group.initialize()
    return group, router


def _turn(*groups):
    for g in groups:
        g.loop.run_until_complete(asyncio.sleep(0.02))


def _close(*groups):
    for g in groups:
        for r in g.routers.values():
            r.cleanup()
        g.loop.close()


def test_frames_cross_both_ways_woken_by_the_doorbell(region):
    ga, a = _end(region, 0, PacketPool(64))
    gb, b = _end(region, 1, PacketPool(64))
    try:
        frames = [bytes([i]) * (60 + i) for i in range(20)]
        a.element("src").send(frames)
        b.element("src").send(frames[:4])
        _turn(gb, ga)
        assert b.element("keep").frames == frames
        assert a.element("keep").frames == frames[:4]
        assert a.element("link").tx_count == 20 and b.element("link").count == 20
        assert a.pool.n_used == b.pool.n_used == 0
    finally:
        _close(ga, gb)


def test_what_was_sent_before_the_far_end_started_arrives_when_it_starts(region):
    ga, a = _end(region, 0, PacketPool(16))
    try:
        a.element("src").send([b"early" * 20])
        gb, b = _end(region, 1, PacketPool(16))
        try:
            _turn(gb)
            assert b.element("keep").frames == [b"early" * 20]
        finally:
            _close(gb)
    finally:
        _close(ga)


def test_a_super_frame_crosses_whole_with_its_offload_state(region):
    ga, a = _end(region, 0, PacketPool(8, slot_size=GSO_SLOT_SIZE), ", SLOTS 8")
    gb, b = _end(region, 1, PacketPool(8, slot_size=GSO_SLOT_SIZE), ", SLOTS 8")
    try:
        frame, ann = _tcp_super_frame(20 * 1000, 1000)
        a.element("src").send([frame], **ann)
        _turn(gb)
        assert [len(f) for f in b.element("keep").frames] == [len(frame)]
        assert b.element("keep").gso == [1000]
    finally:
        _close(ga, gb)


def test_a_super_frame_longer_than_the_ring_slots_crosses_as_segments(region):
    extra = ", SLOTS 32, SLOT_SIZE 2048"
    ga, a = _end(region, 0, PacketPool(32, slot_size=GSO_SLOT_SIZE), extra)
    gb, b = _end(region, 1, PacketPool(32), extra)
    try:
        frame, ann = _tcp_super_frame(8 * 1000, 1000)
        a.element("src").send([frame], **ann)
        _turn(gb)
        got = b.element("keep").frames
        assert len(got) == 8 and b"".join(f[54:] for f in got) == frame[54:]
    finally:
        _close(ga, gb)


def test_a_full_ring_drops_and_counts(region):
    ga, a = _end(region, 0, PacketPool(64), ", SLOTS 4")
    gb, b = _end(region, 1, PacketPool(64), ", SLOTS 4")
    try:
        a.element("src").send([b"f" * 60] * 10)
        assert a.element("link").tx_count == 4 and a.element("link").drops == 6
        assert int(b.element("link").read("backlog")) == 4
        _turn(gb)
        assert len(b.element("keep").frames) == 4
    finally:
        _close(ga, gb)


def _pipe_device(router):
    """A pipe registered as the router's packet device; (write fd, reads seen, close)."""
    r_fd, w_fd = os.pipe()
    os.set_blocking(r_fd, False)
    reads = []
    router.add_reader(r_fd, lambda: reads.append(os.read(r_fd, 64)), poll=True)

    def close():
        router.remove_reader(r_fd)
        os.close(r_fd)
        os.close(w_fd)
    return w_fd, reads, close


def test_a_full_ring_holds_the_senders_devices_for_hold_then_reads_them_again(region):
    ga, a = _end(region, 0, PacketPool(64), ", SLOTS 4, HOLD 300ms")
    gb, b = _end(region, 1, PacketPool(64), ", SLOTS 4")
    w_fd, reads, close = _pipe_device(a)
    try:
        a.element("src").send([b"f" * 60] * 10)
        assert a.element("link").read("full") == "1" and a.holds == 1
        os.write(w_fd, b"x")
        _turn(ga)                        # 20 ms into the hold: the device is not read
        assert reads == []
        ga.loop.run_until_complete(asyncio.sleep(0.6))
        assert reads == [b"x"], "the device is read again once the hold is over"
        # What was in the ring still arrives: the hold only pauses the sender's devices.
        _turn(gb)
        assert len(b.element("keep").frames) == 4
    finally:
        close()
        _close(ga, gb)


def test_hold_0_drops_on_a_full_ring_without_holding(region):
    ga, a = _end(region, 0, PacketPool(64), ", SLOTS 4")
    gb, b = _end(region, 1, PacketPool(64), ", SLOTS 4")
    w_fd, reads, close = _pipe_device(a)
    try:
        assert a.element("link").read("hold") == "1ms"
        a.element("link").write("hold", "0")
        a.element("src").send([b"f" * 60] * 10)
        assert a.element("link").drops == 6 and a.holds == 0
        os.write(w_fd, b"x")
        _turn(ga)
        assert reads == [b"x"]
    finally:
        close()
        _close(ga, gb)


def test_ends_of_different_shapes_are_refused_with_the_fix(region):
    ga, _ = _end(region, 0, PacketPool(16), ", SLOTS 8")
    try:
        with pytest.raises(ElementError, match="give both ends the same, or remove the file"):
            _end(region, 1, PacketPool(16), ", SLOTS 16")
    finally:
        _close(ga)


def test_a_busy_receiver_is_rung_once_not_per_batch(region):
    ga, a = _end(region, 0, PacketPool(64))
    gb, b = _end(region, 1, PacketPool(64))
    try:
        _turn(gb)                                   # b drains an empty ring and goes to sleep
        for i in range(5):
            a.element("src").send([bytes([i]) * 60])
        assert a.element("link").tx_count == 5
        assert a.element("link").doorbells == 1     # the first batch woke it; the rest found it awake
        _turn(gb)
        assert b.element("keep").frames == [bytes([i]) * 60 for i in range(5)]
        a.element("src").send([b"x" * 60])          # asleep again after draining: rung again
        assert a.element("link").doorbells == 2
        _turn(gb)
        assert len(b.element("keep").frames) == 6
    finally:
        _close(ga, gb)


ECHO = '''
import asyncio, sys
from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import RouterGroup
g = RouterGroup()
g.add("echo", build_graph('link :: ShmLink("%s", 1) -> link;'), PacketPool(512))
g.initialize()
print("up", flush=True)
g.loop.run_forever()
'''


def test_no_wake_up_is_lost_between_two_processes_under_bursts_and_pauses(region):
    """Ping-pong with another process: every burst must come back, so a lost
    wake-up on either side stalls the exchange and fails the test."""
    import random
    import subprocess
    import sys
    import time
    rng = random.Random(11)
    ga, a = _end(region, 0, PacketPool(512))
    echo = subprocess.Popen([sys.executable, "-c", ECHO % region], stdout=subprocess.PIPE, text=True)
    try:
        assert echo.stdout.readline().strip() == "up"
        keep, sent = a.element("keep"), 0

        async def back(n):
            deadline = time.monotonic() + 5
            while len(keep.frames) < n:
                assert time.monotonic() < deadline, f"lost wake-up: {len(keep.frames)} of {n} came back"
                await asyncio.sleep(0)

        for burst in range(400):
            for part in range(rng.randint(1, 3)):   # parts land while the far end drains, or sleeps
                frames = [bytes([burst % 256, k]) * 30 for k in range(rng.randint(1, 6))]
                a.element("src").send(frames)
                sent += len(frames)
                spin = time.perf_counter() + rng.random() * 200e-6
                while time.perf_counter() < spin:
                    pass
            ga.loop.run_until_complete(back(sent))
            if rng.random() < 0.5:
                time.sleep(rng.random() * 0.002)    # the far end falls asleep, or not quite
        assert len(keep.frames) == sent and a.element("link").drops == 0
        assert 0 < a.element("link").doorbells < sent
    finally:
        echo.kill()
        echo.wait()
        _close(ga)
