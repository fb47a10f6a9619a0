"""A whole router in the style of Click's sample configurations."""
from vforward.config import parse_config

ROUTER = r"""
// Two-interface IP router.  Addresses come from defines so that a test
// bed can override them per node ('vforward run r.click IF0=tap3').
#include "not-for-us.h"
define($IF0 tap0, $IF1 tap1, $ADDR0 10.0.0.1, $ADDR1 10.0.1.1)
require(package "vforward-ip")

elementclass Interface { $dev, ADDR $addr |
    from :: FromDevice($dev, SNIFFER false)
        -> cl :: Classifier(12/0806 20/0001,   // ARP queries
                            12/0806 20/0002,   // ARP replies
                            12/0800,           /* IP */
                            -)
        -> ARPResponder($addr $dev) -> out :: Queue(${QLEN}) -> ToDevice($dev);
    cl[1] -> [1]arpq :: ARPQuerier($addr, $dev) -> out;
    cl[2] -> Strip(14) -> CheckIPHeader -> output;
    cl[3] -> Discard;
    input -> arpq;
    define($QLEN 256)
}

if0 :: Interface($IF0, ADDR $ADDR0);
if1 :: Interface($IF1, ADDR $ADDR1);
rt :: LookupIPRoute($ADDR0/32 0, $ADDR1/32 0, 10.0.0.0/24 1, 10.0.1.0/24 2);

if0, if1 -> GetIPAddress(16) -> rt;
rt[0] -> Print("to host, really?") -> Discard;
rt[1] -> DecIPTTL -> if0;
rt[2] -> DecIPTTL -> if1;
"""


def test_router_flattens():
    flat = parse_config(ROUTER, "router.click", defines={"IF1": "eth9"})
    decls = {e.name: (e.class_name, e.config) for e in flat.elements}
    assert decls["if0/from"] == ("FromDevice", "tap0, SNIFFER false")
    assert decls["if1/from"] == ("FromDevice", "eth9, SNIFFER false")
    assert decls["if0/out"] == ("Queue", "256")
    assert decls["if1/arpq"] == ("ARPQuerier", "10.0.1.1, eth9")
    assert decls["if0/cl"][1].startswith("12/0806 20/0001,    \n")
    assert decls["rt"][1] == "10.0.0.1/32 0, 10.0.1.1/32 0, 10.0.0.0/24 1, 10.0.1.0/24 2"
    assert decls["Print@5"] == ("Print", '"to host, really?"')
    assert flat.requirements == ['package "vforward-ip"']
    assert flat.defines["IF1"] == "eth9" and flat.defines["ADDR0"] == "10.0.0.1"

    edges = {(c.from_name, c.from_port, c.to_name, c.to_port) for c in flat.connections}
    # fan-in of both interfaces' IP outputs, through the compound's output
    assert ("if0/CheckIPHeader@8", 0, "GetIPAddress@4", 0) in edges
    assert ("if1/CheckIPHeader@8", 0, "GetIPAddress@4", 0) in edges
    # into a compound's input, on to the element behind it
    assert ("DecIPTTL@7", 0, "if0/arpq", 0) in edges
    assert ("if1/cl", 1, "if1/arpq", 1) in edges
    assert all(not (c.from_name.startswith("if") and c.to_name == "rt") for c in flat.connections)
    assert len(flat.elements) == 2 * 9 + 6
