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


@pytest.fixture
def running():
    """running(router): a context manager that runs the router's loop on a thread
    (so the test can drive real traffic meanwhile) and stops it when the block ends."""
    import contextlib
    import threading

    @contextlib.contextmanager
    def run(router):
        router.initialize()
        thread = threading.Thread(target=router.run, daemon=True)
        thread.start()
        try:
            yield router
        finally:
            router.loop.call_soon_threadsafe(router.stop)
            thread.join(10)
            assert not thread.is_alive()
    return run


@pytest.fixture
def iperf():
    """iperf(client_ns, server_ns, address, *args) -> the receiver's iperf3 JSON `end`:
    the server's, or with -R the client's.  One second unless args give -t or -n."""
    import json
    import subprocess
    import time

    from vforward import netns as ns

    def run(client_ns, server_ns, address, *args):
        server = ns.popen(server_ns, "iperf3", "-s", "-1", "-J", "-B", address,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            for _ in range(100):
                if ns.run(server_ns, "ss", "-ltnH", "sport = :5201", check=False).stdout.strip():
                    break
                time.sleep(0.05)
            length = [] if {"-t", "-n"} & set(args) else ["-t", "1"]
            client = ns.run(client_ns, "iperf3", "-c", address, *length, "-J",
                            "--connect-timeout", "3000", *args, check=False, timeout=30)
            assert client.returncode == 0, client.stdout + client.stderr
            out, err = server.communicate(timeout=15)
            return json.loads(client.stdout if "-R" in args else out)["end"]
        finally:
            if server.poll() is None:
                server.kill()
                server.communicate()
    return run


@pytest.fixture
def run_summary(tmp_path, make_router):
    """run_summary(middle, rows, fields, out_fields=None) -> the packet lines of the output.

    Runs `FromIPSummaryDump(IN, STOP true) -> MIDDLE -> ToIPSummaryDump(OUT)`
    over rows of an IP summary dump with columns `fields`; MIDDLE may be
    empty.  Lines are what ToIPSummaryDump wrote, '!' header lines left out."""
    def run(middle, rows, fields="ip_src ip_dst", out_fields=None, extra=""):
        src, out = tmp_path / "in.dump", tmp_path / "out.dump"
        src.write_text(f"!data {fields}\n" + "\n".join(rows) + "\n")
        chain = f" -> {middle}" if middle else ""
        router = make_router(f"FromIPSummaryDump({src}, STOP true){chain} -> "
                             f"ToIPSummaryDump({out}, FIELDS {out_fields or fields});\n{extra}")
        router.run(duration=20)
        router.cleanup()
        return [ln for ln in out.read_text().splitlines() if not ln.startswith("!")]
    return run


# The lab most lab tests run on: four routers in a ring whose r3-r4-r1 side
# costs more, a host at r1 and one at r3 (the short path h1 r1 r2 r3 h2).
_RING_TOPOLOGY = """\
topology:
  nodes:
    r1: {}
    r2: {}
    r3: {}
    r4: {}
    h1: {kind: host}
    h2: {kind: host}
  links:
    - endpoints: ["r1:eth1", "r2:eth1"]
    - endpoints: ["r2:eth2", "r3:eth1"]
    - endpoints: ["r3:eth2", "r4:eth1"]
      cost: 20
    - endpoints: ["r4:eth2", "r1:eth2"]
      cost: 20
    - endpoints: ["h1:eth1", "r1:eth3"]
    - endpoints: ["h2:eth1", "r3:eth3"]
"""


@pytest.fixture(scope="session")
def ring_lab_text():
    """ring_lab_text(name, routing=None, extra="") -> the ring lab's YAML under
    `name`, with `routing: ROUTING` when given and `extra` (top-level YAML,
    such as a validate: list) at the end."""
    def text(name, routing=None, extra=""):
        head = f"name: {name}\n" + (f"routing: {routing}\n" if routing else "")
        return head + _RING_TOPOLOGY + extra
    return text
