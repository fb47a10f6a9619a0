"""RoundRobinSched, PrioSched, StrideSched: who gets pulled."""


def test_priosched_serves_input_0_first(make_router):
    r = make_router("InfiniteSource(LIMIT 4) -> a :: Queue -> [0]s :: PrioSched; "
                    "InfiniteSource(LIMIT 4) -> b :: Queue -> [1]s; s -> Idle")
    r.initialize()
    r._run_tasks()
    s = r.element("s")
    lengths = []
    for _ in range(3):
        s.pull(0, 2).kill()
        lengths.append((int(r.element("a").read("length")), int(r.element("b").read("length"))))
    assert lengths == [(2, 4), (0, 4), (0, 2)]


def test_roundrobin_alternates_inputs(make_router):
    r = make_router("InfiniteSource(LIMIT 4) -> a :: Queue -> [0]s :: RoundRobinSched; "
                    "InfiniteSource(LIMIT 4) -> b :: Queue -> [1]s; s -> Idle")
    r.initialize()
    r._run_tasks()
    s = r.element("s")
    got = []
    for _ in range(2):
        batch = s.pull(0, 2)
        got.append((int(r.element("a").read("length")), int(r.element("b").read("length"))))
        batch.kill()
    assert got == [(2, 4), (2, 2)]


def test_stridesched_shares_pulls_by_tickets(make_router):
    r = make_router("InfiniteSource(LIMIT 400) -> a :: Queue(1000) -> [0]s :: StrideSched(3, 1); "
                    "InfiniteSource(LIMIT 400) -> b :: Queue(1000) -> [1]s; s -> Idle")
    r.initialize()
    for _ in range(20):
        r._run_tasks()
    s = r.element("s")
    for _ in range(40):
        s.pull(0, 1).kill()
    taken_a = 400 - int(r.element("a").read("length"))
    taken_b = 400 - int(r.element("b").read("length"))
    assert (taken_a, taken_b) == (30, 10)
    assert s.read("tickets0") == "3"
