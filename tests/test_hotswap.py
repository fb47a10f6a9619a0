"""Hot-swapping a running router's configuration: matching elements keep
their state, new ones start, removed ones are cleaned up, and a config that
does not build is refused with its located error while the old graph runs."""
import pytest

from vforward.hotswap import HotswapError, hotswap

OLD = """\
src :: InfiniteSource(LENGTH 60, LIMIT 5, BURST 5) -> c :: Counter -> q :: Queue(100) -> u :: Unqueue -> sink :: Discard;
"""


def test_matching_elements_keep_their_state_and_new_ones_join(make_router):
    r = make_router(OLD)
    r.run_until_idle()
    c = r.element("c")
    assert int(c.read("count")) == 5
    new = OLD.replace("-> c :: Counter ->", "-> c :: Counter -> c2 :: Counter ->")
    result = hotswap(r, new)
    assert r.element("c") is c and int(r.element("c").read("count")) == 5
    assert "c2" in result["new"] and "c" in result["kept"] and result["removed"] == []
    r.element("src").write("reset")
    r.run_until_idle()
    assert int(r.element("c").read("count")) == 10
    assert int(r.element("c2").read("count")) == 5
    assert int(r.element("sink").read("count")) == 10


def test_a_counter_whose_arguments_change_carries_its_counts(make_router):
    r = make_router(OLD)
    r.run_until_idle()
    result = hotswap(r, OLD.replace("c :: Counter", "c :: Counter(COUNT_CALL 1000000 stop)"))
    assert "c" in result["new"] and "c" in result["removed"]
    assert int(r.element("c").read("count")) == 5


def test_a_config_that_does_not_build_is_refused_and_the_old_graph_runs(make_router):
    r = make_router(OLD)
    r.run_until_idle()
    before = r.graph
    with pytest.raises(HotswapError, match=r"new\.click:1:.*Countr.*did you mean 'Counter'.*unchanged"):
        hotswap(r, OLD.replace("c :: Counter", "c :: Countr"), "new.click")
    with pytest.raises(HotswapError, match="not connected"):
        hotswap(r, OLD.replace("-> sink :: Discard", ""), "new.click")
    assert r.graph is before
    r.element("src").write("reset")
    r.run_until_idle()
    assert int(r.element("c").read("count")) == 10


def test_removed_elements_are_cleaned_up(make_router):
    r = make_router(OLD)
    r.run_until_idle()
    q = r.element("q")
    result = hotswap(r, "src :: InfiniteSource(LENGTH 60, LIMIT 5, BURST 5) -> c :: Counter "
                        "-> sink :: Discard;")
    assert set(result["removed"]) == {"q", "u"}
    assert r.element("q") is None and q.router is r


def test_a_removed_elements_scheduled_task_does_not_run_again(make_router):
    r = make_router("src :: InfiniteSource(LENGTH 60, LIMIT 1000000, BURST 8) -> c :: Counter "
                    "-> sink :: Discard;")
    r.initialize()
    r._run_tasks()                          # the source's task is scheduled again
    assert any(t.element is r.element("src") for t in r._run_queue)
    hotswap(r, "src2 :: InfiniteSource(LENGTH 60, LIMIT 3, BURST 3) -> c :: Counter "
               "-> sink :: Discard;")
    assert not any(t.element is not None and t.element.name == "src" for t in r._run_queue)
    before = int(r.element("c").read("count"))
    r.run_until_idle()
    assert int(r.element("c").read("count")) == before + 3
