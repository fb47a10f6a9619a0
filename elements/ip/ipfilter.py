"""IPFilter: filter IP packets with tcpdump-like rules (Click's IPFilter)."""
from __future__ import annotations

import numpy as np

from vforward.args import ArgumentError, unquote
from vforward.config.errors import did_you_mean
from vforward.element import PUSH_ONLY, Element, read_handler

from vforward.elements.ip.ipfilter_compile import compile_rules
from vforward.elements.ip.ipfilter_language import (Const, PatternError, parse_tokens,
                                                    tokenize, tree_text)

DROP = -1
_ACTIONS = ("allow", "deny", "drop")


def parse_rule(text: str):
    """(action, tree) of one IPFilter rule 'ACTION PATTERN'; action is an output
    number or DROP.  A rule of an action alone matches every packet, as in Click."""
    tokens = tokenize(text)
    if not tokens:
        raise PatternError("empty rule; write an action and a pattern, such as 'allow tcp'",
                           text, 0, 1)
    first = tokens[0]
    word = first.text
    if word == "allow":
        action = 0
    elif word in ("deny", "drop"):
        action = DROP
    elif word.isdigit():
        action = int(word)
    else:
        hint = did_you_mean(word, _ACTIONS)
        tip = f" — did you mean '{hint}'?" if hint else \
            "; a rule starts with allow, deny, drop or an output number, as in 'allow tcp'"
        raise PatternError(f"unknown action '{word}'{tip}", text, first.start, first.end)
    rest = tokens[1:]
    tree = Const(True) if not rest else parse_tokens(text, rest)
    return action, tree


class IPFilter(Element):
    """IPFilter(ACTION_1 PATTERN_1, ..., ACTION_N PATTERN_N) -- filter IP packets by contents

    Ports: 1 input, any number of outputs; push.

    Tests each packet against the rules in order and does what the first
    matching rule's ACTION says: 'allow' sends it to output 0, a number N
    to output N, 'drop' (or 'deny') drops it.  A packet that matches no
    rule is dropped.  PATTERNs are tcpdump-like, as IPClassifier's (see its
    manual page for the primitives: ip proto, src/dst host, net, port,
    icmp type, tcp opt, ip ttl/tos/dscp/id/len/vers/hl, ip frag/unfrag,
    ip[POS:LEN], transp[POS:LEN], true, false, combined with and/or/not and
    parentheses).  A rule that is an ACTION alone, or an ACTION and '-',
    'any' or 'all', matches every packet.

    Input packets must have their IP header annotation set (CheckIPHeader
    or MarkIPHeader).  The configuration must connect every output up to
    the highest one an action names; more may be connected.  'deny' means
    'drop' (as in today's Click, which warns when it is used with several
    outputs).

    Rules are compiled once; a batch is filtered by gathering every header
    field the rules read with one numpy gather and evaluating each
    distinct test once over the whole batch.

      // The rules for an interior router from Click's manual (after
      // "Building Internet Firewalls"), with addresses written out:
      IPFilter(deny src 10.0.0.0/8,
               allow src 192.0.2.1 && dst 10.0.0.0/8
                  && tcp && src port www && dst port > 1023 && ack,
               allow dst 10.0.0.0/8 && tcp && dst port 22,
               deny all)

    Arguments:
      ACTION PATTERN (one rule per argument)

    Handlers:
      program (read)   each rule's action and compiled test, one per line
      drops (read)     packets dropped by a rule or by matching none
    """
    PORTS = "1/-"
    PROCESSING = PUSH_ONLY

    def configure(self, args):
        texts = [unquote(a) for a in args.raw]
        rules = []
        for text in texts:
            try:
                rules.append((text,) + parse_rule(text))
            except PatternError as e:
                raise ArgumentError(f"{args.where}: {e}") from None
        self._set_rules(rules)
        self.drops = 0

    def _set_rules(self, rules) -> None:
        """rules: (text, action, tree) triples; compiles them."""
        self.rules = rules
        self._compiled = compile_rules([tree for _, _, tree in rules])
        self._least_outputs = max((action + 1 for _, action, _ in rules), default=0)
        self._ports_for = (-1, None)
        self.passthrough_changed()      # a fused input path holds the program (fusedinput.py)

    def port_spec(self):
        return f"1/{self._least_outputs}-"

    def _rule_ports(self) -> tuple[int, np.ndarray]:
        """(drop bucket, table): per rule number, and one more for 'no rule', the
        output a packet goes to; the drop bucket is the number after the outputs."""
        if self._ports_for[0] != self.n_outputs:
            n_out = max(self.n_outputs, self._least_outputs)
            ports = [n_out if a == DROP else a for _, a, _ in self.rules] + [n_out]
            self._ports_for = (self.n_outputs, (n_out, np.array(ports, dtype=np.intp)))
        return self._ports_for[1]

    def push(self, port, batch):
        idx = batch.idx
        if len(idx) == 0:
            return
        drop, table = self._rule_ports()
        rules = self._compiled.first_match(batch.pool, idx)
        if len(rules) == 1:                     # one packet: no array work
            ports = None
            p0 = table.item(rules.item(0))
        else:
            ports = table[rules]
            p0 = ports.item(0)
        if ports is None or (ports == p0).all():    # the common case: one verdict for all
            if p0 == drop:
                self.drops += len(idx)
                batch.kill()
            else:
                self.emit(p0, batch)
            return
        parts = batch.partition(ports, drop + 1)
        dropped = parts[drop]
        if len(dropped.idx):
            self.drops += len(dropped.idx)
            dropped.kill()
        for p in range(drop):
            self.emit(p, parts[p])

    def classify_reference(self, batch) -> list[int | None]:
        """Per packet, the rule the reference evaluator picks (None: no rule)."""
        from vforward.elements.ip.ipfilter_reference import first_match, ip_bytes
        trees = [tree for _, _, tree in self.rules]
        return [first_match(trees, ip_bytes(batch.pool, int(s))) for s in batch.idx]

    def _rule_text(self, i: int) -> str:
        action = self.rules[i][1]
        verb = "drop" if action == DROP else "allow" if action == 0 else str(action)
        return f"{i}: {verb} if {tree_text(self._compiled.trees[i])}"

    @read_handler("program")
    def read_program(self):
        return "\n".join(self._rule_text(i) for i in range(len(self.rules)))

    @read_handler("drops")
    def read_drops(self):
        return self.drops
