"""FlowRoutes: per-flow next hops, consulted ahead of the route table."""
from __future__ import annotations

import numpy as np

from vforward.args import unquote
from vforward.element import PUSH_ONLY, Element, HandlerError, read_handler, write_handler

from vforward.elements.ip.ipfilter_compile import compile_rules
from vforward.elements.ip.ipfilter_language import PatternError, parse_pattern
from vforward.elements.ip.iproutetable import IPV4, RouteError, _gateway, _ntoa, _output


class FlowRoutes(Element):
    """FlowRoutes -- send chosen flows to a pinned next hop ahead of the route table

    Ports: 1 input; output 0 and outputs 1..N; push.

    Holds named flows, each an IPClassifier pattern with a next hop
    (GATEWAY, OUTPUT).  A packet that matches a flow's pattern (the first in
    the order they were added) gets GATEWAY as its destination address
    annotation, as a route lookup would set it, and leaves by output 1 +
    OUTPUT; every other packet leaves by output 0 untouched, toward the
    router's route table.  Put it in front of the table, and connect output
    1 + P to what the table's output P leads to: a flow then takes the next
    hop it was given while the table's routes keep serving every other
    packet.

    Flows are added and removed at run time through the handlers; a change
    holds from the next batch on.  With no flows, the graph skips the
    element: packets go straight to what output 0 leads to.  Input packets must have their IP header
    annotation set (CheckIPHeader or MarkIPHeader).

      flows :: FlowRoutes;
      ... -> DecIPTTL -> flows -> rt;
      flows[1] -> [the path of rt[0]];
      flows[2] -> [the path of rt[1]];
      // then: WRITE flows.add video 10.0.0.2 1 udp and dst port 5004

    Handlers:
      add (write)      'NAME GATEWAY OUTPUT PATTERN': add a flow (GATEWAY
                       '-' for none: the destination itself is the next
                       hop); a name in use is refused
      set (write)      the same, replacing a flow of that name if there is one
      remove (write)   'NAME': remove a flow
      flows (read)     one line per flow: NAME, GATEWAY, OUTPUT, packets
                       sent so far, PATTERN (tab-separated)
      count (read)     packets sent to a pinned next hop
    """
    PORTS = "1/1-"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        args.finish()
        self.flows: dict[str, tuple[str, int, int, object]] = {}   # name -> (pattern, gw, port, tree)
        self.packets: dict[str, int] = {}
        self.count = 0
        self._compile()

    def _compile(self) -> None:
        entries = list(self.flows.values())
        self._names = list(self.flows)
        self._compiled = compile_rules([tree for *_, tree in entries]) if entries else None
        # Per rule number (and one more for 'no flow'): output and gateway.
        self._out = np.array([1 + port for _, _, port, _ in entries] + [0], dtype=np.intp)
        self._gw = np.array([gw for _, gw, _, _ in entries] + [0], dtype=np.uint32)
        self.passthrough_changed()

    def passthrough(self, port):
        return 0 if self._compiled is None else None

    def push(self, port, batch):
        if self._compiled is None or not len(batch.idx):
            self.emit(0, batch)
            return
        idx = batch.idx
        rules = self._compiled.first_match(batch.pool, idx)
        n = len(self._names)
        hit = rules < n
        if not hit.any():
            self.emit(0, batch)
            return
        gws = self._gw[rules]
        via = hit & (gws != 0)
        if via.any():
            batch.pool.dst_ip[idx[via]] = gws[via]
        for r in np.unique(rules[hit]).tolist():
            k = int((rules == r).sum())
            self.packets[self._names[r]] += k
            self.count += k
        outs = self._out[rules]
        n_out = self.n_outputs
        parts = batch.partition(np.minimum(outs, n_out), n_out + 1)
        for p in range(n_out):
            if len(parts[p].idx):
                self.emit(p, parts[p])
        if len(parts[n_out].idx):      # an output unconnected since the flow was added
            parts[n_out].kill()

    # -- handlers --------------------------------------------------------------
    def _parse(self, value: str) -> tuple[str, tuple]:
        words = value.split(None, 3)
        if len(words) < 4:
            raise HandlerError(f"expected 'NAME GATEWAY OUTPUT PATTERN', such as "
                               f"'video 10.0.0.2 1 udp and dst port 5004', not '{value.strip()}'")
        name, gw_text, out_text, pattern = words
        try:
            gw = _gateway(gw_text, value, IPV4)
            port = _output(out_text, value)
        except RouteError as e:
            raise HandlerError(str(e)) from None
        if 1 + port >= self.n_outputs:
            raise HandlerError(f"flow '{name}': output {port} goes to output {1 + port} of "
                               f"'{self.name}', which is not connected "
                               f"(it has outputs 0..{self.n_outputs - 1})")
        pattern = unquote(pattern.strip())
        try:
            tree = parse_pattern(pattern)
        except PatternError as e:
            raise HandlerError(f"flow '{name}': {e}") from None
        return name, (pattern, gw, port, tree)

    @write_handler("add")
    def write_add(self, value):
        name, flow = self._parse(value)
        if name in self.flows:
            raise HandlerError(f"flow '{name}' exists; remove it first or use set")
        self.flows[name] = flow
        self.packets[name] = 0
        self._compile()

    @write_handler("set")
    def write_set(self, value):
        name, flow = self._parse(value)
        self.flows[name] = flow
        self.packets.setdefault(name, 0)
        self._compile()

    @write_handler("remove")
    def write_remove(self, value):
        name = value.strip()
        if name not in self.flows:
            known = ", ".join(self.flows) or "none"
            raise HandlerError(f"no flow '{name}' (flows: {known})")
        del self.flows[name], self.packets[name]
        self._compile()

    @read_handler("flows")
    def read_flows(self):
        return "".join(f"{name}\t{_ntoa(gw) if gw else '-'}\t{port}\t{self.packets[name]}\t"
                       f"{pattern}\n" for name, (pattern, gw, port, _) in self.flows.items())

    @read_handler("count")
    def read_count(self):
        return self.count
