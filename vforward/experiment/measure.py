"""Measurements that run the whole length of a scenario, as asyncio tasks
writing samples into a Series: ping, iperf3 and end-to-end sensing.

Each keeps a short status for the live timeline (`status()`).
"""
from __future__ import annotations

import asyncio
import random
import re
import signal
import statistics
import time

from vforward.topo.validate import target_address

_PING_REPLY = re.compile(r"^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+) .*time=([\d.]+) ms")
_PING_MISSING = re.compile(r"^\[(\d+\.\d+)\] no answer yet for icmp_seq=(\d+)")
_IPERF_LINE = re.compile(r"^\[\s*\d+\]\s+([\d.]+)-([\d.]+)\s+sec\s+[\d.]+ \w+\s+([\d.]+) (\w)?bits/sec"
                         r"(?:.*?(\d+)/(\d+) \(([\d.]+)%\))?")
_UNIT = {None: 1e-6, "K": 1e-3, "M": 1.0, "G": 1e3}
UNDECIDED = 1.0       # seconds: a probe sent this close to the end without an answer is left out


class Clock:
    """The run's time: monotonic seconds since the start, and the wall time then."""

    def __init__(self):
        self.mono0 = time.monotonic()
        self.wall0 = time.time()

    def now(self) -> float:
        return time.monotonic() - self.mono0

    def of_wall(self, wall: float) -> float:
        return wall - self.wall0


class Measurement:
    label = ""

    async def run(self, until: float) -> None:
        raise NotImplementedError

    def status(self) -> str:
        return ""

    async def stop(self) -> None:
        pass


def series_target(dst: str, family: str) -> str:
    """The target name of a pair's series: 'h2', or 'h2/ipv6' over IPv6, so that
    one run measures both families of a pair apart."""
    return f"{dst}/ipv6" if family == "ipv6" and ":" not in dst else dst


class Ping(Measurement):
    """ping -D -O at an interval; an answered probe is an rtt_ms sample at its
    send time, an unanswered one a 'lost' sample (value 1)."""

    def __init__(self, ctx, src: str, dst: str, interval: float, family: str = "ipv4"):
        self.ctx, self.src, self.dst, self.interval = ctx, src, dst, interval
        self.family = family
        self.target = series_target(dst, family)
        self.label = f"ping {src}->{self.target}"
        self.addr = target_address(ctx.lab, dst, family)
        self.probes: dict[int, tuple[float, float | None]] = {}   # seq -> (send time, rtt ms)
        self.proc = None
        self.errors = ""
        self.stopped = float("inf")

    async def run(self, until: float) -> None:
        ns = self.ctx.st.namespaces[self.src]
        self.proc = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns, "ping", "-6" if self.family == "ipv6" else "-4",
            "-n", "-D", "-O", "-i", f"{self.interval:g}",
            "-W", "2", self.addr, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        clock = self.ctx.clock
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace")
            m = _PING_REPLY.match(line)
            if m:
                rtt = float(m.group(3))
                sent = clock.of_wall(float(m.group(1))) - rtt / 1e3
                self.probes[int(m.group(2))] = (sent, rtt)
                continue
            m = _PING_MISSING.match(line)
            if m:
                seq = int(m.group(2))
                if seq not in self.probes:
                    self.probes[seq] = (clock.of_wall(float(m.group(1))) - self.interval, None)
        self.errors = (await self.proc.stderr.read()).decode(errors="replace").strip()

    async def stop(self) -> None:
        self.stopped = self.ctx.clock.now()
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), 3)
            except asyncio.TimeoutError:
                self.proc.kill()

    def write(self, series) -> None:
        for seq, (t, rtt) in sorted(self.probes.items()):
            if rtt is None and t > self.stopped - UNDECIDED:
                continue            # the run ended before its answer was due: not known lost
            if rtt is None:
                series.add(t, self.src, self.target, "lost", 1.0)
            else:
                series.add(t, self.src, self.target, "rtt_ms", rtt)

    def status(self) -> str:
        # The probes of the second before last: the last one's may still be on their way.
        now = self.ctx.clock.now()
        recent = [p for p in self.probes.values() if now - 2.0 < p[0] <= now - 1.0]
        rtts = [r for _, r in recent if r is not None]
        lost = sum(1 for _, r in recent if r is None)
        rtt = f"rtt {statistics.median(rtts):.2f} ms" if rtts else "no answers"
        return f"{self.label}: {rtt}, {lost}/{len(recent)} lost"


class Iperf3(Measurement):
    """An iperf3 client in one node and a server in the other; the server's
    interval reports (what arrived) are throughput_mbps samples, and for UDP
    the lost share is a udp_loss sample."""

    def __init__(self, ctx, src: str, dst: str, interval: float, protocol: str = "tcp",
                 rate: str | None = None, port: int | None = None, family: str = "ipv4"):
        self.ctx, self.src, self.dst, self.interval = ctx, src, dst, interval
        self.protocol, self.rate = protocol, rate
        self.port = port or random.randint(20000, 29999)
        self.family = family
        self.target = series_target(dst, family)
        self.addr = target_address(ctx.lab, dst, family)
        self.label = f"iperf3 {src}->{self.target} ({protocol})"
        self.samples: list[tuple[float, float, float | None]] = []
        self.server = self.client = None
        self.errors = ""

    async def _start_server(self):
        ns = self.ctx.st.namespaces[self.dst]
        self.server = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", ns, "iperf3", "-s", "-1", "-B", self.addr, "-p",
            str(self.port), "-i", f"{self.interval:g}", "--forceflush",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        for _ in range(100):
            ss = await asyncio.create_subprocess_exec(
                "ip", "netns", "exec", ns, "ss", "-lntuH", f"sport = :{self.port}",
                stdout=asyncio.subprocess.PIPE)
            out, _ = await ss.communicate()
            if out.strip():
                return
            await asyncio.sleep(0.05)

    async def run(self, until: float) -> None:
        await self._start_server()
        length = max(1, int(until - self.ctx.clock.now() + 2))
        args = ["iperf3", "-c", self.addr, "-p", str(self.port), "-t", str(length),
                "-i", f"{self.interval:g}", "--connect-timeout", "3000"]
        if self.protocol == "udp":
            args += ["-u", "-b", self.rate or "10M"]
        elif self.rate:
            args += ["-b", self.rate]
        self.client = await asyncio.create_subprocess_exec(
            "ip", "netns", "exec", self.ctx.st.namespaces[self.src], *args,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        async for raw in self.server.stdout:
            line = raw.decode(errors="replace")
            m = _IPERF_LINE.match(line)
            if not m or "receiver" in line or "sender" in line:
                continue
            t = self.ctx.clock.now() - self.interval / 2
            mbps = float(m.group(3)) * _UNIT[m.group(4)]
            loss = float(m.group(7)) if m.group(7) is not None else None
            self.samples.append((t, mbps, loss))
        self.errors = (await self.client.stderr.read()).decode(errors="replace").strip()

    async def stop(self) -> None:
        for p in (self.client, self.server):
            if p and p.returncode is None:
                p.send_signal(signal.SIGINT)
        for p in (self.client, self.server):
            if p:
                try:
                    await asyncio.wait_for(p.wait(), 3)
                except asyncio.TimeoutError:
                    p.kill()

    def write(self, series) -> None:
        for t, mbps, loss in self.samples:
            series.add(t, self.src, self.target, "throughput_mbps", mbps)
            if loss is not None:
                series.add(t, self.src, self.target, "udp_loss", loss / 100)

    def status(self) -> str:
        if not self.samples:
            return f"{self.label}: no report yet"
        return f"{self.label}: {self.samples[-1][1]:.1f} Mbit/s"


class Sense(Measurement):
    """End-to-end sensing (sensing.PathProbe) of each pair at an interval:
    sense_rtt_ms, sense_loss and sense_bw_mbps samples (sense_bw_min_mbps where a
    bunched train gives only a lower bound)."""

    def __init__(self, ctx, pairs: list, interval: float, count: int = 5, train: int = 40):
        self.ctx, self.pairs, self.interval = ctx, pairs, interval
        self.count, self.train = count, train
        self.label = "sense " + ",".join(f"{a}:{b}" for a, b in pairs)
        self.results = []
        self.probes = []

    async def run(self, until: float) -> None:
        from vforward.experiment.sensing import PathProbe
        self.probes = [PathProbe(self.ctx.lab, a, b, self.ctx.st.namespaces) for a, b in self.pairs]
        clock = self.ctx.clock
        next_at = clock.now()
        try:
            while next_at < until:
                for p in self.probes:
                    r = await asyncio.to_thread(p.sense, self.count, self.train)
                    self.results.append((clock.of_wall(r.time), r))
                next_at += self.interval
                await asyncio.sleep(max(0.0, next_at - clock.now()))
        finally:
            for p in self.probes:
                p.close()

    def write(self, series) -> None:
        for t, r in self.results:
            if r.rtt_ms is not None:
                series.add(t, r.src, r.dst, "sense_rtt_ms", r.rtt_ms)
            series.add(t, r.src, r.dst, "sense_loss", r.loss)
            if r.avail_bw_mbps is not None:
                # A bunched train gives only a lower bound: its own metric.
                metric = "sense_bw_min_mbps" if r.bw_bound else "sense_bw_mbps"
                series.add(t, r.src, r.dst, metric, r.avail_bw_mbps)

    def status(self) -> str:
        if not self.results:
            return f"{self.label}: no result yet"
        r = self.results[-1][1]
        rtt = f"{r.rtt_ms:.2f} ms" if r.rtt_ms is not None else "-"
        bw = f"{r.avail_bw_mbps:.0f} Mbit/s" if r.avail_bw_mbps else "-"
        return f"sense {r.src}->{r.dst}: rtt {rtt}, loss {r.loss:.0%}, bw {bw}"


def make(ctx, m) -> Measurement:
    a = m.args
    if m.kind == "ping":
        return Ping(ctx, a["from"], a["to"], m.interval, a.get("family", "ipv4"))
    if m.kind == "iperf3":
        return Iperf3(ctx, a["from"], a["to"], m.interval, a.get("protocol", "tcp"),
                      str(a["rate"]) if a.get("rate") else None,
                      int(a["port"]) if a.get("port") else None, a.get("family", "ipv4"))
    return Sense(ctx, a["pairs"], m.interval, int(a.get("count", 5)), int(a.get("train", 40)))
