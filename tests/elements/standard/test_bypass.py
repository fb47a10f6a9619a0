"""Bypass: output 0 normally, the detour when active; the detour rejoins on input 1."""


def test_inactive_bypass_is_a_wire_and_active_one_takes_the_detour(make_router):
    r = make_router("s :: InfiniteSource(LIMIT 3, BURST 1) -> b :: Bypass -> main :: Counter "
                    "-> Discard; b[1] -> detour :: Counter -> [1]b")
    r.run_until_idle()
    assert (r.element("main").count, r.element("detour").count) == (3, 0)
    r.element("b").write("active", "true")
    r.element("s").write("reset", "")
    r.run_until_idle()
    assert (r.element("main").count, r.element("detour").count) == (6, 3)
    assert r.element("b").read("active") == "true"


def test_pull_bypass_pulls_from_input_1_when_active(make_router):
    r = make_router("InfiniteSource(LIMIT 2) -> q0 :: Queue -> b :: Bypass(true) -> u :: Unqueue "
                    "-> c :: Counter -> Discard; InfiniteSource(LIMIT 5) -> q1 :: Queue -> [1]b; "
                    "b[1] -> Discard")
    r.run_until_idle()
    assert r.element("c").count == 5      # input 1's five, not input 0's two
