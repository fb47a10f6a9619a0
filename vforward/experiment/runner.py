"""Running a scenario on a deployed lab: measurements for the whole run,
events at their times (asyncio on the monotonic clock), a live timeline, and
the files of the run: events.csv, series.csv, summary.json, report.png."""
from __future__ import annotations

import asyncio
import csv
import json
import os
from dataclasses import dataclass, field

from vforward.experiment import measure
from vforward.experiment.actions import perform
from vforward.experiment.scenario import Scenario, check_against
from vforward.experiment.series import Series

EARLY_WAKE = 0.003         # seconds: wake this early, then yield until the exact time


@dataclass
class Context:
    st: object             # LabState
    lab: object            # Lab
    clock: measure.Clock = field(default_factory=measure.Clock)
    background: list = field(default_factory=list)


@dataclass
class RunResult:
    out: str
    events: list
    summary: dict
    plot_error: str | None = None


async def _sleep_until(clock: measure.Clock, t: float) -> None:
    gap = t - clock.now() - EARLY_WAKE
    if gap > 0:
        await asyncio.sleep(gap)
    while clock.now() < t:
        await asyncio.sleep(0)


def _stamp(t: float) -> str:
    return f"[{t:8.3f}s]"


async def _run(ctx: Context, sc: Scenario, log) -> tuple[list, list]:
    clock = ctx.clock
    ms = [measure.make(ctx, m) for m in sc.measurements]
    tasks = {asyncio.create_task(m.run(sc.duration)): m for m in ms}
    records = []

    async def fire_group(events):
        for ev in events:
            await _sleep_until(clock, ev.at)
            actual = clock.now()
            try:
                result, ok = await asyncio.to_thread(perform, ctx, ev), True
            except Exception as e:             # reported, and the run goes on
                result, ok = f"{type(e).__name__}: {e}", False
            done = clock.now()
            records.append({"index": ev.index, "planned_s": ev.at, "actual_s": actual,
                            "done_s": done, "event": ev.label, "ok": ok, "result": result})
            log(f"{_stamp(actual)} {ev.label}: {'ok' if ok else 'FAILED'} ({result}) "
                f"[+{(actual - ev.at) * 1e3:.1f} ms late, took {(done - actual) * 1e3:.0f} ms]")

    groups: dict[float, list] = {}
    for ev in sc.events:
        groups.setdefault(ev.at, []).append(ev)
    fired = [asyncio.create_task(fire_group(g)) for g in groups.values()]

    async def timeline():
        t = 1.0
        while True:
            await _sleep_until(clock, t)
            parts = [m.status() for m in ms if m.status()]
            if parts:
                log(f"{_stamp(clock.now())} " + " | ".join(parts))
            t += 1.0
    status = asyncio.create_task(timeline())
    log(f"{_stamp(clock.now())} start: {len(ms)} measurements, {len(sc.events)} events, "
        f"{sc.duration:g}s")
    await _sleep_until(clock, sc.duration)
    status.cancel()
    for m in ms:
        await m.stop()
    done, pending = await asyncio.wait(list(tasks) + fired, timeout=10)
    for t in pending:
        t.cancel()
    for t in done:
        if t in tasks and t.exception() is not None:
            log(f"{_stamp(clock.now())} {tasks[t].label} failed: {t.exception()}")
    for m in ms:
        if getattr(m, "errors", ""):
            log(f"{_stamp(clock.now())} {m.label}: {m.errors.splitlines()[-1]}")
    log(f"{_stamp(clock.now())} end")
    return sorted(records, key=lambda r: (r["planned_s"], r["index"])), ms


def write_events(path: str, records: list) -> None:
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(("index", "planned_s", "actual_s", "late_ms", "took_ms", "event", "ok",
                    "result"))
        for r in records:
            w.writerow((r["index"], f"{r['planned_s']:.4f}", f"{r['actual_s']:.4f}",
                        f"{(r['actual_s'] - r['planned_s']) * 1e3:.2f}",
                        f"{(r['done_s'] - r['actual_s']) * 1e3:.1f}", r["event"],
                        "ok" if r["ok"] else "failed", r["result"]))


def run_scenario(lab_ref: str, sc: Scenario, out: str, log=print, plot: bool = True) -> RunResult:
    """Run a scenario on a deployed lab and write its files into out."""
    from vforward.experiment.plot import PlotUnavailable, report
    from vforward.experiment.summary import summarize
    from vforward.topo.deploy import prepare
    from vforward.topo.ops import lab_state
    st = lab_state(lab_ref)
    lab = prepare(st.topology, st.name)
    check_against(sc, lab)
    os.makedirs(out, exist_ok=True)
    ctx = Context(st, lab)
    try:
        records, ms = asyncio.run(_run(ctx, sc, log))
    finally:
        for p in ctx.background:
            if p.poll() is None:
                p.kill()
                p.wait()
    series = Series()
    for m in ms:
        m.write(series)
    series.write_csv(os.path.join(out, "series.csv"))
    write_events(os.path.join(out, "events.csv"), records)
    summary = {"lab": st.name, "scenario": sc.path, "duration_s": sc.duration,
               "events": [{k: r[k] for k in ("planned_s", "actual_s", "event", "ok", "result")}
                          for r in records],
               "pairs": summarize(series, ms, records, sc.duration)}
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
    result = RunResult(out, records, summary)
    if plot:
        try:
            report(os.path.join(out, "report.png"), series, records, sc.duration,
                   f"{os.path.basename(sc.path)} on lab {st.name}")
        except PlotUnavailable as e:
            result.plot_error = str(e)
    return result
