"""Click 1's ICMPPingRewriter(SRC, DST) form, read as today's INPUTSPECs.

Click 1.x configured ICMPPingRewriter with two addresses: echo requests
arriving on input 0 got source SRC and destination DST ('-' keeps the
packet's own) and a new identifier; replies came back rewritten.  Today's
Click (and vforward) takes one INPUTSPEC per input instead; the old form
is the same rewriter with

    pattern SRC 0-65535# DST - 0 ROUT, drop

(identifiers handed out in sequence, requests on output 0, replies on the
last output) plus two Click 1 habits the ICMPPingRewriter element keeps
when it was configured this way: an echo reply no mapping knows passes
unchanged on input 0 (to the last output), and only ICMP echo is mapped.
"""
from __future__ import annotations

from vforward.args import ArgumentError, ip_address, unquote

_SPEC_WORDS = {"drop", "discard", "pass", "passthrough", "nochange", "keep", "pattern",
               "xpattern"}


def _address_or_dash(text: str):
    """The address text (an IPv4 address, an AddressInfo name or '-'), or None when it
    is not one."""
    t = unquote(text).strip()
    if not t or len(t.split()) != 1 or t in _SPEC_WORDS:
        return None
    if t == "-":
        return t
    try:
        ip_address(t)
    except ArgumentError:
        return None
    return t


def read_click1_ping_form(args) -> bool:
    """If args are Click 1's 'SRC, DST' (two addresses or '-'), replace them with the
    INPUTSPECs that do the same, warn naming that form, and return True."""
    start = args._next
    positional = args._positional[start:]
    if len(positional) != 2:
        return False
    words = [_address_or_dash(p) for p in positional]
    if None in words:
        return False
    src, dst = words
    # the reply output is fixed at initialize, from the outputs connected (1 or 2)
    args._positional[start:] = [f"pattern {src} 0-65535# {dst} - 0 1", "drop"]
    args.warn(f"ICMPPingRewriter({src}, {dst}) is Click 1's form; read as "
              f"today's ICMPPingRewriter(pattern {src} 0-65535# {dst} - 0 1, drop) "
              "(with 1 output: ... - 0 0), keeping Click 1's passing of unmapped echo replies "
              "on input 0")
    return True
