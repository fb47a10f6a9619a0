"""Summaries from series: an outage's length and recovery per event, RTT before,
during and after, and throughput stalls."""
from vforward.experiment.summary import ping_summary, throughput_summary

EVENTS = [{"event": "link r2:eth2 down", "actual_s": 2.0},
          {"event": "link r2:eth2 up", "actual_s": 4.0}]


def test_an_outage_after_the_cut_is_measured_from_the_probes():
    probes = []
    for i in range(60):                     # a probe every 0.1 s for 6 s
        t = i * 0.1
        lost = 2.0 <= t < 2.5               # five probes lost after the cut
        rtt = None if lost else (1.0 if t < 2.0 else 2.0 if t < 4.0 else 1.1)
        probes.append((t, rtt))
    s = ping_summary(probes, EVENTS, 6.0, 0.1)
    assert s["lost"] == 5 and s["sent"] == 60
    down, up = s["events"]
    assert abs(down["outage_s"] - 0.5) < 1e-6
    assert abs(down["recovered_after_s"] - 0.5) < 1e-6
    assert down["lost"] == 5 and up["lost"] == 0 and up["outage_s"] is None
    assert s["rtt_ms"] == {"before": 1.0, "during": 2.0, "after": 1.1}
    assert len(s["outages"]) == 1


def test_a_throughput_stall_and_its_recovery():
    samples = [(t / 10, 100.0 if not 20 <= t < 28 else 0.0) for t in range(60)]
    s = throughput_summary(samples, EVENTS, 6.0)
    assert s["mbps"]["before"] == 100.0
    down = s["events"][0]
    assert down["min_mbps"] == 0.0
    assert abs(down["stalled_s"] - 0.7) < 1e-6
    assert abs(down["recovered_after_s"] - 0.8) < 1e-6


def test_a_failed_event_marks_no_phase():
    probes = [(i * 0.1, None if 2.0 <= i * 0.1 < 3.0 else 1.0) for i in range(60)]
    events = [EVENTS[0], {"event": "node r3 restart", "actual_s": 2.5, "ok": False}, EVENTS[1]]
    s = ping_summary(probes, events, 6.0, 0.1)
    assert [e["event"] for e in s["events"]] == ["link r2:eth2 down", "link r2:eth2 up"]
    assert s["events"][0]["lost"] == 10


def test_probes_in_flight_when_the_link_is_cut_belong_to_its_outage():
    probes = [(i * 0.1, None if 1.8 <= i * 0.1 < 2.6 else 1.0) for i in range(60)]
    s = ping_summary(probes, EVENTS, 6.0, 0.1)
    down = s["events"][0]
    assert abs(down["outage_s"] - 0.8) < 1e-6
    assert abs(down["recovered_after_s"] - 0.6) < 1e-6
