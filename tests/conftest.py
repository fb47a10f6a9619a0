"""Shared test fixtures: build a router from config text and drive it."""
import pytest

from vforward.graph import build_graph
from vforward.packet import PacketPool
from vforward.runtime import Router


@pytest.fixture
def make_router():
    """make_router(text, n_slots=4096) -> Router; every router made is closed after the test."""
    made = []

    def make(text, n_slots=4096, defines=None):
        graph = build_graph(text, "test.click", defines)
        router = Router(graph, PacketPool(n_slots))
        made.append(router)
        return router
    yield make
    for r in made:
        r.close()
