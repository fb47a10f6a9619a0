"""The samples of a run: (time, source, target, metric, value) rows, time in
seconds from the start of the run."""
from __future__ import annotations

import csv
from dataclasses import dataclass, field

HEADER = ("time_s", "source", "target", "metric", "value")


@dataclass
class Series:
    rows: list = field(default_factory=list)

    def add(self, t: float, source: str, target: str, metric: str, value: float) -> None:
        self.rows.append((t, source, target, metric, value))

    def select(self, source: str, target: str, metric: str) -> list[tuple[float, float]]:
        return sorted((t, v) for t, s, d, m, v in self.rows
                      if s == source and d == target and m == metric)

    def write_csv(self, path: str) -> None:
        with open(path, "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(HEADER)
            for t, s, d, m, v in sorted(self.rows, key=lambda r: r[0]):
                w.writerow((f"{t:.4f}", s, d, m, f"{v:.6g}"))


def read_csv(path: str) -> Series:
    out = Series()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            out.add(float(row["time_s"]), row["source"], row["target"], row["metric"],
                    float(row["value"]))
    return out
