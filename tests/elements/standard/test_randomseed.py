"""RandomSeed: the same seed, the same random choices."""
import random

from vforward.graph import build_graph


def test_same_seed_same_numbers():
    build_graph("RandomSeed(42)")
    a = [random.random() for _ in range(3)]
    build_graph("RandomSeed(42)")
    assert [random.random() for _ in range(3)] == a
