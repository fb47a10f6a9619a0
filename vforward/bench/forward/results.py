"""Results: medians over repetitions, ratios to the kernel, the targets, the
table and the bar chart."""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from vforward.bench.forward.testbed import FWD_CPU, GEN_CPU, BenchError

# Targets from the IP router issue: (metric, modes, bound, higher is better).  The
# TCP target is for TCP with offloads; AF_PACKET is to match the kernel's pps.
TARGETS = [
    ("pps", ("tap", "tap-plain", "tap-poll"), 0.85, True),
    ("pps", ("afpacket",), 1.0, True),
    ("tcp_mbps", ("tap", "tap-poll", "afpacket-tso"), 0.75, True),
    ("rtt_ms", ("tap", "tap-poll", "afpacket"), 2.0, False),
]
METRICS = [("pps", "64B UDP kpps", 1e-3, "{:.0f}"),
           ("udp_mbps", "1400B UDP Mbit/s", 1, "{:.0f}"),
           ("tcp_mbps", "TCP Mbit/s", 1, "{:.0f}"),
           ("rtt_ms", "RTT ms", 1, "{:.3f}")]


@dataclass
class Sample:
    """One forwarder's results in one repetition (None: that load failed)."""
    mode: str
    pps: float | None = None
    offered_pps: float | None = None
    udp_mbps: float | None = None
    udp_lost_percent: float | None = None
    udp_delivered_mbps: float | None = None
    tcp_mbps: float | None = None
    rtt_ms: float | None = None
    errors: list = field(default_factory=list)


def summarize(samples: dict[str, list[Sample]]) -> dict:
    """mode -> {metric: median over repetitions (None if no run gave it)}."""
    out = {}
    for mode, runs in samples.items():
        row = {}
        for key in ("pps", "offered_pps", "udp_mbps", "udp_lost_percent", "udp_delivered_mbps",
                    "tcp_mbps", "rtt_ms"):
            values = [getattr(s, key) for s in runs if getattr(s, key) is not None]
            row[key] = statistics.median(values) if values else None
        out[mode] = row
    return out


def ratios(summary: dict) -> dict:
    """mode -> {metric: value / kernel's value} (RTT: higher is worse)."""
    base = summary.get("kernel")
    out = {}
    for mode, row in summary.items():
        out[mode] = {}
        for key, *_ in METRICS:
            v, b = row.get(key), (base or {}).get(key)
            out[mode][key] = v / b if v is not None and b else None
    return out


def check_targets(ratio: dict, summary: dict | None = None) -> list[dict]:
    results = []
    tso = (summary or {}).get("kernel-tso", {}).get("tcp_mbps")
    for mode in ("tap", "afpacket-tso"):    # offloads against offloads
        tcp = (summary or {}).get(mode, {}).get("tcp_mbps")
        if tso and tcp:
            results.append({"metric": "tcp_mbps", "mode": mode, "ratio": tcp / tso,
                            "target": ">= 0.75x kernel-tso", "met": tcp / tso >= 0.75})
    for key, modes, bound, higher in TARGETS:
        for mode in modes:
            r = ratio.get(mode, {}).get(key)
            if r is None:
                continue
            met = r >= bound if higher else r <= bound
            results.append({"metric": key, "mode": mode, "ratio": r,
                            "target": f"{'>=' if higher else '<='} {bound:g}x kernel",
                            "met": met})
    return results


def format_table(summary: dict, ratio: dict, opts) -> str:
    lines = [f"src -> node -> dst, median of {opts.repeat} run(s) of {opts.seconds:g} s; "
             f"load on CPU {GEN_CPU}, forwarder on CPU {FWD_CPU}; ratios to the kernel"]
    head = f"{'mode':<11}" + "".join(f"{title:>22}" for _, title, _, _ in METRICS)
    lines += [head, "-" * len(head)]
    for mode, row in summary.items():
        cells = []
        for key, _, scale, fmt in METRICS:
            v = row.get(key)
            r = ratio[mode].get(key)
            text = "-" if v is None else fmt.format(v * scale)
            if r is not None:
                text += f" ({r:.2f}x)"
            cells.append(f"{text:>22}")
        lines.append(f"{mode:<11}" + "".join(cells))
    for mode, row in summary.items():
        pps, offered = row.get("pps"), row.get("offered_pps")
        if pps and offered and pps >= 0.95 * offered:
            lines.append(f"note: {mode} delivered {pps / offered:.0%} of the "
                         f"{offered / 1e3:.0f} kpps "
                         "trafgen offered: the generator, not the forwarder, set its pps"
                         + (" (so ratios to it flatter the others)" if mode == "kernel" else ""))
    return "\n".join(lines)


def write_png(path: str, summary: dict, ratio: dict, opts) -> None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise BenchError("--png needs matplotlib (pip install 'vforward[bench]')") from None
    modes = list(summary)
    colors = {"kernel": "#4c72b0", "kernel-tso": "#64b5cd", "tap": "#55a868",
              "tap-plain": "#8c8c3c", "tap-poll": "#2f7d45", "afpacket": "#8172b2",
              "afpacket-tso": "#b19cd9", "naive": "#c44e52"}
    fig, axes = plt.subplots(1, len(METRICS), figsize=(4 * len(METRICS), 4))
    for ax, (key, title, scale, fmt) in zip(axes, METRICS):
        values = [(summary[m].get(key) or 0) * scale for m in modes]
        bars = ax.bar(modes, values, color=[colors.get(m, "#888888") for m in modes])
        for bar, m in zip(bars, modes):
            r = ratio[m].get(key)
            if r is not None:
                ax.annotate(f"{r:.2f}x", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                            ha="center", va="bottom", fontsize=9)
        ax.set_title(title + (" (lower is better)" if key == "rtt_ms" else ""), fontsize=10)
        ax.tick_params(axis="x", labelsize=9)
    fig.suptitle(f"Forwarding src -> node -> dst: median of {opts.repeat} runs "
                 f"of {opts.seconds:g} s, ratio to the kernel above each bar", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
