"""`vforward demo`: the live demo's per-router traffic summary."""
from vforward.demo import traffic_lines


def test_traffic_lines_give_one_line_per_router_with_frames_and_drops():
    rows = [{"interface": "r1:eth1", "rx_packets": 12, "tx_packets": 15, "drops": 0},
            {"interface": "r1:eth2", "rx_packets": 0, "tx_packets": 3, "drops": 2},
            {"interface": "r2:eth1", "error": "router r2 is not running"}]
    assert traffic_lines(rows) == ["r1: eth1 12/15, eth2 0/3 (2 dropped)",
                                   "r2: eth1 unreadable (router r2 is not running)"]
