"""report.png from a run's series, events marked; a clear error without matplotlib."""
import builtins

import pytest

from vforward.experiment.plot import PlotUnavailable, report
from vforward.experiment.series import Series, read_csv


def _series():
    s = Series()
    for i in range(50):
        t = i * 0.1
        if 2.0 <= t < 2.5:
            s.add(t, "h1", "h2", "lost", 1)
        else:
            s.add(t, "h1", "h2", "rtt_ms", 1.0 + (t > 2.5))
        s.add(t, "h1", "h2", "throughput_mbps", 0.0 if 2.0 <= t < 3.0 else 90.0)
    s.add(1.0, "r1", "r3", "sense_bw_min_mbps", 660.0)
    s.add(2.0, "r1", "r3", "sense_bw_mbps", 19.5)
    return s


def test_the_report_is_a_png_and_the_series_round_trips(tmp_path):
    s = _series()
    events = [{"event": "link r2:eth2 down", "actual_s": 2.0, "ok": True},
              {"event": "node r3 restart", "actual_s": 2.5, "ok": False}]
    report(str(tmp_path / "r.png"), s, events, 5.0, "test")
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    s.write_csv(str(tmp_path / "s.csv"))
    again = read_csv(str(tmp_path / "s.csv"))
    assert again.select("h1", "h2", "lost") == [(pytest.approx(t), v)
                                                for t, v in s.select("h1", "h2", "lost")]


def test_without_matplotlib_the_error_says_what_to_install(tmp_path, monkeypatch):
    real = builtins.__import__

    def no_matplotlib(name, *a, **kw):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real(name, *a, **kw)
    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(PlotUnavailable, match=r"pip install 'vforward\[experiment\]'"):
        report(str(tmp_path / "r.png"), _series(), [], 5.0, "test")
