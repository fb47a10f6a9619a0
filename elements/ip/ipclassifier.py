"""IPClassifier: send IP packets to outputs by tcpdump-like patterns (Click's IPClassifier)."""
from __future__ import annotations

from vforward.args import ArgumentError, unquote
from vforward.element import Handler, HandlerError

from vforward.elements.ip.ipfilter import IPFilter
from vforward.elements.ip.ipfilter_language import PatternError, parse_pattern, tree_text


class IPClassifier(IPFilter):
    """IPClassifier(PATTERN_1, ..., PATTERN_N) -- classify IP packets by contents

    Ports: 1 input, N outputs (one per pattern); push.

    Sends each packet to the output of the first pattern it matches, and
    drops packets that match none.  Input packets must have their IP header
    annotation set (CheckIPHeader or MarkIPHeader).  The configuration must
    connect exactly one output per pattern.

    Patterns are built from primitives:

      ip proto PROTO        PROTO is a name (tcp, udp, icmp, igmp, ipip, gre,
                            dccp, sctp, ospf) or a number; 'tcp', 'udp' and
                            'icmp' alone say the same
      [SD] host ADDR        SD is src, dst, 'src or dst' (the default) or
                            'src and dst'
      [SD] net ADDR/LEN     also 'net ADDR mask MASK', or just 10.0.0.0/8
      [SD] [tcp|udp] port PORT   a number or a name (www, ssh, domain, ...);
                            without tcp or udp, either protocol
      icmp type TYPE        a number or a name (echo, echo-reply,
                            unreachable, timeexceeded, redirect, ...)
      tcp opt FLAG          FLAG set: syn, ack, fin, rst, psh, urg (also
                            ece, cwr; 'tcp flags' says the same; 'syn'
                            alone too)
      tcp win N             TCP window
      ip vers N, ip hl N, ip tos N, ip dscp N, ip ttl N, ip id N, ip len N
      ip frag, ip unfrag    fragments (MF set or offset nonzero), and not
      ip ect, ip ce         ECN capable transport, congestion experienced
      ip[POS:LEN] N         LEN (1-4) bytes at POS of the IP header;
                            ip[POS] is ip[POS:1]
      transp[POS:LEN] N     the same in the transport header; also
                            tcp[POS:LEN], udp[...], icmp[...]
      true, false, and a whole pattern of '-', 'any' or 'all'

    joined by 'and' ('&&', or nothing: primitives side by side are and-ed),
    'or' ('||'), 'not' ('!'), parentheses and 'C ? A : B' (spaces around
    the colon).  Primitives with numbers take a relation (==, =, !=, <, >,
    <=, >=) and most take a mask: 'src tcp port & 0xff00 == 0x1f00',
    'ip ttl < 5'.  'port != 80' and 'icmp type != 8' still require TCP or
    UDP and ICMP ('not port 80' does not); with 'src or dst', '!=', '<' and
    '<=' hold for both fields ('port < 1024': both ports below 1024).

    A primitive with no qualifier takes its kind from the one before it:
    'src host 10.0.0.1 or 10.0.0.2', 'dst port 80 or 8080',
    'ip ttl > 200 or < 5'.  A value alone says its kind when it can:
    '10.0.0.1' (host), '10.0.0.0/8' (net), 'www' (port), 'syn' (tcp opt),
    'echo-reply' (icmp type).

    Port, TCP flag and window, ICMP type and transport-byte tests match
    only first fragments of their protocol.  No primitive matches a packet
    too short to hold a field it reads ('not' of it does).  IP options are
    handled: the transport header starts 4 * IHL bytes after the IP header.

      IPClassifier(10.0.0.0/24 and syn,        // SYNs from or to 10.0.0.x
                   10.0.0.0/24 and fin ack,    // FIN+ACKs
                   10.0.0.0/24 and tcp,        // other TCP
                   -)                          // everything else

    Patterns are compiled once into tests that run over whole batches (see
    IPFilter); a bad pattern is refused with the word that is wrong.

    Arguments:
      PATTERN (one per output)

    Handlers:
      program (read)         each output's compiled test, one per line
      patternN (read/write)  pattern N; writing replaces it
      drops (read)           packets that matched no pattern
    """

    def configure(self, args):
        rules = []
        for i, raw in enumerate(args.raw):
            text = unquote(raw)
            try:
                rules.append((text, i, parse_pattern(text)))
            except PatternError as e:
                raise ArgumentError(f"{args.where}: {e}") from None
        self._set_rules(rules)
        self.drops = 0
        self._own_handlers = self._pattern_handlers(len(rules))

    def port_spec(self):
        return f"1/{len(self.rules)}"

    def _rule_text(self, i: int) -> str:
        return f"{i}: {tree_text(self._compiled.trees[i])}"

    # -- per-pattern handlers, as Click's IPClassifier has -----------------
    def handlers(self):
        return getattr(self, "_own_handlers", self._handler_table)

    def _pattern_handlers(self, n: int) -> dict:
        table = dict(self._handler_table)
        for i in range(n):
            h = Handler(f"pattern{i}")
            h.read = lambda self, i=i: self.rules[i][0]
            h.write = lambda self, value, i=i: self.replace_pattern(i, value)
            table[h.name] = h
        return table

    def replace_pattern(self, i: int, text: str) -> None:
        """Put a new pattern in place of pattern i (the patternN write handler)."""
        text = unquote(text.strip())
        try:
            tree = parse_pattern(text)
        except PatternError as e:
            raise HandlerError(str(e)) from None
        rules = list(self.rules)
        rules[i] = (text, i, tree)
        self._set_rules(rules)
