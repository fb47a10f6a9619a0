"""InProcessLink: two routers of one process joined without a socket."""
import asyncio

import numpy as np
import pytest

from vforward.element import PUSH_ONLY, Element, ElementError, register
from vforward.graph import build_graph
from vforward.packet import GSO_SLOT_SIZE, GSO_TCPV4, PacketPool
from vforward.runtime import RouterGroup
from vforward.elements.link.inprocesslink import HANDOFF_BUDGET, InProcessLink


class _Frames(Element):
    """_InProcFrames -- test source: emits the frames given to send()"""
    CLASS_NAME = "_InProcFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, **annotations):
        batch = self.router.pool.from_bytes(frames)
        for name, value in annotations.items():
            getattr(self.router.pool, name)[batch.idx] = value
        slots = batch.idx.tolist()
        self.emit(0, batch)
        return slots


class _Keep(Element):
    """_InProcKeep -- test sink keeping what it receives (bytes, slots, annotations)"""
    CLASS_NAME = "_InProcKeep"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.frames, self.slots, self.gso = [], [], []

    def push(self, port, batch):
        self.frames += batch.to_bytes()
        self.slots += batch.idx.tolist()
        self.gso += batch.pool.gso_size[batch.idx].tolist()
        batch.kill()


register(_Frames)
register(_Keep)
CONFIG = "src :: _InProcFrames -> link :: InProcessLink({ch}) -> keep :: _InProcKeep;"


def _pair(pools, channel="lab/0"):
    group = RouterGroup()
    routers = [group.add(n, build_graph(CONFIG.format(ch=channel)), p) for n, p in zip("ab", pools)]
    group.initialize()
    return group, routers


def _turn(group):
    group.loop.run_until_complete(asyncio.sleep(0.01))


def _close(group):
    for r in group.routers.values():
        r.cleanup()
    group.loop.close()


def test_frames_cross_to_the_other_router_and_back_with_their_bytes():
    group, (a, b) = _pair([PacketPool(64), PacketPool(64)])
    try:
        frames = [bytes([i]) * (60 + i) for i in range(10)]
        a.element("src").send(frames)
        b.element("src").send(frames[:3])
        _turn(group)
        assert b.element("keep").frames == frames
        assert a.element("keep").frames == frames[:3]
        assert a.element("link").tx_count == 10 and b.element("link").count == 10
        assert a.pool.n_used == b.pool.n_used == 0      # copied, and every slot back
        assert a.element("link").read("connected") == "true"
    finally:
        _close(group)


def test_routers_sharing_a_pool_hand_over_the_slots_themselves():
    pool = PacketPool(64)
    group, (a, b) = _pair([pool, pool])
    try:
        sent = a.element("src").send([b"x" * 80, b"y" * 90])
        _turn(group)
        assert b.element("keep").slots == sent
        assert pool.n_used == 0
    finally:
        _close(group)


def test_a_super_frame_crosses_whole_with_its_offload_state():
    group, (a, b) = _pair([PacketPool(16, slot_size=GSO_SLOT_SIZE), PacketPool(16, slot_size=GSO_SLOT_SIZE)])
    try:
        a.element("src").send([b"z" * 30000], gso_size=1448, gso_type=GSO_TCPV4)
        _turn(group)
        assert [len(f) for f in b.element("keep").frames] == [30000]
        assert b.element("keep").gso == [1448]
    finally:
        _close(group)


def _tcp_super_frame(payload_len, mss):
    import struct
    from vforward.packet import HEADROOM
    eth = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + 20 + payload_len, 1, 0x4000, 64, 6, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    tcp = struct.pack("!HHIIBBHHH", 1000, 2000, 1, 0, 5 << 4, 0x18, 65535, 0, 0)
    frame = eth + ip + tcp + bytes(range(256)) * (payload_len // 256) + b"\x00" * (payload_len % 256)
    return frame, dict(nh=HEADROOM + 14, csum_start=HEADROOM + 34, csum_offset=16,
                       gso_type=GSO_TCPV4, gso_size=mss)


def test_a_super_frame_too_big_for_the_far_pool_crosses_as_segments():
    group, (a, b) = _pair([PacketPool(64, slot_size=GSO_SLOT_SIZE), PacketPool(64)])
    try:
        frame, ann = _tcp_super_frame(10 * 1000, 1000)
        a.element("src").send([frame], **ann)
        _turn(group)
        got = b.element("keep").frames
        assert len(got) == 10 and all(len(f) == 14 + 40 + 1000 for f in got)
        assert b"".join(f[54:] for f in got) == frame[54:]
        assert a.pool.n_used == b.pool.n_used == 0
    finally:
        _close(group)


def test_packets_with_no_far_end_are_dropped_and_counted():
    group = RouterGroup()
    a = group.add("a", build_graph(CONFIG.format(ch="alone")), PacketPool(16))
    group.initialize()
    try:
        a.element("src").send([b"q" * 60] * 3)
        assert a.element("link").drops == 3 and a.pool.n_used == 0
        assert a.element("link").read("connected") == "false"
    finally:
        _close(group)


def test_a_third_end_on_one_channel_is_refused_with_the_fix():
    group = RouterGroup()
    for n in "abc":
        group.add(n, build_graph(CONFIG.format(ch="busy")), PacketPool(16))
    with pytest.raises(ElementError, match="already has two ends.*own CHANNEL"):
        group.initialize()
    group.loop.close()


def test_ends_on_different_loops_do_not_pair():
    g1, (a,) = _pair([PacketPool(16)][:1], channel="split")
    g2, (b,) = _pair([PacketPool(16)][:1], channel="split")
    try:
        assert a.element("link").peer is None and b.element("link").peer is None
    finally:
        _close(g1)
        _close(g2)


class _Depth(Element):
    """_InProcDepth -- test pass-through recording the stack depth it runs at"""
    CLASS_NAME = "_InProcDepth"
    PORTS = "1/1"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.depths = []

    def push(self, port, batch):
        import sys
        frame, depth = sys._getframe(), 0
        while frame is not None:
            frame, depth = frame.f_back, depth + 1
        self.depths.append(depth)
        self.emit(0, batch)


class _Guard(Element):
    """_InProcGuard -- test element passing input i to output i, recording any
    push that arrives while it is still inside another"""
    CLASS_NAME = "_InProcGuard"
    PORTS = "2/2"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.inside = False
        self.reentered = 0
        self.seen = [0, 0]

    def push(self, port, batch):
        if self.inside:
            self.reentered += 1
        self.inside = True
        try:
            self.seen[port] += len(batch.idx)
            self.emit(port, batch)
        finally:
            self.inside = False


register(_Depth)
register(_Guard)


def _group(configs, pool):
    group = RouterGroup()
    routers = [group.add(f"r{i}", build_graph(text), pool) for i, text in enumerate(configs)]
    group.initialize()
    return group, routers


def _line(n, tag):
    """n routers in a line, r0's source to r(n-1)'s sink, one link between neighbours."""
    configs = [f"src :: _InProcFrames -> d :: _InProcDepth -> l :: InProcessLink({tag}/0) -> Discard;"]
    for i in range(1, n - 1):
        configs.append(f"Idle -> InProcessLink({tag}/{i - 1}) -> d :: _InProcDepth "
                       f"-> r :: InProcessLink({tag}/{i}) -> Discard;")
    configs.append(f"Idle -> InProcessLink({tag}/{n - 2}) -> d :: _InProcDepth -> keep :: _InProcKeep;")
    return configs


def test_a_line_of_thirty_routers_is_crossed_in_one_call_one_hop_deep():
    pool = PacketPool(256)
    group, routers = _group(_line(30, "deep"), pool)
    try:
        routers[0].element("src").send([b"a" * 60] * 4)
        # no turn of the loop: the whole line ran within the call
        assert routers[-1].element("keep").frames == [b"a" * 60] * 4
        depths = [r.element("d").depths[0] for r in routers]
        assert max(depths[2:]) == min(depths[2:])         # never deeper than one hop
        assert depths[1] <= depths[2]
        assert pool.n_used == 0
    finally:
        _close(group)


def test_a_reply_to_the_router_mid_batch_waits_for_the_loop_and_enters_nothing_mid_batch():
    # a: src -> guard -> link to b; b sends everything straight back; what comes
    # back passes guard's second way.  guard is still inside its push when b answers.
    pool = PacketPool(64)
    group, (a, b) = _group(["src :: _InProcFrames -> [0]g :: _InProcGuard[0] -> l :: InProcessLink(echo);"
                            "l -> [1]g[1] -> keep :: _InProcKeep;",
                            "l :: InProcessLink(echo) -> l;"], pool)
    try:
        a.element("src").send([b"e" * 60] * 2)
        assert a.element("keep").frames == []          # not while a is mid-batch
        _turn(group)
        g = a.element("g")
        assert a.element("keep").frames == [b"e" * 60] * 2
        assert g.reentered == 0 and g.seen == [2, 2]
        assert pool.n_used == 0
    finally:
        _close(group)


def test_a_storm_between_two_routers_leaves_the_loop_its_turns():
    # b and c send back whatever the other sends them, forever
    pool = PacketPool(64)
    group, (a, b, c) = _group(["src :: _InProcFrames -> InProcessLink(in) -> Discard;",
                               "Idle -> InProcessLink(in) -> bc :: InProcessLink(storm); bc -> bc;",
                               "bc :: InProcessLink(storm) -> bc;"], pool)
    try:
        a.element("src").send([b"s" * 60])
        first = c.element("bc").count
        assert 0 < first <= HANDOFF_BUDGET
        _turn(group)                           # the loop still runs, and so does the storm
        assert c.element("bc").count > first
    finally:
        _close(group)


def test_counters_add_up_over_a_hand_off_with_an_end_gone():
    pool = PacketPool(64)
    group, routers = _group(_line(3, "count"), pool)
    try:
        routers[0].element("src").send([b"c" * 60] * 5)
        links = [e for r in routers for e in r.elements.values() if isinstance(e, InProcessLink)]
        assert sum(e.tx_count for e in links) == sum(e.count for e in links) == 10
        routers[2].cleanup()                   # the far end goes: the middle drops and counts
        routers[0].element("src").send([b"c" * 60] * 3)
        middle = [e for e in routers[1].elements.values() if isinstance(e, InProcessLink)]
        assert sum(e.drops for e in middle) == 3
        assert pool.n_used == 0
    finally:
        _close(group)


class _Boom(Element):
    """_InProcBoom -- test sink that fails on every batch"""
    CLASS_NAME = "_InProcBoom"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def push(self, port, batch):
        raise RuntimeError("boom")


register(_Boom)


def test_a_failure_in_the_far_router_stops_that_router_not_the_sender():
    pool = PacketPool(64)
    group, (a, b) = _group(["src :: _InProcFrames -> InProcessLink(fail) -> keep :: _InProcKeep;",
                            "Idle -> InProcessLink(fail) -> _InProcBoom();"], pool)
    try:
        a.element("src").send([b"f" * 60])          # returns: the failure stays in b
        assert b.exit_code == 2 and b._stopping
        assert a.exit_code == 0 and not a._stopping
    finally:
        _close(group)
