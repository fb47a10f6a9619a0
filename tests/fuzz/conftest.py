"""Shared pieces of the packet fuzz tests: the example graphs without devices."""
import os

import pytest

from vforward.fuzz.graph_run import GraphRun

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "configs", "examples")

ROUTER_MACS = ["02:00:0a:01:00:01", "02:00:0a:02:00:01"]
ROUTER_IPS = ["10.1.0.1", "10.2.0.1", "10.1.0.2", "10.2.0.2", "10.1.0.77", "10.2.0.9", "10.3.0.1"]
NAT_MACS = ["02:00:0a:00:00:01", "02:00:c6:33:64:01"]
NAT_IPS = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "198.51.100.1", "198.51.100.2", "203.0.113.5"]


def example(name: str) -> tuple[str, str]:
    path = os.path.join(EXAMPLES, name)
    with open(path) as f:
        return f.read(), path


def router_run(**kw) -> GraphRun:
    """router.click without its TAPs, both hosts' MACs known, as after their first ARP."""
    text, path = example("router.click")
    run = GraphRun(text, path, ["if1", "if2"], **kw)
    run.router.element("arpq1").write("insert", "10.1.0.2 02:00:0a:01:00:02")
    run.router.element("arpq2").write("insert", "10.2.0.2 02:00:0a:02:00:02")
    return run


def nat_run(**kw) -> GraphRun:
    """nat-gateway.click without its TAPs, the private host and the public gateway known."""
    text, path = example("nat-gateway.click")
    run = GraphRun(text, path, ["priv", "pub"], **kw)
    run.router.element("priv_arpq").write("insert", "10.0.0.2 02:00:0a:00:00:02")
    run.router.element("pub_arpq").write("insert", "198.51.100.2 02:00:c6:33:64:02")
    return run


@pytest.fixture
def closing():
    """closing(run) -> run, closed after the test."""
    runs = []

    def keep(run):
        runs.append(run)
        return run
    yield keep
    for r in runs:
        r.close()
