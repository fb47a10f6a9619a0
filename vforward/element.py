"""The Element base class: ports, processing, handlers and the class registry.

An element declares its ports and processing the way Click does:

    class Counter(Element):
        '''Counter() -- count packets and bytes ... (the manual page)'''
        PORTS = "1/1"          # inputs/outputs: "1/1-2", "0/1", "1/-" (any), "1/=" (same)
        PROCESSING = AGNOSTIC  # "h/h" push, "l/l" pull, "a/a" agnostic, "h/l" ...

        def process(self, batch):      # one call per batch, like simple_action
            self.count += len(batch)
            return batch

        @read_handler("count")
        def read_count(self):
            return self.count

Every concrete subclass registers itself under its class name (or CLASS_NAME),
which is the name configs use.
"""
from __future__ import annotations

import inspect
import re

from vforward.args import Args
from vforward.packet import Batch

PUSH, PULL, AGNOSTIC_PORT = "h", "l", "a"
AGNOSTIC = "a/a"
PUSH_ONLY = "h/h"
PULL_ONLY = "l/l"
PUSH_TO_PULL = "h/l"
PULL_TO_PUSH = "l/h"

ELEMENT_CLASSES: dict[str, type["Element"]] = {}


class ElementError(Exception):
    """A configured element cannot start or go on (a missing file, a device
    that cannot be opened); the message names the element and the fix."""


class HandlerError(Exception):
    """A handler refused its input; the message goes back to the caller."""


def read_handler(name: str):
    """Mark a method as read handler `name`: f(self) or f(self, arg) -> value."""
    def mark(fn):
        fn._handler_marks = getattr(fn, "_handler_marks", ()) + (("read", name),)
        return fn
    return mark


def write_handler(name: str):
    """Mark a method as write handler `name`: f(self, value: str) -> None."""
    def mark(fn):
        fn._handler_marks = getattr(fn, "_handler_marks", ()) + (("write", name),)
        return fn
    return mark


class Handler:
    """A named read and/or write entry point of an element."""

    __slots__ = ("name", "read", "write", "read_takes_arg")

    def __init__(self, name):
        self.name = name
        self.read = self.write = None
        self.read_takes_arg = False

    def flags(self) -> str:
        return ("r" if self.read else "") + ("w" if self.write else "")


def _parse_port_range(text: str, what: str) -> tuple[int, int]:
    """'1' -> (1,1); '1-2' -> (1,2); '-' -> (0, inf); '1-' -> (1, inf)."""
    inf = 1 << 16
    if text == "-":
        return 0, inf
    m = re.fullmatch(r"(\d+)(?:-(\d*))?", text)
    if not m:
        raise ValueError(f"bad {what} port count {text!r}")
    lo = int(m.group(1))
    if m.group(2) is None:
        return lo, lo
    return lo, int(m.group(2)) if m.group(2) else inf


def parse_port_spec(spec: str) -> tuple[tuple[int, int], tuple[int, int] | str]:
    """Click's port count code: "1/1-2" -> ((1,1), (1,2)); "1/=" keeps '='."""
    ins, _, outs = spec.partition("/")
    i = _parse_port_range(ins, "input")
    o = "=" if outs == "=" else _parse_port_range(outs or ins, "output")
    return i, o


def port_processing(code: str, n_in: int, n_out: int) -> tuple[list[str], list[str]]:
    """Expand a processing code like "a/ah" into per-port letters (last letter repeats)."""
    ins, _, outs = code.partition("/")
    outs = outs or ins

    def expand(letters, n):
        return [letters[min(i, len(letters) - 1)] for i in range(n)] if letters else ["a"] * n
    return expand(ins, n_in), expand(outs, n_out)


class Element:
    """Base of every element.  Subclasses set PORTS and PROCESSING and override
    `process` (one batch in, one batch or None out), or `push` / `pull`."""

    PORTS = "1/1"
    PROCESSING = AGNOSTIC
    CLASS_NAME: str | None = None   # registry name when it differs from __name__
    ABSTRACT = False                # True for bases that configs must not name
    # Bytes of pool slot the element needs (set in configure); the router
    # sizes its pool for the largest (a device with offloads needs 64 KB).
    slot_size_needed = 0

    _handler_table: dict[str, Handler] = {}

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        table = {}
        for base in reversed(cls.__mro__[1:]):
            table.update(getattr(base, "_handler_table", {}))
        table = {k: _copy_handler(h) for k, h in table.items()}
        for hname, own in _own_handlers(cls).items():
            h = table.setdefault(hname, Handler(hname))
            if own.read:
                h.read, h.read_takes_arg = own.read, own.read_takes_arg
            if own.write:
                h.write = own.write
        cls._handler_table = table
        if not cls.__dict__.get("ABSTRACT", False) and not cls.__name__.startswith("_"):
            register(cls)

    def __init__(self, name: str = "", config: str = ""):
        self.name = name or f"{self.class_name()}@0"
        self.config = config
        self.router = None
        self.n_inputs = 0
        self.n_outputs = 0
        self.input_processing: list[str] = []
        self.output_processing: list[str] = []
        # push fast path: per output port, the downstream element's push and its port
        self._out_push: list = []
        self._out_port: list[int] = []
        # pull path: per input port, the upstream element's pull and its port
        self._in_pull: list = []
        self._in_port: list[int] = []
        self.location = None   # config Location, set by the graph builder

    # -- identity ---------------------------------------------------------
    @classmethod
    def class_name(cls) -> str:
        return cls.CLASS_NAME or cls.__name__

    @classmethod
    def manual(cls) -> str:
        """The element's manual page (its docstring)."""
        return inspect.cleandoc(cls.__doc__ or f"{cls.class_name()} -- (no manual page)")

    def __repr__(self):
        return f"<{self.class_name()} {self.name}>"

    # -- life cycle (override) ----------------------------------------------
    def configure(self, args: Args) -> None:
        """Read arguments; the default accepts none."""
        args.finish()

    def opened_device(self) -> tuple[str, str | None] | None:
        """(device name, network namespace or None) of a host device this element opens
        and does not create, for `vforward check` to look up; None for most elements."""
        return None

    def initialize(self) -> None:
        """Called once the graph is wired and self.router is set: open devices, start tasks."""

    def cleanup(self) -> None:
        """Called at shutdown: flush files, release devices."""

    # -- packet flow ------------------------------------------------------
    def process(self, batch: Batch) -> Batch | None:
        """Per-batch action for 1-in/1-out elements (Click's simple_action)."""
        return batch

    def push(self, port: int, batch: Batch) -> None:
        out = self.process(batch)
        if out is not None and len(out.idx):
            self._out_push[0](self._out_port[0], out)

    def pull(self, port: int, max_n: int) -> Batch | None:
        batch = self._in_pull[0](self._in_port[0], max_n)
        if batch is None:
            return None
        out = self.process(batch)
        return out if out is not None and len(out.idx) else None

    def emit(self, port: int, batch: Batch) -> None:
        """Push a batch out of output `port`; empty batches are not sent.
        Sending to an output the config left unconnected drops the packets."""
        if len(batch.idx):
            self._out_push[port](self._out_port[port], batch)

    def emit_or_drop(self, port: int, batch: Batch) -> int:
        """Like emit, but a port beyond the connected ones drops the packets;
        returns how many were dropped, for the element's drop counter."""
        if port < self.n_outputs:
            self.emit(port, batch)
            return 0
        n = len(batch.idx)
        if n:
            batch.kill()
        return n

    def pull_input(self, port: int, max_n: int) -> Batch | None:
        return self._in_pull[port](self._in_port[port], max_n)

    # -- pass-through: the graph skips an element whose push is the identity --
    # An element that often does nothing to its packets (a Capture with no
    # capture running, a LinkEmulator with no condition set) says so here, and
    # the graph connects its upstream straight to its downstream: an idle
    # packet then pays no Python call for it.  Counts it keeps while skipped
    # come from `tally`, which the graph calls once per batch that would have
    # crossed it (only for classes that set TALLY_WHEN_SKIPPED).
    TALLY_WHEN_SKIPPED = False

    def passthrough(self, port: int) -> int | None:
        """The output that push input `port` hands its packets to unchanged,
        with no effect beyond `tally`, in the element's present state; None
        while it does work on them (the default)."""
        return None

    def tally(self, batch: Batch) -> None:
        """Count `batch` as having crossed this element while the graph skips it."""

    # What `tally` adds to, as (attribute, "packets" | "bytes") pairs: a fused
    # push across skipped elements (cext/ipforward's LinkStep) adds to them in
    # compiled code instead of calling tally.  Empty: tally is called.
    TALLY_FIELDS: tuple = ()

    def passthrough_except(self, port: int) -> tuple[int, int] | None:
        """(output, EtherType) when push input `port` hands every frame to that
        output unchanged but frames of that EtherType (bytes 12-13), which it
        acts on; None (the default) otherwise.  A fused push skips the element
        for a batch with no such frame and gives any other batch to its push."""
        return None

    def fused_push(self, port: int, resolve):
        """A compiled stand-in for pushing into input `port` and the chain of
        elements behind it (elements/ip/fusedforward.py), or None (the
        default).  resolve(element, output) -> (element, input) reached
        first from that output, or None when the way does any work."""
        return None

    def passthrough_changed(self) -> None:
        """The answer of `passthrough` may have changed (a handler write, a capture
        started, packets held or drained): the graph reconnects the pushes around
        this element from the next batch on."""
        rewire = getattr(self, "_rewire", None)
        if rewire is not None:
            rewire()

    # -- handlers ---------------------------------------------------------
    @classmethod
    def handler_table(cls) -> dict[str, Handler]:
        return cls._handler_table

    def handlers(self) -> dict[str, Handler]:
        return self._handler_table

    @read_handler("name")
    def _h_name(self):
        return self.name

    @read_handler("class")
    def _h_class(self):
        return self.class_name()

    @read_handler("config")
    def _h_config(self):
        return self.config

    @read_handler("ports")
    def _h_ports(self):
        ins = ", ".join(self.input_processing) or "none"
        outs = ", ".join(self.output_processing) or "none"
        return f"{self.n_inputs} input{'s' if self.n_inputs != 1 else ''}: {ins}\n" \
               f"{self.n_outputs} output{'s' if self.n_outputs != 1 else ''}: {outs}"

    @read_handler("handlers")
    def _h_handlers(self):
        return "\n".join(f"{n}\t{h.flags()}" for n, h in sorted(self.handlers().items()))

    def read(self, handler: str, arg: str | None = None) -> str:
        """Call read handler `handler`; KeyError if there is none."""
        h = self.handlers().get(handler)
        if h is None or h.read is None:
            raise KeyError(handler)
        value = h.read(self, arg) if h.read_takes_arg else h.read(self)
        return format_value(value)

    def write(self, handler: str, value: str = "") -> None:
        h = self.handlers().get(handler)
        if h is None or h.write is None:
            raise KeyError(handler)
        h.write(self, value)


def _own_handlers(cls) -> dict[str, Handler]:
    """The handlers marked in cls's own body."""
    table: dict[str, Handler] = {}
    for attr in cls.__dict__.values():
        for kind, hname in getattr(attr, "_handler_marks", ()):
            h = table.setdefault(hname, Handler(hname))
            if kind == "read":
                h.read = attr
                h.read_takes_arg = len(inspect.signature(attr).parameters) > 1
            else:
                h.write = attr
    return table


def _copy_handler(h: Handler) -> Handler:
    c = Handler(h.name)
    c.read, c.write, c.read_takes_arg = h.read, h.write, h.read_takes_arg
    return c


def format_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def register(cls: type[Element]) -> None:
    """Make `cls` available to configs under its class name.  A different class
    taking a name already used is almost always a mistake, so it warns."""
    name = cls.class_name()
    old = ELEMENT_CLASSES.get(name)
    if old is not None and old is not cls and (old.__module__, old.__qualname__) != \
            (cls.__module__, cls.__qualname__):
        import warnings
        warnings.warn(f"element class {name} from {cls.__module__} replaces the one from "
                      f"{old.__module__}", stacklevel=3)
    ELEMENT_CLASSES[name] = cls


# The base class's own handlers (name, class, config, ports, handlers):
# __init_subclass__ does not run for Element itself.
Element._handler_table = _own_handlers(Element)


def drop_sink(port: int, batch: Batch) -> None:
    """Stands in for an unconnected optional output: drops what is sent there."""
    batch.kill()
