"""Prometheus metrics of a router: the exposition text parses, names the
lab-port series after the generated element names, leaves settings and
tables out, and is served over HTTP and through the control socket."""
import re
import threading
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from vforward.control import ControlClient, ControlServer
from vforward.graph import build_graph
from vforward.metrics import (CONTENT_TYPE, Family, exposition, merge, parse,
                              parse_listen_address, relabel, render, serve_metrics)
from vforward.packet import PacketPool
from vforward.runtime import RouterGroup

# One lab port, eth1, with its probe talking to a peer probe over two emulated links.
PORT = """
    src :: TimedSource(5ms);
    rt :: RadixIPLookup(10.0.0.0/8 0);
    eth1_probe :: LinkProbe(10ms, TRAIN_INTERVAL 100ms);
    peer :: LinkProbe(10ms);
    src -> eth1_tx :: Counter -> [1]eth1_probe[1]
        -> eth1_egress :: LinkEmulator(5ms, LOSS 0.1, SEED 3) -> [0]peer[0] -> Discard;
    Idle -> [1]peer[1] -> back :: LinkEmulator(5ms) -> [0]eth1_probe[0]
        -> eth1_rx :: Counter -> Discard;
    Idle -> rt -> Discard;
"""


def families_by_name(text):
    """Parse with prometheus_client's own parser (an independent reader, not
    ours), after checking every line against the format's grammar."""
    line = re.compile(r'^(# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*|[a-zA-Z_:][a-zA-Z0-9_:]*'
                      r'(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? \S+)$')
    bad = [ln for ln in text.splitlines() if not line.match(ln)]
    assert not bad, bad[:3]
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            # prometheus_client names counter samples NAME_total; the server keeps NAME
            name = s.name if s.name in text else s.name[:-len("_total")]
            out.setdefault(name, []).append((s.labels, s.value))
    return out


def one(fams, name, **labels):
    got = [v for lab, v in fams.get(name, []) if all(lab.get(k) == w for k, w in labels.items())]
    assert len(got) == 1, (name, labels, fams.get(name))
    return got[0]


@pytest.fixture(scope="module")
def ran_port():
    graph = build_graph(PORT, "/labs/x/configs/r1.click")
    group = RouterGroup()
    router = group.add("r1", graph, PacketPool(4096))
    router.run(duration=1.0)
    yield router
    router.close()


def test_exposition_parses_and_has_the_interface_and_link_series(ran_port):
    fams = families_by_name(exposition(ran_port))
    base = {"node": "r1", "interface": "eth1"}       # node: the config file's name
    assert one(fams, "vforward_interface_tx_packets_total", **base) == \
        int(ran_port.element("eth1_tx").read("count")) > 100
    assert one(fams, "vforward_interface_tx_bytes_total", **base) > 0
    assert one(fams, "vforward_interface_rx_packets_total", **base) == 0   # probes are not counted
    assert one(fams, "vforward_interface_drops_total", reason="loss", direction="egress",
               **base) > 0
    assert one(fams, "vforward_interface_drops_total", reason="down", **base) == 0
    assert one(fams, "vforward_interface_up", **base) == 1
    assert 0.005 <= one(fams, "vforward_link_rtt_seconds", **base) <= 0.030
    assert 0 <= one(fams, "vforward_link_loss_ratio", **base) <= 0.4
    assert one(fams, "vforward_link_available_bandwidth_bps", **base) > 0


def test_element_series_hold_measurements_not_settings_or_tables(ran_port):
    text = exposition(ran_port, node="n9")
    fams = families_by_name(text)
    assert {"node": "n9", "element": "eth1_rx", "handler": "count"} in \
        [lab for lab, _ in fams["vforward_element_count"]]
    assert one(fams, "vforward_element_rtt_ms", element="eth1_probe") > 0
    assert "# TYPE vforward_element_count counter" in text
    assert "# TYPE vforward_element_rtt_ms gauge" in text
    # read/write handlers are settings (delay, interval, active); tables are never read
    for absent in ("vforward_element_delay", "vforward_element_interval",
                   "vforward_element_active", "vforward_element_table", "vforward_element_name"):
        assert absent + "{" not in text


def test_parse_render_relabel_and_merge_keep_one_family_per_name():
    a = Family("x_total", "counter", 'help with \\ and\nnewline')
    a.add({"node": "r1", "element": 'we"ird\\name'}, 3)
    b = Family("x_total", "counter", "other help")
    b.add({"node": "r2"}, 1.5)
    text = render(merge([[a], [b]]))
    assert text.count("# TYPE x_total counter") == 1
    back = parse(text)
    assert back[0].help == 'help with \\ and\nnewline'
    assert back[0].samples == [({"node": "r1", "element": 'we"ird\\name'}, 3),
                               ({"node": "r2"}, 1.5)]
    moved = relabel(back, lab="L", node="r7")
    assert list(moved[0].samples[0][0]) == ["lab", "node", "element"]
    assert moved[0].samples[1][0] == {"lab": "L", "node": "r7"}
    families_by_name(render(moved))
    with pytest.raises(ValueError):
        parse("bad line here\n")


def test_router_group_labels_each_router_with_its_name():
    group = RouterGroup()
    for name in ("ra", "rb"):
        group.add(name, build_graph("Idle -> c :: Counter -> Discard;"), PacketPool(64))
    fams = families_by_name(exposition(group))
    nodes = {lab["node"] for lab, _ in fams["vforward_router_pool_slots"]}
    assert nodes == {"ra", "rb"}


def test_listen_addresses():
    assert parse_listen_address("9100") == {"host": "127.0.0.1", "port": 9100}
    assert parse_listen_address("0.0.0.0:9100") == {"host": "0.0.0.0", "port": 9100}
    assert parse_listen_address("[::1]:9100") == {"host": "::1", "port": 9100}
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen_address("localhost:http")


def run_in_thread(router, duration=10):
    thread = threading.Thread(target=router.run, kwargs={"duration": duration})
    thread.start()
    return thread


def stop(router, thread):
    router.loop.call_soon_threadsafe(router.stop)
    thread.join(5)
    assert not thread.is_alive()


def get(url, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                return resp.status, resp.headers.get("Content-Type"), resp.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Content-Type"), e.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_http_endpoint_and_control_handler_serve_the_same_series(make_router, tmp_path):
    router = make_router(PORT)
    server = serve_metrics(router, port=0)
    control = ControlServer(router, path=str(tmp_path / "ctl.sock"))
    router.listeners.append(control)
    thread = run_in_thread(router)
    try:
        status, ctype, body = get(f"http://127.0.0.1:{server.port}/metrics")
        assert status == 200 and ctype == CONTENT_TYPE
        fams = families_by_name(body)
        assert one(fams, "vforward_interface_up", interface="eth1") == 1
        assert get(f"http://127.0.0.1:{server.port}/nothing")[0] == 404
        time.sleep(0.3)
        client = None
        for _ in range(50):
            try:
                client = ControlClient(str(tmp_path / "ctl.sock"))
                break
            except OSError:
                time.sleep(0.05)
        with client:
            text = client.read("metrics")
        fams = families_by_name(text)
        assert one(fams, "vforward_link_rtt_seconds", interface="eth1") > 0
    finally:
        stop(router, thread)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=1)


def test_a_busy_port_is_reported_when_serving_starts(make_router):
    first = serve_metrics(make_router("Idle -> Discard;"), port=0)
    with pytest.raises(OSError, match="choose another port"):
        serve_metrics(make_router("Idle -> Discard;"), port=first.port)
    first.close()
