"""What a run's series say about each measured pair, around each event:
outage length, time to recover, loss, and RTT (or throughput) before,
during and after the events."""
from __future__ import annotations

import statistics


def _median(values):
    return round(statistics.median(values), 4) if values else None


def _done(events) -> list:
    """The events that changed something: a failed action marks no phase."""
    return [e for e in events if e.get("ok", True) and e["actual_s"] is not None]


def _phases(events, end: float) -> tuple[float, float]:
    """(first event time, last event time) or the whole run when there are none."""
    times = [e["actual_s"] for e in _done(events)]
    return (min(times), max(times)) if times else (end, end)


def _windows(events, end: float):
    """Each event and the time until the next event (or the end)."""
    evs = sorted(_done(events), key=lambda e: e["actual_s"])
    for i, e in enumerate(evs):
        yield e, e["actual_s"], evs[i + 1]["actual_s"] if i + 1 < len(evs) else end


def ping_summary(probes: list[tuple[float, float | None]], events, end: float,
                 interval: float) -> dict:
    """probes: (send time, rtt ms or None for lost), in send order."""
    probes = sorted(probes)
    first, last = _phases(events, end)
    rtt = {"before": _median([r for t, r in probes if r is not None and t < first]),
           "during": _median([r for t, r in probes if r is not None and first <= t < last]),
           "after": _median([r for t, r in probes if r is not None and t >= last])}
    # Runs of consecutive lost probes: (first lost send time, last lost send time, count).
    runs, cur = [], None
    for t, r in probes:
        if r is None:
            if cur is None:
                cur = [t, t, 0]
            cur[1], cur[2] = t, cur[2] + 1
        elif cur is not None:
            runs.append((cur[0], cur[1], cur[2], t))      # t: first answer after the run
            cur = None
    if cur is not None:
        runs.append((cur[0], cur[1], cur[2], None))
    per_event = []
    for e, start, stop in _windows(events, end):
        window = [(t, r) for t, r in probes if start <= t < stop]
        lost = sum(1 for _, r in window if r is None)
        # A run that overlaps the window: probes in flight when a link is cut
        # are lost too, so an outage may start a round trip before its event.
        mine = [run for run in runs if run[0] < stop and run[1] >= start]
        longest = max(mine, key=lambda run: run[1] - run[0], default=None)
        outage = None if longest is None else round(longest[1] - longest[0] + interval, 4)
        recovered = (None if longest is None or longest[3] is None
                     else round(longest[3] - start, 4))
        per_event.append({"event": e["event"], "at_s": round(start, 4), "sent": len(window),
                          "lost": lost, "loss": round(lost / len(window), 4) if window else None,
                          "outage_s": outage, "recovered_after_s": recovered,
                          "rtt_ms": _median([r for t, r in window if r is not None])})
    lost = sum(1 for _, r in probes if r is None)
    return {"sent": len(probes), "lost": lost,
            "loss": round(lost / len(probes), 4) if probes else None, "rtt_ms": rtt,
            "outages": [{"start_s": round(a, 4), "length_s": round(b - a + interval, 4),
                         "probes_lost": n} for a, b, n, _ in runs],
            "events": per_event}


def throughput_summary(samples: list[tuple[float, float]], events, end: float) -> dict:
    """samples: (time, Mbit/s).  A stall is a stretch below a tenth of the
    throughput before the first event."""
    samples = sorted(samples)
    first, last = _phases(events, end)
    before = _median([v for t, v in samples if t < first])
    out = {"mbps": {"before": before,
                    "during": _median([v for t, v in samples if first <= t < last]),
                    "after": _median([v for t, v in samples if t >= last])},
           "events": []}
    for e, start, stop in _windows(events, end):
        window = [(t, v) for t, v in samples if start <= t < stop]
        low = [t for t, v in window if before and v < before / 10]
        recovered = None
        if low:
            after_low = [t for t, v in window if t > low[-1] and v >= before / 2]
            recovered = round(after_low[0] - start, 4) if after_low else None
        out["events"].append({"event": e["event"], "at_s": round(start, 4),
                              "mbps": _median([v for _, v in window]),
                              "min_mbps": min((v for _, v in window), default=None),
                              "stalled_s": round(low[-1] - low[0], 4) if low else 0.0,
                              "recovered_after_s": recovered})
    return out


def sense_summary(samples: list[tuple[float, float]], events, end: float) -> dict:
    first, last = _phases(events, end)
    return {"rtt_ms": {"before": _median([v for t, v in samples if t < first]),
                       "during": _median([v for t, v in samples if first <= t < last]),
                       "after": _median([v for t, v in samples if t >= last])}}


def summarize(series, measurements, events: list[dict], end: float) -> dict:
    """Per measured pair, keyed 'kind src->dst' ('kind src->dst/ipv6' over IPv6)."""
    from vforward.experiment.measure import Iperf3, Ping, Sense
    pairs = {}
    for m in measurements:
        if isinstance(m, Ping):
            probes = [(t, v) for t, v in series.select(m.src, m.target, "rtt_ms")]
            probes += [(t, None) for t, _ in series.select(m.src, m.target, "lost")]
            pairs[f"ping {m.src}->{m.target}"] = ping_summary(probes, events, end, m.interval)
        elif isinstance(m, Iperf3):
            pairs[f"iperf3 {m.src}->{m.target}"] = throughput_summary(
                series.select(m.src, m.target, "throughput_mbps"), events, end)
        elif isinstance(m, Sense):
            for a, b in m.pairs:
                s = sense_summary(series.select(a, b, "sense_rtt_ms"), events, end)
                bw = [v for _, v in series.select(a, b, "sense_bw_mbps")]
                s["avail_bw_mbps_median"] = _median(bw)
                s["avail_bw_lower_bounds"] = len(series.select(a, b, "sense_bw_min_mbps"))
                pairs[f"sense {a}->{b}"] = s
    return pairs
