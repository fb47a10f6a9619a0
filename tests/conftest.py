"""Shared test fixtures: build a router from config text and drive it."""
import pytest

from vforward.graph import build_graph
from vforward.runtime import Router


@pytest.fixture
def make_router():
    """make_router(text, n_slots=4096) -> Router; every router made is closed after the test."""
    made = []

    def make(text, n_slots=4096, defines=None):
        graph = build_graph(text, "test.click", defines)
        router = Router(graph, n_slots=n_slots)
        made.append(router)
        return router
    yield make
    for r in made:
        r.close()


@pytest.fixture
def netns():
    """netns(tag) -> a fresh uniquely named network namespace, removed after the test
    even when it fails."""
    import os
    import uuid

    from vforward import netns as ns
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    made = []

    def make(tag="t"):
        name = f"vf{tag}-{uuid.uuid4().hex[:8]}"
        ns.create(name)
        made.append(name)
        return name
    yield make
    for name in made:
        ns.delete(name)
