"""report.png: RTT, throughput and loss over the run, events marked."""
from __future__ import annotations


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("report.png needs matplotlib: pip install 'vforward[experiment]'"
                              " (the other files were written)") from None
    return plt


def _loss_bins(lost: list[float], answered: list[float], end: float, width: float):
    n = max(1, int(end / width) + 1)
    sent, miss = [0] * n, [0] * n
    for t in answered:
        sent[min(n - 1, max(0, int(t / width)))] += 1
    for t in lost:
        i = min(n - 1, max(0, int(t / width)))
        sent[i] += 1
        miss[i] += 1
    return ([(i + 0.5) * width for i in range(n) if sent[i]],
            [miss[i] / sent[i] * 100 for i in range(n) if sent[i]])


def report(path: str, series, events: list[dict], end: float, title: str) -> None:
    plt = _pyplot()
    keys = sorted({(s, d, m) for _, s, d, m, _ in series.rows})
    rtt = [k for k in keys if k[2] in ("rtt_ms", "sense_rtt_ms")]
    tput = [k for k in keys if k[2] in ("throughput_mbps", "sense_bw_mbps", "sense_bw_min_mbps")]
    loss_pairs = sorted({(s, d) for s, d, m in keys if m in ("rtt_ms", "lost")})
    panels = [p for p, have in (("rtt", rtt), ("tput", tput), ("loss", loss_pairs)) if have]
    if not panels:
        panels = ["rtt"]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.3 * len(panels) + 0.6), sharex=True,
                             squeeze=False)
    axes = [a[0] for a in axes]
    for ax, panel in zip(axes, panels):
        if panel == "rtt":
            for s, d, m in rtt:
                pts = series.select(s, d, m)
                style = "." if m == "rtt_ms" else "o-"
                ax.plot([t for t, _ in pts], [v for _, v in pts], style, ms=2 if m == "rtt_ms" else 3,
                        label=f"{'ping' if m == 'rtt_ms' else 'sense'} {s}->{d}")
            ax.set_ylabel("RTT (ms)")
        elif panel == "tput":
            names = {"throughput_mbps": ("-", "iperf3"), "sense_bw_mbps": ("o--", "sense bw"),
                     "sense_bw_min_mbps": ("^", "sense bw, lower bound")}
            for s, d, m in tput:
                pts = series.select(s, d, m)
                style, name = names[m]
                ax.plot([t for t, _ in pts], [v for _, v in pts], style, lw=1, ms=3,
                        label=f"{name} {s}->{d}")
            ax.set_ylabel("Mbit/s")
        else:
            width = max(end / 100, 0.1)
            for s, d in loss_pairs:
                x, y = _loss_bins([t for t, _ in series.select(s, d, "lost")],
                                  [t for t, _ in series.select(s, d, "rtt_ms")], end, width)
                ax.step(x, y, where="mid", lw=1, label=f"ping {s}->{d}")
            ax.set_ylabel(f"loss % ({width:g} s bins)")
            ax.set_ylim(-5, 105)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    for e in events:
        if e["actual_s"] is None:
            continue
        for ax in axes:
            ax.axvline(e["actual_s"], color="red" if not e["ok"] else "gray", ls="--", lw=0.8)
        axes[0].annotate(e["event"], (e["actual_s"], 1.0), xycoords=("data", "axes fraction"),
                         rotation=90, va="top", ha="right", fontsize=6)
    axes[-1].set_xlabel("time (s)")
    axes[-1].set_xlim(0, end)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
