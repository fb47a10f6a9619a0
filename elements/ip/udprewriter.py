"""UDPRewriter and TCPRewriter: IPRewriter under the names Click gives its per-protocol rewriters."""
from __future__ import annotations

from vforward.elements.ip.iprewriter import IPRewriter


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
    under Click's name for TCP flows.  Click's TCPRewriter can also shift
    sequence numbers for elements that change payload lengths (FTP's PORT
    rewriting); vforward has no such element, so sequence numbers pass
    unchanged.  See IPRewriter for the INPUTSPECs, keywords and handlers.
    """


class ICMPPingRewriter(IPRewriter):
    """ICMPPingRewriter(INPUTSPEC1, ..., INPUTSPECn [, KEYWORDS]) -- rewrite ICMP echo flows

    Ports: as IPRewriter.

    Click's ICMPPingRewriter: translation of ICMP echo requests and replies
    (the identifier plays the source port), which vforward's IPRewriter
    does alongside TCP and UDP; this is IPRewriter under Click's name.  See
    IPRewriter for the INPUTSPECs, keywords and handlers.
    """
