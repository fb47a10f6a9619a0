"""End-to-end sensing between two nodes of a lab, along the path their
packets take (S3-style): round-trip latency, loss, and available bandwidth.

Both ends are UDP sockets this process opens inside the two nodes'
namespaces, so one clock times both: the kernel stamps every arrival
(SO_TIMESTAMPNS) and the sender notes the time just before each send.

- Latency: COUNT probes a -> b, SPACING apart (50 ms, as ping -i 0.05),
  each echoed b -> a at once; a probe's round-trip time is its one-way time
  out plus its echo's one-way time back (the echoing end's own delay left
  out).  The median is reported, with each direction's median one-way
  delay.  Probes sent back to back would find the routers still awake from
  the previous one and report less than a sparse flow such as ping sees
  (0.7 ms against 2 ms on an idle lab of a busy machine).
- Loss: the fraction of probes or echoes that did not arrive.
- Available bandwidth: packet-train dispersion.  TRAIN packets of SIZE bytes
  leave a back to back; the bottleneck spaces them out, and b's kernel
  timestamps give the dispersion: (received - 1) * size / (last - first).
  On an idle path that is the bottleneck's capacity (what an idle path has
  available); under cross traffic a train measures the asymptotic
  dispersion rate, which lies between the available bandwidth and the
  capacity, so it over-estimates what is left on a loaded link.  A
  user-space router that forwards in batches bunches a train up on a fast
  path: a train that arrives within MIN_DISPERSION (1 ms) gives only a lower
  bound (bw_bound), as LinkProbe's do, and on an idle unlimited path the
  figure says little about what TCP gets (bench/bench_sense.py: 0.5 to 18
  times iperf3's across runs); on a rate-limited link the spacing is the
  rate (within 5-25% of iperf3's TCP goodput).
"""
from __future__ import annotations

import select
import socket
import statistics
import struct
import time
from dataclasses import asdict, dataclass

from vforward import netns
from vforward.topo.validate import target_address

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
_PROBE = struct.Struct("!IIQ")            # kind, seq, send time (ns)
PROBE, ECHO, TRAIN = 1, 2, 3
_TIMESPEC = struct.Struct("=qq")
MIN_DISPERSION = 1e-3                     # seconds: a train spread less is only a lower bound


@dataclass
class PathSense:
    src: str
    dst: str
    rtt_ms: float | None
    owd_ms: float | None                  # a -> b
    owd_back_ms: float | None             # b -> a
    loss: float
    avail_bw_mbps: float | None
    bw_bound: bool                        # the train came too bunched: only a lower bound
    probes: int
    train_received: int
    train_sent: int
    time: float                           # wall clock of the measurement

    def as_dict(self) -> dict:
        return asdict(self)


def _socket(ns: str, address: str) -> socket.socket:
    with netns.entered(ns):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind((address, 0))
    return s


def _receive(s: socket.socket, timeout: float):
    """(payload, kernel arrival time in ns) or None after timeout."""
    r, _, _ = select.select([s], [], [], max(timeout, 0))
    if not r:
        return None
    data, anc, _, _ = s.recvmsg(2048, 64)
    for level, kind, value in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
            sec, nsec = _TIMESPEC.unpack(value[:16])
            return data, sec * 1_000_000_000 + nsec
    return data, time.time_ns()


def _drain(s: socket.socket) -> None:
    while _receive(s, 0) is not None:
        pass


class PathProbe:
    """The two ends of a sensed path; open once, measure many times."""

    def __init__(self, lab, a: str, b: str, namespaces: dict):
        self.src, self.dst = a, b
        self.addr_a, self.addr_b = target_address(lab, a), target_address(lab, b)
        self.a = _socket(namespaces[a], self.addr_a)
        self.b = _socket(namespaces[b], self.addr_b)
        self.to_b = (self.addr_b, self.b.getsockname()[1])
        self.to_a = (self.addr_a, self.a.getsockname()[1])

    def close(self) -> None:
        self.a.close()
        self.b.close()

    def latency(self, count: int = 10, timeout: float = 0.5,
                spacing: float = 0.05) -> tuple[list, list, int]:
        """(forward one-way ns, backward one-way ns, probes lost) over count probes."""
        fwd, back, lost = [], [], 0
        _drain(self.a)
        _drain(self.b)
        for seq in range(count):
            if seq:
                time.sleep(spacing)
            self.a.sendto(_PROBE.pack(PROBE, seq, time.time_ns()), self.to_b)
            deadline = time.monotonic() + timeout
            got = None
            while got is None:
                r = _receive(self.b, deadline - time.monotonic())
                if r is None:
                    break
                kind, s, sent = _PROBE.unpack_from(r[0])
                if kind == PROBE and s == seq:
                    got = r[1] - sent
            if got is None:
                lost += 1
                continue
            self.b.sendto(_PROBE.pack(ECHO, seq, time.time_ns()), self.to_a)
            echo = None
            while echo is None:
                r = _receive(self.a, deadline - time.monotonic())
                if r is None:
                    break
                kind, s, sent = _PROBE.unpack_from(r[0])
                if kind == ECHO and s == seq:
                    echo = r[1] - sent
            if echo is None:
                lost += 1
                continue
            fwd.append(got)
            back.append(echo)
        return fwd, back, lost

    def train(self, packets: int = 60, size: int = 1400,
              quiet: float = 0.2) -> tuple[float | None, int, bool]:
        """(bits per second by dispersion, packets received, only a lower bound)
        of one train a -> b."""
        _drain(self.b)
        pad = bytes(max(size - _PROBE.size, 0))
        for seq in range(packets):
            self.a.sendto(_PROBE.pack(TRAIN, seq, time.time_ns()) + pad, self.to_b)
        stamps = []
        while True:
            r = _receive(self.b, quiet)
            if r is None:
                break
            kind, _, _ = _PROBE.unpack_from(r[0])
            if kind == TRAIN:
                stamps.append(r[1])
                if len(stamps) == packets:
                    break
        if len(stamps) < 2:
            return None, len(stamps), False
        spread = (stamps[-1] - stamps[0]) / 1e9
        bound = spread < MIN_DISPERSION
        return (len(stamps) - 1) * size * 8 / max(spread, MIN_DISPERSION), len(stamps), bound

    def sense(self, count: int = 10, train: int = 60, size: int = 1400,
              spacing: float = 0.05) -> PathSense:
        now = time.time()
        fwd, back, lost = self.latency(count, spacing=spacing)
        bw, got, bound = self.train(train, size) if train else (None, 0, False)
        rtts = [f + b for f, b in zip(fwd, back)]
        med = (lambda xs: statistics.median(xs) / 1e6 if xs else None)
        return PathSense(self.src, self.dst, med(rtts), med(fwd), med(back),
                         lost / count if count else 0.0,
                         bw / 1e6 if bw else None, bound, count, got, train, now)


def pairs_of(lab, spec: str | None, every: bool) -> list[tuple[str, str]]:
    """'a:b,c:d' or every pair of nodes."""
    from vforward.config.errors import did_you_mean
    from vforward.topo.model import TopologyError
    if every:
        names = list(lab.nodes)
        return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    if not spec:
        raise TopologyError("name the pairs to sense with --pairs a:b,c:d, or give --all")
    out = []
    for item in spec.split(","):
        a, sep, b = item.strip().partition(":")
        if not sep or not a or not b:
            raise TopologyError(f"--pairs: '{item}' is not a pair such as r1:r3")
        for n in (a, b):
            if n not in lab.nodes:
                hint = did_you_mean(n, lab.nodes)
                raise TopologyError(f"--pairs: lab {lab.name} has no node '{n}'" +
                                    (f"; did you mean '{hint}'?" if hint else ""))
        out.append((a, b))
    return out


def format_table(results: list[PathSense]) -> str:
    def f(v, fmt):
        return "-" if v is None else format(v, fmt)
    out = [f"{'path':<16}{'rtt ms':>9}{'a->b ms':>9}{'b->a ms':>9}{'loss':>7}{'avail Mbit/s':>14}"]
    for r in results:
        out.append(f"{r.src + '->' + r.dst:<16}{f(r.rtt_ms, '.3f'):>9}{f(r.owd_ms, '.3f'):>9}"
                   f"{f(r.owd_back_ms, '.3f'):>9}{r.loss * 100:>6.1f}%"
                   f"{('>' if r.bw_bound else '') + f(r.avail_bw_mbps, '.1f'):>14}")
    return "\n".join(out)


def prometheus(lab_name: str, results: list[PathSense]) -> str:
    out = []
    metrics = [("vforward_path_rtt_seconds", "round-trip time along the path (median)",
                lambda r: None if r.rtt_ms is None else r.rtt_ms / 1e3),
               ("vforward_path_loss_ratio", "fraction of probes lost", lambda r: r.loss),
               ("vforward_path_available_bandwidth_lower_bound", "1 when the train came "
                "too bunched to give more than a lower bound", lambda r: float(r.bw_bound)),
               ("vforward_path_available_bandwidth_bits", "packet-train dispersion rate, "
                "bits per second", lambda r: None if r.avail_bw_mbps is None
                else r.avail_bw_mbps * 1e6)]
    for name, text, get in metrics:
        out += [f"# HELP {name} {text}", f"# TYPE {name} gauge"]
        for r in results:
            v = get(r)
            if v is not None:
                out.append(f'{name}{{lab="{lab_name}",src="{r.src}",dst="{r.dst}"}} {v:.9g}')
    return "\n".join(out) + "\n"
