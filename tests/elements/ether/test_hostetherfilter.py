"""HostEtherFilter: packet types from destination addresses; filtering as Click's."""
import dpkt
import pytest

from vforward.element import PUSH_ONLY, Element, HandlerError, register
from vforward.graph import GraphError
from vforward.packet import BROADCAST, HOST, MULTICAST, OTHERHOST, OUTGOING

ME = bytes.fromhex("020000000001")
OTHER = bytes.fromhex("020000000099")


class _Frames(Element):
    """_HEFFrames -- test source pushing frames with a given packet type annotation"""
    CLASS_NAME = "_HEFFrames"
    PORTS = "0/1"
    PROCESSING = PUSH_ONLY

    def send(self, frames, ptype=OUTGOING):
        batch = self.router.pool.from_bytes(frames)
        batch.pool.ptype[batch.idx] = ptype
        self.emit(0, batch)


class _Sink(Element):
    """_HEFSink -- test sink keeping bytes and packet types"""
    CLASS_NAME = "_HEFSink"
    PORTS = "1/0"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.received, self.ptypes = [], []

    def push(self, port, batch):
        self.received += batch.to_bytes()
        self.ptypes += batch.pool.ptype[batch.idx].tolist()
        batch.kill()


register(_Frames)
register(_Sink)


def frame(dst, src=OTHER, payload=b"payload"):
    return bytes(dpkt.ethernet.Ethernet(dst=dst, src=src, type=0x0800, data=payload))


TO_ME = frame(ME)
TO_ALL = frame(b"\xff" * 6)
TO_GROUP = frame(bytes.fromhex("01005e000001"))
TO_OTHER = frame(bytes.fromhex("020000000042"))
FROM_ME = frame(b"\xff" * 6, src=ME)


def done(r):
    r.cleanup()
    assert r.pool.n_used == 0


def two_outputs(make_router, args):
    r = make_router(f"src :: _HEFFrames -> f :: HostEtherFilter({args}) -> a :: _HEFSink;"
                    "f[1] -> b :: _HEFSink")
    r.initialize()
    return r


def test_sets_the_packet_type_and_filters_other_hosts_by_default(make_router):
    r = two_outputs(make_router, "02:00:00:00:00:01")
    r.element("src").send([TO_ME, TO_ALL, TO_GROUP, TO_OTHER, FROM_ME])
    a, b = r.element("a"), r.element("b")
    assert a.received == [TO_ME, TO_ALL, TO_GROUP, FROM_ME]
    assert a.ptypes == [HOST, BROADCAST, MULTICAST, BROADCAST]
    assert b.received == [TO_OTHER] and b.ptypes == [OTHERHOST]
    done(r)


def test_drop_other_false_passes_other_hosts_typed(make_router):
    r = two_outputs(make_router, "02:00:00:00:00:01, DROP_OTHER false")
    r.element("src").send([TO_OTHER, TO_ME])
    assert r.element("a").received == [TO_OTHER, TO_ME]
    assert r.element("a").ptypes == [OTHERHOST, HOST]
    assert r.element("b").received == []
    done(r)


def test_drop_own_filters_frames_from_ether_and_leaves_their_type(make_router):
    r = two_outputs(make_router, "02:00:00:00:00:01, true, false")
    r.element("src").send([FROM_ME, TO_OTHER, TO_ALL])
    assert r.element("a").received == [TO_OTHER, TO_ALL]
    assert r.element("b").received == [FROM_ME]
    assert r.element("b").ptypes == [OUTGOING]          # not retyped, as in Click
    done(r)


def test_with_one_output_filtered_frames_are_dropped_and_counted(make_router):
    r = make_router("src :: _HEFFrames -> f :: HostEtherFilter(02:00:00:00:00:01) -> a :: _HEFSink")
    r.initialize()
    r.element("src").send([TO_OTHER, TO_ME, b"runt"])
    assert r.element("a").received == [TO_ME]
    assert r.element("f").read("drops") == "2"
    done(r)


def test_offset_finds_the_header_further_in(make_router):
    r = two_outputs(make_router, "02:00:00:00:00:01, OFFSET 4")
    r.element("src").send([b"vlan" + TO_ME, b"vlan" + TO_OTHER, TO_ME])
    assert r.element("a").received == [b"vlan" + TO_ME]
    assert r.element("a").ptypes == [HOST]
    assert r.element("b").received == [b"vlan" + TO_OTHER, TO_ME]   # TO_ME read at +4: other
    done(r)


def test_frames_too_short_for_a_header_are_filtered(make_router):
    r = two_outputs(make_router, "02:00:00:00:00:01, DROP_OTHER false")
    r.element("src").send([ME + OTHER, TO_ME])
    assert r.element("a").received == [TO_ME]
    assert r.element("b").received == [ME + OTHER]
    done(r)


def test_ether_handler_reads_and_changes_the_address(make_router):
    r = two_outputs(make_router, "02:00:00:00:00:01")
    f = r.element("f")
    assert f.read("ether") == "02-00-00-00-00-01"
    f.write("ether", "02:00:00:00:00:42")
    r.element("src").send([TO_ME, TO_OTHER])
    assert r.element("a").received == [TO_OTHER] and r.element("a").ptypes == [HOST]
    with pytest.raises(HandlerError, match="ETHER"):
        f.write("ether", "nope")
    done(r)


def test_ether_is_required_and_booleans_checked(make_router):
    with pytest.raises(GraphError, match="missing argument ETHER"):
        make_router("Idle -> HostEtherFilter -> Discard")
    with pytest.raises(GraphError, match="DROP_OWN"):
        make_router("Idle -> HostEtherFilter(1:1:1:1:1:1, maybe) -> Discard")
