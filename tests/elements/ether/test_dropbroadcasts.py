"""DropBroadcasts: link broadcasts and multicasts go, the rest pass."""
from vforward.packet import BROADCAST, HOST, MULTICAST


def test_broadcast_and_multicast_are_dropped(make_router):
    r = make_router("InfiniteSource(LIMIT 3, BURST 3) -> Paint(0, ptype) -> d :: DropBroadcasts "
                    "-> c :: Counter -> Discard")
    r.initialize()
    d = r.element("d")
    batch = r.pool.alloc(3, 60)
    r.pool.ptype[batch.idx] = [HOST, BROADCAST, MULTICAST]
    d.push(0, batch)
    assert r.element("c").count == 1 and d.read("drops") == "2"
