"""Prometheus metrics of running routers, in the text exposition format 0.0.4.

Two kinds of series come out of a router:

* every element's measurements, one family per handler name:

      vforward_element_count{node="r1",element="eth1_rx",handler="count"} 1024

  A measurement is a read handler that takes no argument, has no write
  side (read/write handlers are settings, such as a LinkEmulator's delay)
  and reads as a number or a boolean (1/0).  Handlers that list tables
  (`table`, `routes`, `stats` ...) are never called.  Families named like
  counters (count, byte_count, sent, received, drops, drops_*, *_count,
  *_drops, bad_* ...) are typed counter, the others gauge.

* named series for the ports of lab routers, read from the elements that
  `vforward topo` generates for an interface with element-name prefix P
  (the interface name with '-' and '.' written '_': eth1 -> eth1; the
  names are spelt once, in vforward.interface_elements):

      P_rx :: Counter        vforward_interface_rx_packets_total, _rx_bytes_total
      P_tx :: Counter        vforward_interface_tx_packets_total, _tx_bytes_total
      P_egress :: LinkEmulator    vforward_interface_drops_total{direction="egress",
                                  reason="loss"|"queue"|"down"}, vforward_interface_up
      P_ingress :: LinkEmulator   vforward_interface_drops_total{direction="ingress",...}
                                  (a host's egress, emulated on the router's side)
      P_probe :: LinkProbe   vforward_link_rtt_seconds (smoothed round trip),
                             vforward_link_loss_ratio (egress loss),
                             vforward_link_available_bandwidth_bps (egress)

  all labelled {node, interface="P"}.  A hand-written config that names its
  elements the same way gets the same series.

The node label is the router's `node` attribute when it has one, else the
name of its configuration file without the extension (a lab's
configs/r1.click -> r1); a RouterGroup labels each router with its name in
the group.

`serve_metrics` answers HTTP GET /metrics on the router's own event loop
(an asyncio server, no thread), so a scrape reads the handlers between
batches, as the control socket does; `vforward run --metrics HOST:PORT`
and the control socket's global `metrics` handler give the same text.
`parse`, `merge` and `relabel` let the lab exporter (vforward.topo.monitor)
join the routers' texts into one valid exposition.
"""
from __future__ import annotations

import asyncio
import inspect
import math
import os
import re
import sys
import time
from dataclasses import dataclass, field

from vforward.interface_elements import (CLASSES, EGRESS, INGRESS, PROBE, RX, TX,
                                         split_element_name)
from vforward.listen import listen_tcp

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_PORT = 9477

# Handlers that are never metrics, or that list a table and may be costly.
_NOT_METRICS = {"name", "class", "config", "ports", "handlers", "routes", "stats",
                "drop_details", "patterns", "program", "interfaces", "data"}
_COUNTER_NAMES = {"count", "byte_count", "sent", "received", "replies", "dropped", "drops",
                  "packets", "fragments", "queries", "responses", "resyncs", "skipped",
                  "truncated"}
_COUNTER_PREFIXES = ("drops_", "bad_", "wrong_")
_COUNTER_SUFFIXES = ("_count", "_drops", "_failures")

_DROP_REASONS = ("loss", "queue", "down")


# -- the data model --------------------------------------------------------------

@dataclass
class Family:
    """One metric family: its name, type, help text and samples
    (labels dict, value) in the order they were added."""
    name: str
    type: str = "untyped"
    help: str = ""
    samples: list = field(default_factory=list)

    def add(self, labels: dict, value) -> None:
        self.samples.append((dict(labels), value))


class Families:
    """Families by name, in the order first used."""

    def __init__(self):
        self._by_name: dict[str, Family] = {}

    def get(self, name: str, type_: str = "gauge", help_: str = "") -> Family:
        fam = self._by_name.get(name)
        if fam is None:
            fam = self._by_name[name] = Family(name, type_, help_)
        return fam

    def __iter__(self):
        return iter(self._by_name.values())

    def list(self) -> list[Family]:
        return list(self._by_name.values())


# -- reading a router ------------------------------------------------------------

def node_name(router) -> str:
    """The node label of a router (see the module's doc)."""
    for attr in ("node", "name"):
        value = getattr(router, attr, None)
        if isinstance(value, str) and value:
            return value
    for e in router.elements.values():
        where = getattr(e.location, "file", None)
        if where and not where.startswith("<"):
            return os.path.splitext(os.path.basename(where))[0]
        break
    return ""


def handler_type(handler: str) -> str:
    """counter or gauge, from a handler's name."""
    if (handler in _COUNTER_NAMES or handler.startswith(_COUNTER_PREFIXES)
            or handler.endswith(_COUNTER_SUFFIXES)):
        return "counter"
    return "gauge"


def number(text: str):
    """A handler's value as int or float; booleans as 1/0; None if not a number."""
    t = text.strip()
    if t in ("true", "false"):
        return int(t == "true")
    try:
        return int(t)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return None


def element_measurements(element):
    """(handler, value) for each of the element's measurements (see the module's doc)."""
    for hname, h in element.handlers().items():
        if (h.read is None or h.write is not None or h.read_takes_arg
                or hname in _NOT_METRICS or "table" in hname):
            continue
        try:
            value = number(element.read(hname))
        except Exception:   # a measurement that fails to read is left out, not fatal
            continue
        if value is not None:
            yield hname, value


def _read_number(element, handler):
    h = element.handlers().get(handler)
    if h is None or h.read is None:
        return None
    try:
        return number(element.read(handler))
    except Exception:
        return None


def _port_series(fams: Families, router, base: dict) -> None:
    rx_pk = fams.get("vforward_interface_rx_packets_total", "counter",
                     "frames received from the interface's wire (P_rx.count)")
    tx_pk = fams.get("vforward_interface_tx_packets_total", "counter",
                     "frames sent to the interface's wire (P_tx.count)")
    rx_by = fams.get("vforward_interface_rx_bytes_total", "counter",
                     "bytes received from the interface's wire (P_rx.byte_count)")
    tx_by = fams.get("vforward_interface_tx_bytes_total", "counter",
                     "bytes sent to the interface's wire (P_tx.byte_count)")
    drops = fams.get("vforward_interface_drops_total", "counter",
                     "frames the link conditions dropped, by direction and reason")
    up = fams.get("vforward_interface_up", "gauge", "1 while the interface's link is up")
    rtt = fams.get("vforward_link_rtt_seconds", "gauge",
                   "smoothed round-trip time to the neighbour, from LinkProbe")
    loss = fams.get("vforward_link_loss_ratio", "gauge",
                    "egress loss ratio over the probe window, from LinkProbe")
    bw = fams.get("vforward_link_available_bandwidth_bps", "gauge",
                  "egress packet-train dispersion rate in bit/s, from LinkProbe")
    for e in router.elements.values():
        split = split_element_name(e.name)
        if split is None or CLASSES[split[1]] != e.class_name():
            continue
        iface, role = split
        labels = {**base, "interface": iface}
        if role in (RX, TX):
            for fam, handler in (((rx_pk, "count"), (rx_by, "byte_count")) if role == RX
                                 else ((tx_pk, "count"), (tx_by, "byte_count"))):
                value = _read_number(e, handler)
                if value is not None:
                    fam.add(labels, value)
        elif role in (EGRESS, INGRESS):
            for reason in _DROP_REASONS:
                value = _read_number(e, f"drops_{reason}")
                if value is not None:
                    drops.add({**labels, "direction": role, "reason": reason}, value)
            if role == EGRESS:
                value = _read_number(e, "up")
                if value is not None:
                    up.add(labels, value)
        elif role == PROBE:
            for fam, handler, scale in ((rtt, "rtt_ms", 1e-3), (loss, "loss", 1.0),
                                        (bw, "avail_bw_mbps", 1e6)):
                value = _read_number(e, handler)
                if value is not None:
                    fam.add(labels, value * scale)


def router_families(router, node: str | None = None) -> list[Family]:
    """Every family of one router, labelled with `node` (default: node_name)."""
    node = node_name(router) if node is None else node
    base = {"node": node} if node else {}
    fams = Families()
    pool = router.pool
    fams.get("vforward_router_uptime_seconds", "gauge",
             "seconds since the router was built").add(base, time.monotonic() - router.start_time)
    fams.get("vforward_router_pool_slots", "gauge",
             "packet slots in the router's pool").add(base, pool.n_slots)
    fams.get("vforward_router_pool_free_slots", "gauge",
             "packet slots free in the router's pool").add(base, pool.n_free)
    _port_series(fams, router, base)
    for e in router.elements.values():
        for hname, value in element_measurements(e):
            name = "vforward_element_" + re.sub(r"[^a-zA-Z0-9_]", "_", hname)
            fams.get(name, handler_type(hname), f"read handler '{hname}' of vforward elements") \
                .add({**base, "element": e.name, "handler": hname}, value)
    return [f for f in fams if f.samples]


def families_of(router_or_group, node: str | None = None) -> list[Family]:
    """A Router's families, or a RouterGroup's with each router labelled by its name."""
    routers = getattr(router_or_group, "routers", None)
    if routers is None:
        return router_families(router_or_group, node)
    return merge(router_families(r, name) for name, r in routers.items())


def exposition(router_or_group, node: str | None = None) -> str:
    """The text a Prometheus scrape of this router (or group) gets."""
    return render(families_of(router_or_group, node))


# -- the text format -------------------------------------------------------------

def _escape_label(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    v = float(value)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)


def render(families) -> str:
    """Families as exposition text: HELP and TYPE once each, samples grouped."""
    out = []
    for fam in families:
        if fam.help:
            out.append(f"# HELP {fam.name} {_escape_help(fam.help)}")
        out.append(f"# TYPE {fam.name} {fam.type}")
        for labels, value in fam.samples:
            if labels:
                body = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
                out.append(f"{fam.name}{{{body}}} {format_value(value)}")
            else:
                out.append(f"{fam.name} {format_value(value)}")
    return "\n".join(out) + "\n" if out else ""


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?\s*$")
_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)')
_UNESCAPE = re.compile(r"\\(.)")


def _unescape(text: str) -> str:
    return _UNESCAPE.sub(lambda m: "\n" if m.group(1) == "n" else m.group(1), text)


def _labels(text: str, line: str) -> dict:
    labels, pos = {}, 0
    text = text.strip()
    while pos < len(text):
        m = _LABEL.match(text, pos)
        if not m:
            raise ValueError(f"bad labels in metrics line {line!r}")
        labels[m.group(1)] = _unescape(m.group(2))
        pos = m.end()
    return labels


def _value(text: str, line: str) -> float:
    low = text.lower()
    if low in ("nan", "+inf", "inf", "-inf"):
        return float(low)
    try:
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    except ValueError:
        raise ValueError(f"bad value in metrics line {line!r}") from None


def parse(text: str) -> list[Family]:
    """Exposition text (format 0.0.4) back into families; ValueError when malformed."""
    fams = Families()
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.startswith("#"):
            parts = line.split(None, 3)
            if len(parts) >= 3 and parts[1] in ("HELP", "TYPE"):
                fam = fams.get(parts[2], "untyped")
                rest = parts[3] if len(parts) > 3 else ""
                if parts[1] == "HELP":
                    fam.help = _unescape(rest)
                else:
                    fam.type = rest.strip() or "untyped"
            continue
        m = _SAMPLE.match(line)
        if not m:
            raise ValueError(f"malformed metrics line {line!r}")
        fam = fams.get(m.group(1), "untyped")
        fam.samples.append((_labels(m.group(2) or "", line), _value(m.group(3), line)))
    return fams.list()


def relabel(families, **labels) -> list[Family]:
    """Copies of the families with `labels` set on every sample (first, replacing any)."""
    out = []
    for fam in families:
        copy = Family(fam.name, fam.type, fam.help)
        for sample_labels, value in fam.samples:
            rest = {k: v for k, v in sample_labels.items() if k not in labels}
            copy.samples.append(({**labels, **rest}, value))
        out.append(copy)
    return out


def merge(groups) -> list[Family]:
    """Join several lists of families: one family per name, samples in order."""
    fams = Families()
    for families in groups:
        for fam in families:
            into = fams.get(fam.name, fam.type, fam.help)
            into.samples.extend(fam.samples)
    return [f for f in fams if f.samples]


# -- HTTP ------------------------------------------------------------------------

def parse_listen_address(text: str, default_host: str = "127.0.0.1") -> dict:
    """`HOST:PORT`, `[IPV6]:PORT` or `PORT` -> {"host": ..., "port": ...}; ValueError else."""
    t = str(text).strip()
    m = re.fullmatch(r"\[([^\]]+)\]:(\d+)", t) or re.fullmatch(r"([^:]*):(\d+)", t)
    host, port = (m.group(1) or default_host, m.group(2)) if m else (default_host, t)
    if not port.isdigit() or int(port) > 65535:
        raise ValueError(f"listen address {text!r}: write HOST:PORT, e.g. "
                         f"127.0.0.1:{DEFAULT_PORT}, or a port number")
    return {"host": host, "port": int(port)}


_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
            500: "Internal Server Error"}
_INDEX = "vforward metrics: GET /metrics (Prometheus text format 0.0.4)\n"


class MetricsServer:
    """HTTP on the running event loop: GET /metrics answers `source()`, a
    function that returns the exposition text (or a coroutine of it).

    Like ControlServer it is a router listener: `bind()` opens the socket at
    once (so a busy port is reported before anything runs), `await start()`
    accepts connections, `close()` ends them."""

    def __init__(self, source, host: str = "127.0.0.1", port: int = DEFAULT_PORT):
        self.source = source
        self.host = host
        self.port = port
        self._sock = None
        self._server = None
        self._tasks: set = set()
        self._closed = False

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def bind(self) -> None:
        if self._sock is not None:
            return
        sock = listen_tcp(self.host, self.port, "metrics")
        self.port = sock.getsockname()[1]
        self._sock = sock

    async def start(self) -> None:
        self.bind()
        self._server = await asyncio.start_server(self._serve, sock=self._sock)

    async def _serve(self, reader, writer) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        try:
            status, body, head_only = await self._answer(reader)
            payload = body.encode("utf-8")
            ctype = CONTENT_TYPE if status == 200 else "text/plain; charset=utf-8"
            head = (f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"
                    f"Content-Type: {ctype}\r\nContent-Length: {len(payload)}\r\n"
                    "Connection: close\r\n\r\n").encode("ascii")
            writer.write(head if head_only else head + payload)
            await writer.drain()
        except (ConnectionError, asyncio.TimeoutError, asyncio.CancelledError):
            pass
        except Exception:   # one bad request must not reach the router
            import traceback
            traceback.print_exc(file=sys.stderr)
        finally:
            self._tasks.discard(task)
            writer.close()

    async def _answer(self, reader) -> tuple[int, str, bool]:
        request = await asyncio.wait_for(reader.readline(), 10.0)
        for _ in range(100):   # the headers: read and ignore
            line = await asyncio.wait_for(reader.readline(), 10.0)
            if line in (b"\r\n", b"\n", b""):
                break
        parts = request.decode("latin-1").split()
        if len(parts) < 2:
            return 400, "bad request\n", False
        method, path = parts[0].upper(), parts[1].split("?", 1)[0]
        if method not in ("GET", "HEAD"):
            return 405, "only GET and HEAD\n", False
        if path == "/":
            return 200, _INDEX, method == "HEAD"
        if path != "/metrics":
            return 404, "not found; metrics are at /metrics\n", method == "HEAD"
        try:
            text = self.source()
            if inspect.isawaitable(text):
                text = await text
        except Exception as e:
            return 500, f"metrics failed: {type(e).__name__}: {e}\n", False
        return 200, text, method == "HEAD"

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.close()
        elif self._sock is not None:
            self._sock.close()
        self._sock = None
        for task in list(self._tasks):
            task.cancel()


def serve_metrics(router_or_group, host: str = "127.0.0.1",
                  port: int = DEFAULT_PORT) -> MetricsServer:
    """Serve a Router's or RouterGroup's metrics at http://HOST:PORT/metrics on
    its event loop.  Binds at once (OSError if it cannot); serving starts
    with the router, or now if its loop is already running.  Returns the
    server (its `.port` is the real one when 0 was asked)."""
    server = MetricsServer(lambda: exposition(router_or_group), host, port)
    server.bind()
    routers = getattr(router_or_group, "routers", None)
    owner = router_or_group if routers is None else next(iter(routers.values()), None)
    if owner is None:
        server.close()
        raise ValueError("serve_metrics: the router group has no routers yet; add them first")
    if owner.loop.is_running():
        owner.loop.create_task(server.start())
    owner.listeners.append(server)   # closed at the router's cleanup
    return server
