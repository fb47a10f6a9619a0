"""UDPRewriter and TCPRewriter: IPRewriter under the names Click gives its per-protocol rewriters."""
from __future__ import annotations

from vforward.elements.ip.iprewriter import IPRewriter


class UDPRewriter(IPRewriter):
    """UDPRewriter(INPUTSPEC1, ..., INPUTSPECn [, KEYWORDS]) -- rewrite UDP (and TCP) flows

    Ports: as IPRewriter.

    Click's UDPRewriter: IPRewriter's network address/port translation,
    under the name Click's configurations use for UDP flows.  vforward's
    IPRewriter already translates UDP, TCP and ICMP echo alike, so this is
    the same element; see IPRewriter for the INPUTSPECs, keywords and
    handlers.
    """


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
