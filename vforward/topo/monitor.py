"""Watching a deployed lab: a Prometheus exporter for the whole lab, a live
table of its links (`vforward topo top`), and the probe columns of
`vforward topo stats`.

Everything here reads the routers through their control sockets: each
router's global `metrics` handler gives its Prometheus text (see
vforward.metrics), so one READ per router per refresh carries every
counter and every LinkProbe measurement of that router.

    vforward topo metrics LAB [--listen 127.0.0.1:9477]
        HTTP on 127.0.0.1; each scrape of /metrics reads `metrics` from
        every router of the lab at once and serves them as one exposition,
        each sample labelled lab="LAB", node="NODE", and a
        vforward_up{node} gauge that is 0 for a router that did not answer.

    vforward topo top LAB [--interval 1] [--once]
        per router interface: rx/tx Mbit/s and packets/s over the last
        interval, drops, and the link probe's RTT, egress loss and egress
        bandwidth estimate; redrawn in place every interval (ANSI, no
        curses); --once measures one interval, prints one table and exits.
"""
from __future__ import annotations

import asyncio
import signal
import sys
import time

from vforward.control import ControlError
from vforward.interface_elements import PROBE, element_name, split_element_name
from vforward.metrics import (DEFAULT_PORT, Family, MetricsServer, merge, parse,
                              parse_listen_address, relabel, render)
from vforward.topo.model import TopologyError
from vforward.topo.ops import lab_state
from vforward.topo.state import LabState

READ_TIMEOUT = 5.0
CLEAR = "\x1b[H\x1b[2J"


def _user_mode(st: LabState) -> LabState:
    if st.mode != "user" or not st.sockets:
        raise TopologyError(f"lab {st.name} runs in {st.mode} mode: there are no vforward "
                            "routers to read; deploy it in user mode to monitor it")
    return st


# -- the lab exporter --------------------------------------------------------------

async def read_handler(path: str, handler: str, timeout: float = READ_TIMEOUT) -> str:
    """One READ over a unix control socket, without blocking the loop."""
    async def talk():
        reader, writer = await asyncio.open_unix_connection(path)
        try:
            greeting = await reader.readline()
            if not greeting.startswith(b"Click::ControlSocket/"):
                raise ControlError(0, f"not a control socket: it said {greeting[:80]!r}")
            writer.write(f"READ {handler}\r\nQUIT\r\n".encode())
            await writer.drain()
            lines = []
            while True:
                line = await reader.readline()
                if len(line) < 4 or not line[:3].isdigit():
                    raise ConnectionError(f"control socket {path} ended its reply early")
                code = int(line[:3])
                lines.append(line[4:].decode("utf-8", "replace").strip())
                if line[3:4] != b"-":
                    break
            if not 200 <= code < 300:
                raise ControlError(code, " ".join(lines))
            head = (await reader.readline()).split()
            if len(head) != 2 or head[0] != b"DATA" or not head[1].isdigit():
                raise ControlError(0, f"expected 'DATA n' after a read, got {head!r}")
            return (await reader.readexactly(int(head[1]))).decode("utf-8", "replace")
        finally:
            writer.close()
    return await asyncio.wait_for(talk(), timeout)


class LabExporter:
    """Serves the metrics of every router of a deployed lab at /metrics."""

    def __init__(self, lab_ref: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        self.st = _user_mode(lab_state(lab_ref))
        if getattr(self.st, "cluster", None):
            raise TopologyError(f"lab {self.st.name} runs on Kubernetes: every pod serves its "
                                "own metrics on port 9100; scrape them there (a PodMonitor, "
                                "or 'kubectl port-forward POD 9100')")
        self.server = MetricsServer(self.scrape, host, port)
        self._loop = None
        self._stopped = None
        self._stop_asked = False

    @property
    def url(self) -> str:
        return self.server.url

    def bind(self) -> None:
        """Open the listening socket now (OSError, with the reason, if it cannot)."""
        self.server.bind()

    async def scrape(self) -> str:
        nodes = sorted(self.st.sockets)
        texts = await asyncio.gather(*(read_handler(self.st.sockets[n], "metrics")
                                       for n in nodes), return_exceptions=True)
        up = Family("vforward_up", "gauge", "1 if the node's router answered this scrape")
        groups = []
        for node, text in zip(nodes, texts):
            labels = {"lab": self.st.name, "node": node}
            if isinstance(text, BaseException):
                up.add(labels, 0)
                continue
            try:
                groups.append(relabel(parse(text), **labels))
            except ValueError:
                up.add(labels, 0)
                continue
            up.add(labels, 1)
        return render([up] + merge(groups))

    async def serve(self) -> None:
        """Serve until stop() (or SIGINT/SIGTERM when run from the command line)."""
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()
        if self._stop_asked:   # stop() came before the loop ran
            self._stopped.set_result(None)
        await self.server.start()
        try:
            await self._stopped
        finally:
            self.server.close()

    def run(self) -> None:
        from vforward.runtime import new_event_loop
        loop = new_event_loop()
        try:
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, self.stop)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass   # not the main thread: stop() ends it
            loop.run_until_complete(self.serve())
        finally:
            loop.close()

    def stop(self) -> None:
        """End serve(); safe from any thread, and before serve() has begun."""
        self._stop_asked = True
        loop, fut = self._loop, self._stopped
        if loop is None or fut is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(lambda: fut.done() or fut.set_result(None))


# -- the live table ----------------------------------------------------------------

_SERIES = {
    "vforward_interface_rx_packets_total": "rx_packets",
    "vforward_interface_tx_packets_total": "tx_packets",
    "vforward_interface_rx_bytes_total": "rx_bytes",
    "vforward_interface_tx_bytes_total": "tx_bytes",
    "vforward_interface_up": "up",
    "vforward_link_rtt_seconds": "rtt",
    "vforward_link_loss_ratio": "loss",
    "vforward_link_available_bandwidth_bps": "bw",
}


def interface_values(families) -> dict:
    """interface -> {rx_packets, tx_packets, rx_bytes, tx_bytes, drops, up, rtt, loss,
    bw, bw_bound} from one router's parsed metrics (keys present when known)."""
    out: dict = {}
    for fam in families:
        key = _SERIES.get(fam.name)
        for labels, value in fam.samples:
            if key is not None and "interface" in labels:
                out.setdefault(labels["interface"], {})[key] = value
            elif fam.name == "vforward_interface_drops_total" and "interface" in labels:
                row = out.setdefault(labels["interface"], {})
                row["drops"] = row.get("drops", 0) + value
            elif (fam.name == "vforward_element_avail_bw_bound"
                  and (split := split_element_name(labels.get("element", ""))) is not None
                  and split[1] == PROBE):
                out.setdefault(split[0], {})["bw_bound"] = bool(value)
    return out


class _Routers:
    """Blocking control clients of a lab's routers, reconnected after a failure."""

    def __init__(self, st: LabState):
        from vforward.topo.access import access_for
        self.st = st
        self.access = access_for(st)    # here, or in the lab's pods through the API
        self._clients: dict = {}

    def metrics(self, node: str) -> dict | str:
        """The router's interface values, or the reason it could not be read."""
        try:
            client = self._clients.get(node)
            if client is None:
                client = self._clients[node] = self.access.control(node, timeout=READ_TIMEOUT)
            return interface_values(parse(client.read("metrics")))
        except (OSError, ControlError, ValueError, TopologyError) as e:
            bad = self._clients.pop(node, None)
            if bad is not None:
                try:
                    bad.close()
                except OSError:
                    pass
            return str(e) or type(e).__name__

    def sample(self) -> dict:
        return {node: self.metrics(node) for node in sorted(self.st.sockets)}

    def close(self) -> None:
        for c in self._clients.values():
            try:
                c.close()
            except OSError:
                pass
        self._clients.clear()
        self.access.close()


def _rate(now: dict, before: dict, key: str, dt: float, scale: float = 1.0):
    a, b = before.get(key), now.get(key)
    if a is None or b is None or dt <= 0 or b < a:
        return None
    return (b - a) * scale / dt


def link_rows(st: LabState, before: dict, now: dict, dt: float) -> list[dict]:
    """One row per router interface from two samples `dt` seconds apart."""
    rows = []
    for ref, info in sorted(st.interfaces.items()):
        if info.get("counters") is None:
            continue
        node, prefix = info["counters"]
        row = {"interface": ref, "peer": info["peer"], "node": node}
        got = now.get(node)
        if isinstance(got, str) or got is None:
            row["error"] = got or "no sample"
            rows.append(row)
            continue
        v = got.get(prefix, {})
        b = before.get(node)
        b = b.get(prefix, {}) if isinstance(b, dict) else {}
        row.update({
            "rx_mbps": _rate(v, b, "rx_bytes", dt, 8e-6),
            "tx_mbps": _rate(v, b, "tx_bytes", dt, 8e-6),
            "rx_pps": _rate(v, b, "rx_packets", dt),
            "tx_pps": _rate(v, b, "tx_packets", dt),
            "drops": v.get("drops"),
            "rtt_ms": None if v.get("rtt") is None else v["rtt"] * 1e3,
            "loss": v.get("loss"),
            "avail_bw_mbps": None if v.get("bw") is None else v["bw"] / 1e6,
            "bw_bound": v.get("bw_bound", False),
            "up": None if v.get("up") is None else bool(v["up"]),
        })
        rows.append(row)
    return rows


def _num(value, fmt: str, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{fmt}}"


PROBE_HEADER = f"{'rtt ms':>9}{'loss':>7}{'bw Mbit/s':>11}"


def probe_columns(row: dict) -> str:
    """The probe's columns of a stats or top row: RTT, egress loss, egress bandwidth
    ('>' marks a lower bound: the train arrived faster than the clock resolves)."""
    loss = row.get("loss")
    bw = row.get("avail_bw_mbps")
    bw_text = "-" if bw is None else (">" if row.get("bw_bound") else "") + f"{bw:.1f}"
    return (_num(row.get("rtt_ms"), ".2f", 9)
            + (f"{'-':>7}" if loss is None else f"{loss * 100:>6.1f}%")
            + f"{bw_text:>11}")


def format_table(st: LabState, rows: list[dict], interval: float) -> str:
    head = (f"{'interface':<14}{'peer':<14}{'rx Mbit/s':>10}{'tx Mbit/s':>10}{'rx pps':>9}"
            f"{'tx pps':>9}{'drops':>8}{PROBE_HEADER}  state")
    out = [f"lab {st.name}: {len(st.sockets)} routers, rates over {interval:g}s, "
           f"{time.strftime('%H:%M:%S')}", head]
    for r in rows:
        if "error" in r:
            out.append(f"{r['interface']:<14}{r['peer']:<14}  error: {r['error']}")
            continue
        state = "-" if r["up"] is None else ("up" if r["up"] else "DOWN")
        out.append(f"{r['interface']:<14}{r['peer']:<14}{_num(r['rx_mbps'], '.2f', 10)}"
                   f"{_num(r['tx_mbps'], '.2f', 10)}{_num(r['rx_pps'], '.0f', 9)}"
                   f"{_num(r['tx_pps'], '.0f', 9)}{_num(r['drops'], '.0f', 8)}"
                   f"{probe_columns(r)}  {state}")
    return "\n".join(out) + "\n"


def top(lab_ref: str, interval: float = 1.0, once: bool = False, out=None) -> int:
    """Print the lab's link table every `interval` seconds until Ctrl-C (or once)."""
    out = out or sys.stdout
    if interval <= 0:
        raise TopologyError(f"--interval must be above zero, not {interval:g}")
    st = _user_mode(lab_state(lab_ref))
    routers = _Routers(st)
    try:
        before, t0 = routers.sample(), time.monotonic()
        while True:
            time.sleep(max(0.0, t0 + interval - time.monotonic()))
            now, t1 = routers.sample(), time.monotonic()
            table = format_table(st, link_rows(st, before, now, t1 - t0), t1 - t0)
            if once:
                out.write(table)
                out.flush()
                return 0
            out.write(CLEAR + table)
            out.flush()
            before, t0 = now, t1
    except KeyboardInterrupt:
        return 0
    finally:
        routers.close()


# -- the probe columns of `vforward topo stats` -------------------------------------

PROBE_VALUES = ("rtt_ms", "loss", "avail_bw_mbps")


def probe_row(ctl, st: LabState, ref: str) -> dict:
    """The LinkProbe values of router interface `ref`, read through `ctl` (an
    ops.NodeControl): rtt_ms, loss, avail_bw_mbps, bw_bound; None where not
    measured yet, or where the interface has no probe (toward a host)."""
    row = dict.fromkeys(PROBE_VALUES)
    row["bw_bound"] = False
    info = st.interfaces.get(ref, {})
    peer = st.interfaces.get(info.get("peer"), {})
    if info.get("counters") is None or peer.get("kind") != "router":
        return row
    node, prefix = info["counters"]
    try:
        for key in PROBE_VALUES:
            text = ctl.read(node, f"{element_name(prefix, PROBE)}.{key}")
            row[key] = float(text) if text else None
        row["bw_bound"] = ctl.read(node, f"{element_name(prefix, PROBE)}.avail_bw_bound") == "true"
    except ControlError:   # a config without a probe on this interface
        pass
    return row


# -- the command line ----------------------------------------------------------------

def cmd_metrics(a) -> int:
    try:
        if a.listen is None:
            exporter = _exporter_on_free_port(a.lab)
        else:
            exporter = LabExporter(a.lab, **parse_listen_address(a.listen))
            exporter.bind()
    except (ValueError, OSError) as e:
        print(f"vforward: error: --listen {a.listen}: {e}", file=sys.stderr)
        return 1
    print(f"serving lab {exporter.st.name}'s metrics at {exporter.url} (Ctrl-C to stop)",
          flush=True)
    exporter.run()
    return 0


# Several labs' exporters at once (slices): without --listen each takes the
# first free port from DEFAULT_PORT, and says which.
FREE_PORT_TRIES = 100


def _exporter_on_free_port(lab_ref: str) -> LabExporter:
    for port in range(DEFAULT_PORT, DEFAULT_PORT + FREE_PORT_TRIES):
        exporter = LabExporter(lab_ref, port=port)
        try:
            exporter.bind()
            return exporter
        except OSError:
            continue
    raise OSError(f"ports {DEFAULT_PORT}-{DEFAULT_PORT + FREE_PORT_TRIES - 1} are all in use; "
                  "give one with --listen HOST:PORT")


def cmd_top(a) -> int:
    return top(a.lab, interval=a.interval, once=a.once)


def add_monitor_parsers(ts) -> None:
    """Add `metrics` and `top` to the `vforward topo` subcommands."""
    p = ts.add_parser("metrics", help="serve the lab's Prometheus metrics over HTTP")
    p.add_argument("lab", help="the topology YAML file, or a deployed lab's name")
    p.add_argument("--listen", metavar="HOST:PORT",
                   help=f"where to listen (default 127.0.0.1:{DEFAULT_PORT}, or the next free "
                        "port when another lab's exporter has it)")
    p.set_defaults(func=cmd_metrics)
    p = ts.add_parser("top", help="a live table of the lab's link rates, drops and probes")
    p.add_argument("lab", help="the topology YAML file, or a deployed lab's name")
    p.add_argument("--interval", type=float, default=1.0, metavar="SECONDS",
                   help="refresh period, and the interval rates are measured over (default 1)")
    p.add_argument("--once", action="store_true", help="print one table and exit")
    p.set_defaults(func=cmd_top)
