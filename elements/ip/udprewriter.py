"""UDPRewriter and TCPRewriter: IPRewriter under the names Click gives its per-protocol rewriters."""
from __future__ import annotations

import numpy as np

from vforward.element import read_handler

from vforward.elements.ip.click1_ping_form import read_click1_ping_form
from vforward.elements.ip.iprewriter import IPRewriter
from vforward.elements.ip.rewriter_table import PROTO_ICMP, kernels
from vforward.elements.ip.tcp_seq_deltas import SeqDeltas

ICMP_ECHO_REPLY = 0


class UDPRewriter(IPRewriter):
    """UDPRewriter(INPUTSPEC1, ..., INPUTSPECn [, KEYWORDS]) -- rewrite UDP (and TCP) flows

    Ports: as IPRewriter.

    Click's UDPRewriter: IPRewriter's network address/port translation,
    under the name Click's configurations use for UDP flows.  vforward's
    IPRewriter already translates UDP, TCP and ICMP echo alike, so this is
    the same element; see IPRewriter for the INPUTSPECs and handlers.

    As in Click, TCP flows through a UDPRewriter are timed as UDP flows
    (TIMEOUT, STREAMING_TIMEOUT and GUARANTEE; no TCP connection states).
    Its keywords are Click's UDPRewriter's: TIMEOUT is the UDP timeout
    (default 5 minutes), STREAMING_TIMEOUT that of UDP flows of 3 packets
    or more (default TIMEOUT), GUARANTEE how long after each packet a flow
    cannot be evicted at MAPPING_CAPACITY (default 5s); IPRewriter's
    TCP_*, UDP_* and ICMP_TIMEOUT keywords work too.
    """

    def configure_keywords(self, args):
        from vforward.args import seconds
        t = self.timeouts
        udp = args.keyword("TIMEOUT", seconds, default=t.udp)
        streaming = args.keyword("STREAMING_TIMEOUT", seconds, default=None)
        own_udp = "UDP_TIMEOUT" in args._keywords
        own_streaming = "UDP_STREAMING_TIMEOUT" in args._keywords
        super().configure_keywords(args)
        t.tcp_as_udp = True
        if not own_udp:
            t.udp = udp
        if streaming is not None:
            t.udp_streaming = streaming
        elif not own_streaming:
            t.udp_streaming = t.udp


class TCPRewriter(IPRewriter):
    """TCPRewriter(INPUTSPEC1, ..., INPUTSPECn [, KEYWORDS]) -- rewrite TCP (and UDP) flows

    Ports: as IPRewriter.

    Click's TCPRewriter: IPRewriter's network address/port translation
    under Click's name for TCP flows, which can also shift a flow's
    sequence and acknowledgement numbers.  See IPRewriter for the
    INPUTSPECs, keywords and handlers.

    Sequence numbers: an element upstream that changes the length of a
    segment's payload (FTPPortMapper, rewriting an FTP PORT command) tells
    this element, which from then on adds the change to the sequence
    numbers of that direction of the flow from the end of the rewritten
    segment on, and takes it off the acknowledgement numbers and SACK
    block edges (RFC 2018) of the other direction, so both ends keep
    their own numbering.  Every new flow starts with no shift; changes add
    up, and a retransmitted segment rewritten again does not move the
    numbers twice.  Once a direction's numbers have moved 2^30 past its
    last change, the shift applies to the whole sequence space (old
    segments cannot be in flight any more).  An ICMP error quoting a
    segment of a shifted flow, translated here or by an ICMPRewriter naming
    this element, gets the quoted sequence and acknowledgement numbers back
    in the numbering of the host it goes to (Linux ignores an error whose
    quoted sequence number it never sent; path MTU discovery needs it).
    Segments whose TCP header is cut short are left alone.  The rewrite
    kernel is unchanged: a batch checks a per-flow flag (one vectorised
    index) once some flow has a shift, and the packets of flows with one
    are shifted after it in Python (bench/bench_tcp_seq_shift.py measures
    both).

    Handlers: as IPRewriter; in table and tcp_table a flow direction with
    a shift shows it as ' seq +N' or ' seq -N' after its rewritten flow
    (Click's format).  mappings (read) is Click's old name for table.
    """

    def update_seqno_delta(self, f: int, direction: int, trigger: int, change: int) -> bool:
        """Sequence numbers of flow f's direction from trigger on move by change
        more (FTPPortMapper's call); False when refused (a trigger older
        than the last one of the direction)."""
        deltas = self.table.seq_deltas.get(f)
        if deltas is None:
            if change == 0:
                return True
            deltas = self.table.seq_deltas[f] = SeqDeltas()
            self.table.shifted[f] = True
        return deltas.update(direction, trigger, change)

    def flow_note(self, f, direction) -> str:
        deltas = self.table.seq_deltas.get(f)
        d = deltas.delta(direction) if deltas is not None else 0
        return f" seq {d:+d}" if d else ""

    @read_handler("mappings")
    def read_mappings(self):
        return self.read_table()


class ICMPPingRewriter(IPRewriter):
    """ICMPPingRewriter(INPUTSPEC1, ..., INPUTSPECn [, KEYWORDS]) -- rewrite ICMP echo flows

    Ports: as IPRewriter.

    Click's ICMPPingRewriter: translation of ICMP echo requests and replies
    (the identifier plays the source port), which vforward's IPRewriter
    does alongside TCP and UDP; this is IPRewriter under Click's name.  See
    IPRewriter for the INPUTSPECs, keywords and handlers.

    Click 1's form, ICMPPingRewriter(SRC, DST [, KEYWORDS]) (SRC and DST
    each an address, an AddressInfo name, or '-' for the packet's own), is
    accepted with a warning and read as

        ICMPPingRewriter(pattern SRC 0-65535# DST - 0 ROUT, drop)

    with Click 1's ports and habits: 1 or 2 inputs and 1 or 2 outputs;
    an echo request no mapping knows, on input 0, gets a mapping to SRC
    and DST with the next free identifier; mapped requests leave on output
    0 and mapped replies on the last output (ROUT: 1 with two outputs, 0
    with one); an echo reply no mapping knows passes unchanged on input 0
    (to the last output, as Click 1 let replies to the host's own pings
    through) and is dropped on input 1; only ICMP echo is mapped (other
    packets are dropped, counted as 'no ports to map by').

    Handlers (besides IPRewriter's):
      mappings (read)   Click 1's table: '(SRC, DST, ID) => (SRC', DST', ID')',
                        one line per echo flow
    """

    def configure(self, args):
        self.click1 = read_click1_ping_form(args)
        super().configure(args)

    def port_spec(self):
        return "1-2/1-2" if self.click1 else super().port_spec()

    def initialize(self):
        super().initialize()
        if self.click1 and self.n_outputs == 1:
            self.specs[0].routput = 0

    def _unmapped(self, port, pool, idx, codes, ports, values, keys, now):
        if self.click1:
            plain = codes & kernels.CODE_MASK
            # Click 1 maps ICMP echo only
            other = (plain == kernels.MISS) & (keys[:, 3] != PROTO_ICMP)
            codes[other] = kernels.UNMAPPABLE
            if port == 0:
                # an unmapped echo reply on input 0 passes unchanged, to the last output
                for i in np.flatnonzero(plain == kernels.UNMAPPABLE).tolist():
                    slot = int(idx[i])
                    h = int(pool.nh[slot])
                    ihl = (int(pool.data[slot, h]) & 0x0F) * 4
                    if int(pool.data[slot, h + 9]) == PROTO_ICMP and \
                            int(pool.data[slot, h + ihl]) == ICMP_ECHO_REPLY:
                        codes[i], ports[i], values[i] = kernels.HIT, self.n_outputs - 1, -1
        super()._unmapped(port, pool, idx, codes, ports, values, keys, now)

    @read_handler("mappings")
    def read_mappings(self):
        now = self.now()
        flows = self.table.live_flows()
        flows = flows[self.table.proto[flows] == PROTO_ICMP]
        return "".join(self.format_flow(int(f), 0, now).split(" [")[0] + "\n" for f in flows)
