"""IPv6 in IPClassifier/IPFilter patterns: 'ip6', host and net with IPv6 values,
'nxt'; the compiled filter and the reference evaluator agree on every packet."""
import ipaddress
import random

import pytest

from vforward.elements.ip.ipfilter_language import PatternError, parse_pattern
from vforward.elements.ip.ipfilter_reference import evaluate


def ip6(src, dst, nxt=17, payload=b"12345678"):
    return (bytes([0x60, 0, 0, 0]) + len(payload).to_bytes(2, "big") + bytes([nxt, 64])
            + ipaddress.IPv6Address(src).packed + ipaddress.IPv6Address(dst).packed + payload)


def ip4(src="10.0.0.1", dst="10.0.0.2"):
    return (bytes([0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0]) + ipaddress.IPv4Address(src).packed
            + ipaddress.IPv4Address(dst).packed + bytes(8))


PATTERNS = ["ip6", "src host 2001:db8::1", "dst net 2001:db8::/32", "ip6 nxt 58", "nxt tcp",
            "ip6 and not dst net 2001:db8:1::/48", "src or dst host 2001:db8::1",
            "dst host != 2001:db8::2", "dst net 2001:db8:8000::/33 or src net ::/0",
            "ip6 src net 2001:db8::/31 and nxt 17"]
HOSTS = ["2001:db8::1", "2001:db8::2", "2001:db8:1::9", "2001:db9::1", "2001:db8:8000::1",
         "fe80::1", "::"]


def _classify(make_router, patterns, frames):
    outs = "; ".join(f"c[{i}] -> o{i} :: _Sink6" for i in range(len(patterns) + 1))
    r = make_router(f"src :: _Frames6 -> c :: IPClassifier({', '.join(patterns)}, -); {outs}")
    r.initialize()
    r.element("src").send(frames)
    return [r.element(f"o{i}").frames for i in range(len(patterns) + 1)]


def test_each_pattern_matches_what_the_reference_says(make_router):
    rng = random.Random(3)
    frames = [ip6(rng.choice(HOSTS), rng.choice(HOSTS), rng.choice([6, 17, 58]))
              for _ in range(60)] + [ip4(), ip4("32.1.13.184")]
    for pattern in PATTERNS:
        got = _classify(make_router, [pattern], frames)
        tree = parse_pattern(pattern)
        want = [f for f in frames if evaluate(tree, f)]
        assert got[0] == want, pattern
        assert want, f"{pattern} matched nothing: a weak test"


def test_ipv6_primitives_never_match_ipv4_packets(make_router):
    got = _classify(make_router, ["ip6", "src net ::/0"], [ip4(), ip4("32.1.13.184")])
    assert got[0] == [] and got[1] == []


@pytest.mark.parametrize("pattern, message", [
    ("host 2001:db8::/32", "for a network write 'net 2001:db8::/32'"),
    ("ip6 5", "a bare number needs a header field"),
    ("ip6 port 80", "'ip6' goes with host, net, nxt or a header field"),
    ("dst host > 2001:db8::1", "compares addresses with == or != only"),
    ("net 2001:db8::/129", "bad address or number"),
])
def test_mistakes_are_named(pattern, message):
    with pytest.raises(PatternError, match=message):
        parse_pattern(pattern)
