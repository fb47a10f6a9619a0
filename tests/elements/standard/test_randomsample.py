"""RandomSample: passes packets with probability P; the rest to output 1 or dropped."""
import pytest

from vforward.element import HandlerError
from vforward.graph import GraphError

N = 20000


def _run(make_router, sample_args, with_output_1=True):
    second = "rs[1] -> c1 :: Counter -> Discard;" if with_output_1 else ""
    r = make_router(f"InfiniteSource(LIMIT {N}, BURST 500) -> rs :: RandomSample({sample_args}) "
                    f"-> c0 :: Counter -> Discard; {second}")
    r.run_until_idle()
    return r


def test_sends_about_p_of_packets_to_output_0_and_the_rest_to_output_1(make_router):
    r = _run(make_router, "0.25, SEED 7")
    c0, c1 = r.element("c0").count, r.element("c1").count
    assert c0 + c1 == N
    assert abs(c0 - N / 4) < 5 * (N * 0.25 * 0.75) ** 0.5
    assert r.element("rs").read("drops") == str(c1)


def test_without_output_1_the_others_are_dropped(make_router):
    r = _run(make_router, "SAMPLE 0.5, SEED 3", with_output_1=False)
    rs = r.element("rs")
    assert r.element("c0").count + rs.drops == N
    assert 0.45 * N < r.element("c0").count < 0.55 * N
    assert r.pool.n_used == 0


def test_drop_gives_the_probability_of_not_passing(make_router):
    r = _run(make_router, "DROP 0.9, SEED 5")
    assert r.element("rs").read("sampling_prob") == "0.1"
    assert 0.07 * N < r.element("c0").count < 0.13 * N


def test_probabilities_zero_and_one_are_exact(make_router):
    assert _run(make_router, "0").element("c0").count == 0
    assert _run(make_router, "1").element("c1").count == 0


def test_the_same_seed_samples_the_same_packets(make_router):
    counts = {_run(make_router, "0.5, SEED 11").element("c0").count for _ in range(2)}
    assert len(counts) == 1


def test_inactive_passes_everything_to_output_0(make_router):
    r = _run(make_router, "0.1, ACTIVE false")
    assert r.element("c0").count == N
    assert r.element("rs").read("active") == "false"


def test_handlers_change_the_probability(make_router):
    r = make_router("s :: InfiniteSource(LIMIT 1000) -> rs :: RandomSample(0.5) "
                    "-> c0 :: Counter -> Discard")
    rs = r.element("rs")
    rs.write("drop_prob", "1")
    assert (rs.read("sampling_prob"), rs.read("drop_prob")) == ("0", "1")
    r.run_until_idle()
    assert r.element("c0").count == 0
    rs.write("sampling_prob", "1")
    r.element("s").write("reset")
    r.run_until_idle()
    assert r.element("c0").count == 1000
    with pytest.raises(HandlerError, match="between 0 and 1"):
        rs.write("sampling_prob", "1.5")


def test_pull_output_0_with_push_output_1(make_router):
    r = make_router(f"InfiniteSource(LIMIT {N}, BURST 500) -> Queue({N}) "
                    "-> rs :: RandomSample(0.5) "
                    "-> Unqueue -> c0 :: Counter -> Discard; rs[1] -> c1 :: Counter -> Discard")
    r.run_until_idle()
    assert r.element("rs").output_processing == ["l", "h"]
    assert r.element("c0").count + r.element("c1").count == N
    assert r.element("c1").count > 0


@pytest.mark.parametrize("args, complaint", [
    ("", "exactly one of P, SAMPLE and DROP"),
    ("0.5, DROP 0.5", "exactly one of P, SAMPLE and DROP"),
    ("1.5", "argument P: expected a probability"),
    ("DROP -1", "argument DROP"),
    ("SAMPLE often", "argument SAMPLE"),
])
def test_bad_arguments_are_graph_errors(make_router, args, complaint):
    with pytest.raises(GraphError, match=complaint):
        make_router(f"InfiniteSource -> RandomSample({args}) -> Discard")
