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


def test_ends_of_different_shapes_are_refused_with_the_fix(region):
    ga, _ = _end(region, 0, PacketPool(16), ", SLOTS 8")
    try:
        with pytest.raises(ElementError, match="give both ends the same, or remove the file"):
            _end(region, 1, PacketPool(16), ", SLOTS 16")
    finally:
        _close(ga)
