"""A scenario file: what to measure the whole time, and what to do when.

    measure:
      - ping: {from: h1, to: h2, interval: 10ms}
      - ping: {from: h1, to: h2, family: ipv6}
      - iperf3: {from: h1, to: h2, protocol: tcp, interval: 100ms}
      - sense: {pairs: [[r1, r3]], interval: 1s}
    events:
      - at: 10s
        link: {endpoint: r2:eth2, state: down}
    duration: 30s

ping and iperf3 run over IPv4, or over IPv6 with `family: ipv6` (or an
IPv6 address as ping's `to`), aimed at the node's IPv6 address as validate
checks are; an IPv6 pair's series carry the target as 'h2/ipv6', so one run
can measure both families of a pair.

Reading it (`load_scenario`) checks the file alone and names file:line for
every mistake; `check_against` then checks the names it uses against a lab.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from vforward.args import ArgumentError, seconds
from vforward.config.errors import did_you_mean
from vforward.topo.yamlsource import LocatedDict, LocatedList, TopologyYAMLError, load_located


class ScenarioError(ValueError):
    """A scenario the user must fix; the message starts with file:line."""


MEASURE_KEYS = {
    "ping": ("from", "to", "interval", "family"),
    "iperf3": ("from", "to", "protocol", "interval", "rate", "port", "family"),
    "sense": ("pairs", "interval", "count", "train"),
}
EVENT_KEYS = {
    "link": ("endpoint", "state"),
    "impair": ("endpoint", "delay", "jitter", "loss", "rate", "queue", "reset"),
    "route": ("node", "add", "del", "via"),
    "flow": ("add", "del", "match", "path"),
    "node": ("name", "action"),
    "exec": ("node", "command", "wait", "timeout"),
    "reconfigure": ("node", "config"),
}
TOP_KEYS = ("measure", "events", "duration")
# A lab file may carry its own scenario: its topology keys are left to the lab.
LAB_KEYS = ("name", "topology", "defaults", "validate", "addressing", "hosts", "routing")


@dataclass
class Measurement:
    kind: str                      # ping | iperf3 | sense
    args: dict
    where: str
    interval: float = 1.0

    @property
    def label(self) -> str:
        if self.kind == "sense":
            return "sense " + ",".join(f"{a}:{b}" for a, b in self.args["pairs"])
        six = " (ipv6)" if self.args.get("family") == "ipv6" else ""
        return f"{self.kind} {self.args['from']}->{self.args['to']}{six}"


@dataclass
class Event:
    at: float                      # seconds from the start of the run
    kind: str
    args: dict
    where: str
    index: int = 0

    @property
    def label(self) -> str:
        a = self.args
        if self.kind == "link":
            return f"link {a['endpoint']} {a['state']}"
        if self.kind == "impair":
            return "impair " + a["endpoint"] + " " + " ".join(
                f"{k} {v}" for k, v in a.items() if k != "endpoint")
        if self.kind == "route":
            return (f"route {a['node']} add {a['add']} via {a['via']}" if "add" in a
                    else f"route {a['node']} del {a['del']}")
        if self.kind == "flow":
            return (f"flow add {a['add']} path {','.join(a['path'])}" if "add" in a
                    else f"flow del {a['del']}")
        if self.kind == "node":
            return f"node {a['name']} {a['action']}"
        if self.kind == "exec":
            return f"exec {a['node']}: {a['command']}"
        return f"reconfigure {a['node']} {a['config']}"


@dataclass
class Scenario:
    path: str
    duration: float
    measurements: list = field(default_factory=list)
    events: list = field(default_factory=list)


def _err(where: str, message: str) -> ScenarioError:
    return ScenarioError(f"{where}: {message}")


def _unknown_key(d: LocatedDict, key, allowed, what: str) -> ScenarioError:
    hint = did_you_mean(str(key), allowed)
    tip = f"; did you mean '{hint}'?" if hint else f"; known: {', '.join(allowed)}"
    return _err(d.where(key), f"unknown {what} '{key}'{tip}")


def _time(value, where: str, what: str) -> float:
    try:
        t = float(value) if isinstance(value, (int, float)) else seconds(str(value))
    except ArgumentError as e:
        raise _err(where, f"{what}: {e}") from None
    if t < 0:
        raise _err(where, f"{what} must not be negative, got {value!r}")
    return t


def _one_kind(item, where: str, kinds: dict, what: str, skip=()) -> tuple[str, LocatedDict]:
    """The single kind key of a measure or event item, and its mapping."""
    if not isinstance(item, dict):
        raise _err(where, f"each {what} is a mapping such as "
                          f"'- {next(iter(kinds))}: {{...}}'")
    keys = [k for k in item if k not in skip]
    for k in keys:
        if k not in kinds:
            raise _unknown_key(item, k, list(kinds) + list(skip), f"{what} kind")
    if len(keys) != 1:
        raise _err(item.where(), f"each {what} does exactly one thing: one of "
                                 f"{', '.join(kinds)} (this one has "
                                 f"{', '.join(map(str, keys)) or 'none'})")
    kind = keys[0]
    body = item[kind]
    if not isinstance(body, dict):
        raise _err(item.where(kind), f"{kind}: expected a mapping such as "
                                     f"{{{', '.join(k + ': ...' for k in kinds[kind][:2])}}}")
    for k in body:
        if k not in kinds[kind]:
            raise _unknown_key(body, k, kinds[kind], f"{kind} key")
    return kind, body


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _need(body: LocatedDict, key: str, kind: str):
    if key not in body or body[key] is None:
        raise _err(body.where(), f"{kind} needs '{key}'")
    return body[key]


def _measurement(item, where: str) -> Measurement:
    kind, body = _one_kind(item, where, MEASURE_KEYS, "measurement")
    args = dict(body)
    default = {"ping": 0.2, "iperf3": 0.5, "sense": 1.0}[kind]
    interval = _time(body.get("interval", default), body.where("interval"), "interval")
    if kind == "ping" and interval < 0.002:
        raise _err(body.where("interval"), "ping interval must be at least 2ms")
    if kind == "iperf3" and interval < 0.1:
        raise _err(body.where("interval"), "iperf3 reports at most every 100ms; "
                                           "give an interval of 100ms or more")
    if kind in ("ping", "iperf3"):
        for key in ("from", "to"):
            args[key] = str(_need(body, key, kind))
        family = str(body.get("family", "ipv6" if ":" in args["to"] else "ipv4"))
        if family not in ("ipv4", "ipv6"):
            raise _err(body.where("family"), f"family must be ipv4 or ipv6, not '{family}'")
        args["family"] = family
    if kind == "iperf3":
        proto = str(body.get("protocol", "tcp"))
        if proto not in ("tcp", "udp"):
            raise _err(body.where("protocol"), f"protocol must be tcp or udp, not '{proto}'")
        args["protocol"] = proto
    if kind == "sense":
        pairs = _need(body, "pairs", kind)
        if not isinstance(pairs, list) or not pairs:
            raise _err(body.where("pairs"), "pairs is a list of [a, b] node pairs, "
                                            "such as [[r1, r3]]")
        args["pairs"] = []
        for i, p in enumerate(pairs):
            if isinstance(p, str) and ":" in p:
                p = p.split(":")
            if not isinstance(p, list) or len(p) != 2:
                w = pairs.where(i) if isinstance(pairs, LocatedList) else body.where("pairs")
                raise _err(w, f"pair {p!r} must name two nodes, as [r1, r3] or 'r1:r3'")
            args["pairs"].append((str(p[0]), str(p[1])))
    return Measurement(kind, args, item.where(kind), interval)


def _event(item, where: str, index: int) -> Event:
    if isinstance(item, dict) and "at" not in item:
        raise _err(item.where(), "each event needs 'at', the time from the start "
                                 "(such as 'at: 10s')")
    kind, body = _one_kind(item, where, EVENT_KEYS, "event", skip=("at",))
    at = _time(item["at"], item.where("at"), "at")
    args = dict(body)
    w = item.where(kind)
    if kind in ("link", "impair"):
        _need(body, "endpoint", kind)
        args["endpoint"] = str(body["endpoint"])
    if kind == "link":
        state = str(_need(body, "state", kind))
        if state not in ("up", "down"):
            raise _err(body.where("state"), f"state must be up or down, not '{state}'")
    elif kind == "impair" and len(body) < 2:
        raise _err(w, "impair needs a condition: delay, jitter, loss, rate, queue or reset")
    elif kind == "route":
        _need(body, "node", kind)
        if ("add" in body) == ("del" in body):
            raise _err(w, "route does one of 'add: PREFIX' (with 'via') or 'del: PREFIX'")
        if "add" in body:
            _need(body, "via", kind)
    elif kind == "flow":
        if ("add" in body) == ("del" in body):
            raise _err(w, "flow does one of 'add: NAME' (with 'match' and 'path') or 'del: NAME'")
        if "add" in body:
            _need(body, "match", kind)
            path = _need(body, "path", kind)
            if isinstance(path, str):
                path = path.split(",")
            if not isinstance(path, list) or len(path) < 2:
                raise _err(body.where("path"), "path lists two or more routers, "
                                               "such as [r1, r4, r3]")
            args["path"] = [str(p).strip() for p in path]
    elif kind == "node":
        _need(body, "name", kind)
        action = str(body.get("action", "restart"))
        if action != "restart":
            raise _err(body.where("action"), f"node action must be restart, not '{action}'")
        args["action"] = action
    elif kind == "exec":
        _need(body, "node", kind)
        _need(body, "command", kind)
        args["wait"] = bool(body.get("wait", False))
        args["timeout"] = _time(body.get("timeout", 30), body.where("timeout"), "timeout")
    elif kind == "reconfigure":
        _need(body, "node", kind)
        _need(body, "config", kind)
    return Event(at, kind, args, w, index)


def parse_scenario(text: str, path: str = "<scenario>") -> Scenario:
    try:
        doc = load_located(text, path)
    except TopologyYAMLError as e:
        raise ScenarioError(str(e)) from None
    if not isinstance(doc, dict):
        raise _err(f"{path}:1", "a scenario is a mapping with 'measure:', 'events:' "
                                "and 'duration:'")
    in_lab = "topology" in doc
    for key in doc:
        if key not in TOP_KEYS and not (in_lab and key in LAB_KEYS):
            raise _unknown_key(doc, key, TOP_KEYS, "key")
    if "duration" not in doc:
        raise _err(doc.where(), "the scenario needs a 'duration' (such as 'duration: 30s')" +
                   (": this lab file has no scenario (measure:, events:, duration:)"
                    if in_lab else ""))
    duration = _time(doc["duration"], doc.where("duration"), "duration")
    measure = doc.get("measure") or []
    events = doc.get("events") or []
    for key, value in (("measure", measure), ("events", events)):
        if not isinstance(value, list):
            raise _err(doc.where(key), f"'{key}' is a list of '- ...' items")
    sc = Scenario(path, duration)
    for i, item in enumerate(measure):
        sc.measurements.append(_measurement(item, measure.where(i)))
    for i, item in enumerate(events):
        ev = _event(item, events.where(i), i)
        if ev.at > duration:
            raise _err(item.where("at"), f"event at {ev.at:g}s is after the end of the run "
                                         f"(duration {duration:g}s)")
        sc.events.append(ev)
    sc.events.sort(key=lambda e: (e.at, e.index))
    return sc


def load_scenario(path: str) -> Scenario:
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise ScenarioError(f"cannot read scenario file {path}: {e.strerror}") from None
    return parse_scenario(text, path)


def check_against(sc: Scenario, lab) -> None:
    """Every node, router and interface the scenario names exists in the lab."""
    routers = [n.name for n in lab.routers()]
    interfaces = [i.ref for n in lab.nodes.values() for i in n.interfaces.values()]

    def node(name, where, among=None, what="node"):
        among = list(lab.nodes) if among is None else among
        if name not in among:
            hint = did_you_mean(name, among)
            raise _err(where, f"lab {lab.name} has no {what} '{name}'" +
                       (f"; did you mean '{hint}'?" if hint else f" ({what}s: {', '.join(among)})"))
    for m in sc.measurements:
        if m.kind == "sense":
            for a, b in m.args["pairs"]:
                node(a, m.where)
                node(b, m.where)
        else:
            node(m.args["from"], m.where)
            if m.kind == "iperf3" or not _is_address(m.args["to"]):
                node(m.args["to"], m.where)
            if m.args["family"] == "ipv6":
                for end in (m.args["from"], m.args["to"]):
                    if end in lab.nodes and not lab.nodes[end].ipv6:
                        raise _err(m.where, f"{m.kind} over IPv6: node {end} of lab {lab.name} "
                                            "has no IPv6; add 'ipv6: true' to it or at the "
                                            "top of the lab file")
    for ev in sc.events:
        a = ev.args
        if ev.kind in ("link", "impair"):
            node(a["endpoint"], ev.where, interfaces, "interface")
        elif ev.kind in ("route", "reconfigure"):
            node(str(a["node"]), ev.where, routers, "router")
        elif ev.kind == "flow" and "add" in a:
            for r in a["path"]:
                node(r, ev.where, routers, "router")
        elif ev.kind == "node":
            node(str(a["name"]), ev.where)
        elif ev.kind == "exec":
            node(str(a["node"]), ev.where)
