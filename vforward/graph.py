"""Build and check an element graph from a parsed configuration.

`build_graph` takes config text, makes each declared element from the class
registry, configures it, counts and checks its ports, resolves push/pull
processing the way Click does (agnostic ports take the kind of what they are
connected to) and wires output ports to input ports.  Every problem becomes
a `GraphError` that names file:line:column and says how to fix it.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from vforward.args import Args, ArgumentError, address_scope, configuring
from vforward.catalogue import element_classes
from vforward.config import Connection, FlatConfig, parse_config, did_you_mean
from vforward.element import (AGNOSTIC_PORT, PULL, PUSH, Element, drop_sink,
                              parse_port_spec, port_processing)

_KIND = {PUSH: "push", PULL: "pull", AGNOSTIC_PORT: "agnostic"}
_INF = 1 << 16


class GraphError(Exception):
    """A graph that cannot run; str() is 'file:line:col: what and how to fix'."""

    def __init__(self, message: str, loc=None):
        self.loc = loc
        self.message = message
        super().__init__(f"{loc}: {message}" if loc is not None else message)


@dataclass
class ElementGraph:
    """Configured, wired elements in declaration order, and how they connect."""
    elements: dict
    connections: list
    flat: FlatConfig
    source_text: str = ""

    def __getitem__(self, name: str) -> Element:
        return self.elements[name]

    def find(self, name: str) -> Element | None:
        return self.elements.get(name)

    def flat_config(self) -> str:
        """The flattened configuration in Click syntax (Click's flatconfig)."""
        lines = [f"{e.name} :: {e.class_name()}({e.config});" for e in self.elements.values()]
        lines += [f"{c.from_name} [{c.from_port}] -> [{c.to_port}] {c.to_name};"
                  for c in self.connections]
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """Graphviz DOT of the graph: one record node per element, ports as edge labels."""
        def q(s):
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        out = ["digraph vforward {", "  rankdir=LR;",
               '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=10];',
               '  edge [fontname="Helvetica", fontsize=8];']
        for e in self.elements.values():
            label = f"{e.name}\\n:: {e.class_name()}"
            color = ', color="#1f6fb2"' if "l" in e.input_processing else ""
            out.append(f"  {q(e.name)} [label={q(label).replace(chr(92) * 2 + 'n', chr(92) + 'n')}{color}];")
        for c in self.connections:
            src, dst = self.elements[c.from_name], self.elements[c.to_name]
            style = "dashed" if src.output_processing[c.from_port] == PULL else "solid"
            label = ""
            if src.n_outputs > 1 or dst.n_inputs > 1:
                label = f', taillabel="{c.from_port}", headlabel="{c.to_port}"'
            out.append(f"  {q(c.from_name)} -> {q(c.to_name)} [style={style}{label}];")
        out.append("}")
        return "\n".join(out) + "\n"


def build_graph(text: str, filename: str = "<config>", defines: dict | None = None) -> ElementGraph:
    """Parse, instantiate, configure, check and wire.  Raises ConfigError or GraphError."""
    flat = parse_config(text, filename, defines)
    classes = element_classes()
    with address_scope() as address_names:
        elements = _configure(flat, classes)
    _check_exclusive(elements)
    _check_opened_devices(elements)
    _count_ports(elements, flat.connections)
    _resolve_processing(elements, flat.connections)
    _check_connections(elements, flat.connections)
    _wire(elements, flat.connections)
    graph = ElementGraph(elements, list(flat.connections), flat, text)
    graph.address_names = address_names     # for handlers that read addresses at run time
    return graph


def _configure(flat: FlatConfig, classes: dict) -> dict:
    """Make and configure every element, in declaration order, except that
    the elements that name things for the others (AddressInfo) go first."""
    elements: dict[str, Element] = {}
    first = [d for d in flat.elements if getattr(classes.get(d.class_name), "CONFIGURE_FIRST", False)]
    for decl in first + [d for d in flat.elements if d not in first]:
        cls = classes.get(decl.class_name)
        if cls is None:
            hint = did_you_mean(decl.class_name, classes)
            tip = f" — did you mean '{hint}'?" if hint else " (run 'vforward elements' for the list)"
            raise GraphError(f"unknown element class '{decl.class_name}'{tip}", decl.loc)
        element = cls(decl.name, decl.config)
        element.location = decl.loc
        try:
            with configuring(decl.loc):
                element.configure(Args(decl.config, where=f"{decl.name} :: {decl.class_name}"))
        except ArgumentError as e:
            error = GraphError(f"{e}{_undefined_variable_hint(str(e), flat)}", decl.loc)
            if getattr(e, "click_lines", None):     # Click's wording, for the click command
                error.click_lines = [f"{decl.loc.file}:{decl.loc.line}: While configuring "
                                     f"'{decl.name} :: {decl.class_name}':", *e.click_lines]
            raise error from None
        elements[decl.name] = element
    return {d.name: elements[d.name] for d in flat.elements}


def _undefined_variable_hint(message: str, flat: FlatConfig) -> str:
    """'; variable '$X' is not defined ...' when an argument error quotes a variable that
    nothing defines (its warning would come too late: the error stops the build)."""
    for warning in flat.warnings:
        var = re.match(r"variable '(\$\w+)' is not defined", warning.message)
        if var and re.search(re.escape(var.group(1)) + r"(?!\w)", message):
            return f"; {warning.message}"
    return ""


def _check_exclusive(elements: dict) -> None:
    """Two elements that claim one exclusive resource (a device, a file) cannot both run."""
    seen = {}
    for e in elements.values():
        claim = getattr(e, "exclusive_resource", None)
        key = claim() if callable(claim) else None
        if key is None:
            continue
        if key in seen:
            other = seen[key]
            raise GraphError(f"'{e.name}' uses {key[0]} {key[1]!r}, which '{other.name}' "
                             f"(at {other.location}) already uses; give each its own", e.location)
        seen[key] = e


def _check_opened_devices(elements: dict) -> None:
    """In `vforward check`: a device an element opens, and that no element of the
    configuration creates, should be in this network namespace."""
    from vforward.host_device_addresses import missing_opened_device, static_check_active
    if not static_check_active():
        return
    created = set()
    for e in elements.values():
        claim = getattr(e, "exclusive_resource", None)
        key = claim() if callable(claim) else None
        if key is not None and key[0] == "device":
            created.add(key[1])
    for e in elements.values():
        opened = e.opened_device()
        if opened is None or opened[0] in created:
            continue
        message = missing_opened_device(*opened, f"{e.name} :: {e.class_name()}", e.location)
        if message is not None:
            raise GraphError(message, e.location)


def _count_ports(elements: dict, connections: list[Connection]) -> None:
    used_in: dict[str, int] = {n: 0 for n in elements}
    used_out: dict[str, int] = {n: 0 for n in elements}
    for c in connections:
        used_out[c.from_name] = max(used_out[c.from_name], c.from_port + 1)
        used_in[c.to_name] = max(used_in[c.to_name], c.to_port + 1)
    for name, e in elements.items():
        (ilo, ihi), ospec = parse_port_spec(_port_spec(e))
        n_in = max(ilo, used_in[name])
        if n_in > ihi:
            c = _first(connections, lambda c: c.to_name == name and c.to_port >= ihi)
            raise GraphError(f"'{name}' has no input {c.to_port}: {e.class_name()} takes "
                             f"{_range_text(ilo, ihi, 'input')}", c.loc)
        if ospec == "=":
            olo = ohi = n_in
        else:
            olo, ohi = ospec
        n_out = max(olo, used_out[name])
        if n_out > ohi:
            c = _first(connections, lambda c: c.from_name == name and c.from_port >= ohi)
            raise GraphError(f"'{name}' has no output {c.from_port}: {e.class_name()} has "
                             f"{_range_text(olo, ohi, 'output')}", c.loc)
        e.n_inputs, e.n_outputs = n_in, n_out
        e._max_outputs = ohi


def _port_spec(e: Element) -> str:
    spec = e.port_spec() if hasattr(e, "port_spec") else e.PORTS
    return spec


def _range_text(lo: int, hi: int, what: str) -> str:
    if hi >= _INF:
        return f"{lo} or more {what}s"
    if lo == hi:
        return f"{lo} {what}{'s' if lo != 1 else ''}"
    return f"{lo} to {hi} {what}s"


def _first(items, pred):
    return next(x for x in items if pred(x))


def _resolve_processing(elements: dict, connections: list[Connection]) -> None:
    for e in elements.values():
        code = e.processing_code() if hasattr(e, "processing_code") else e.PROCESSING
        e.input_processing, e.output_processing = port_processing(code, e.n_inputs, e.n_outputs)
    # Agnostic ports of one element resolve together; spread kinds along connections.
    changed = True
    while changed:
        changed = False
        for c in connections:
            src, dst = elements[c.from_name], elements[c.to_name]
            o, i = src.output_processing[c.from_port], dst.input_processing[c.to_port]
            if o == AGNOSTIC_PORT and i != AGNOSTIC_PORT:
                _settle(src, i)
                changed = True
            elif i == AGNOSTIC_PORT and o != AGNOSTIC_PORT:
                _settle(dst, o)
                changed = True
    for e in elements.values():
        if AGNOSTIC_PORT in e.input_processing or AGNOSTIC_PORT in e.output_processing:
            _settle(e, PUSH)   # unconnected agnostic elements default to push, as in Click


def _settle(e: Element, kind: str) -> None:
    e.input_processing = [kind if k == AGNOSTIC_PORT else k for k in e.input_processing]
    e.output_processing = [kind if k == AGNOSTIC_PORT else k for k in e.output_processing]


def _check_connections(elements: dict, connections: list[Connection]) -> None:
    push_out: dict = {}
    pull_in: dict = {}
    for c in connections:
        src, dst = elements[c.from_name], elements[c.to_name]
        o, i = src.output_processing[c.from_port], dst.input_processing[c.to_port]
        if o != i:
            fix = "put a Queue between them" if o == PUSH else "put an Unqueue between them"
            raise GraphError(f"{_KIND[o]} output {c.from_port} of '{src.name}' is connected to "
                             f"{_KIND[i]} input {c.to_port} of '{dst.name}'; {fix}", c.loc)
        if o == PUSH:
            key = (c.from_name, c.from_port)
            if key in push_out:
                raise GraphError(f"push output {c.from_port} of '{src.name}' is connected more "
                                 f"than once (also at {push_out[key].loc}); use a Tee to copy "
                                 "packets to several places", c.loc)
            push_out[key] = c
        else:
            key = (c.to_name, c.to_port)
            if key in pull_in:
                raise GraphError(f"pull input {c.to_port} of '{dst.name}' is connected more "
                                 f"than once (also at {pull_in[key].loc}); pull from one "
                                 "upstream only, or merge with a push-side element", c.loc)
            pull_in[key] = c
    connected_out = {(c.from_name, c.from_port) for c in connections}
    connected_in = {(c.to_name, c.to_port) for c in connections}
    for e in elements.values():
        for p in range(e.n_inputs):
            if (e.name, p) not in connected_in:
                raise GraphError(f"input {p} of '{e.name}' ({e.class_name()}) is not connected; "
                                 f"connect something to {e.name if p == 0 else f'[{p}]{e.name}'}",
                                 e.location)
        for p in range(e.n_outputs):
            if (e.name, p) not in connected_out:
                raise GraphError(f"output {p} of '{e.name}' ({e.class_name()}) is not connected; "
                                 f"connect {e.name if p == 0 else f'{e.name}[{p}]'} to something "
                                 "(a Discard, if its packets are not wanted)", e.location)


def _wire(elements: dict, connections: list[Connection]) -> None:
    for e in elements.values():
        # Optional outputs past the connected ones drop what is sent there.
        n = max(e.n_outputs, min(e._max_outputs, 16))
        e._out_push = [drop_sink] * n
        e._out_port = [0] * n
        e._out_target = [None] * n     # per push output: (element, input port) it is connected to
        e._in_pull = [None] * e.n_inputs
        e._in_port = [0] * e.n_inputs
    for c in connections:
        src, dst = elements[c.from_name], elements[c.to_name]
        if src.output_processing[c.from_port] == PUSH:
            src._out_target[c.from_port] = (dst, c.to_port)
        else:
            dst._in_pull[c.to_port] = src.pull
            dst._in_port[c.to_port] = c.from_port
    members = list(elements.values())

    def rewire():
        connect_pushes(members)
    for e in members:
        e._rewire = rewire
    connect_pushes(members)


def connect_pushes(elements) -> None:
    """Point every push output at the first element downstream that does work
    on its packets, past those that are pass-throughs in their present state
    (Element.passthrough), or at that element's fused path when it offers one
    (Element.fused_push); runs again whenever one of them says its state
    changed (Element.passthrough_changed)."""
    fused = fusion_enabled()
    for e in elements:
        for p, target in enumerate(e._out_target):
            if target is None:
                continue
            if fused:
                e._out_push[p], e._out_port[p] = _fused_link_push(*target)
                continue
            dst, port, tallies = _first_working(*target)
            e._out_push[p] = _tallying_push(dst, dst.push, tallies) if tallies else dst.push
            e._out_port[p] = port


def fusion_enabled() -> bool:
    """Fused paths are on unless VFORWARD_NO_FUSION=1 (to compare, or to debug)."""
    return os.environ.get("VFORWARD_NO_FUSION", "") not in ("1", "yes", "true")


def _resolve(element: Element, out: int):
    """(element, input) that `element`'s push output `out` reaches first, past
    pass-throughs that keep no counts; None when unconnected or counted."""
    target = element._out_target[out] if out < len(element._out_target) else None
    if target is None:
        return None
    dst, port, tallies = _first_working(*target)
    return None if tallies else (dst, port)


def _first_working(dst: Element, port: int):
    """The element and input port that a packet sent to `dst`'s input `port`
    reaches first past pass-throughs, and the tallies of those it skips."""
    tallies = []
    seen = set()
    while (id(dst), port) not in seen:
        seen.add((id(dst), port))
        out = dst.passthrough(port)
        if out is None or out >= len(dst._out_target) or dst._out_target[out] is None:
            break
        if dst.TALLY_WHEN_SKIPPED:
            tallies.append(dst.tally)
        dst, port = dst._out_target[out]
    return dst, port, tallies


def _fused_link_push(first: Element, first_port: int):
    """(push, port) for a push into `first`'s input `first_port` with fusion on:
    past pass-throughs and the frames a LinkProbe lets by (passthrough_except),
    into the first working element's fused path or push; the skipped elements'
    counts kept by one compiled LinkStep (cext/ipforward)."""
    dst, port = first, first_port
    skipped, ethertypes = [], []
    seen = set()
    while (id(dst), port) not in seen:
        seen.add((id(dst), port))
        out, ethertype = dst.passthrough(port), None
        if out is None:
            guarded = dst.passthrough_except(port)
            if guarded is None or len(ethertypes) == 4:
                break
            out, ethertype = guarded
        if out >= len(dst._out_target) or dst._out_target[out] is None:
            break
        if ethertype is not None:
            ethertypes.append(ethertype)
        if dst.TALLY_WHEN_SKIPPED:
            skipped.append(dst)
        dst, port = dst._out_target[out]
    push = dst.fused_push(port, _resolve) or dst.push
    if not skipped and not ethertypes:
        return push, port
    fields = [(e, attr, kind == "bytes") for e in skipped for attr, kind in e.TALLY_FIELDS]
    tallies = [e.tally for e in skipped if not e.TALLY_FIELDS]
    return _ipforward().LinkStep(push, port, first.push, first_port, fields, tallies,
                                 ethertypes, dst), port


def _ipforward():
    from vforward import kernels
    return kernels.load("ipforward")


def _tallying_push(dst: Element, push, tallies: list):
    """push, after counting the batch at the skipped elements that keep counts."""
    if len(tallies) == 1:
        tally = tallies[0]

        def skip(port, batch):
            tally(batch)
            push(port, batch)
    else:
        def skip(port, batch):
            for tally in tallies:
                tally(batch)
            push(port, batch)
    skip.target = dst
    return skip
