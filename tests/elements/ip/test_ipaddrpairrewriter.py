"""IPAddrPairRewriter: Basic NAT whose mappings belong to (source, destination)
address pairs, so one outside address serves many hosts at once."""
from __future__ import annotations

import pytest

from vforward.cext import rewriter_reference

from tests.elements.ip.test_ipaddrrewriter import (ICMP, PRIV, PRIV2, PRIV3, SERVER, TCP, UDP,
                                                   ends, inet, pkt)

SERVER2 = "198.51.100.3"
CONFIG = ("inside :: _NATAddrSource; outside :: _NATAddrSource;\n"
          "rw :: IPAddrPairRewriter({specs});\n"
          "inside -> [0]rw; outside -> [1]rw;\n"
          "rw[0] -> out :: _NATAddrSink; rw[1] -> back :: _NATAddrSink;\n")


class PairNat:
    def __init__(self, make_router, specs="pattern 203.0.113.1-203.0.113.2# - 0 1, drop",
                 impl=None):
        self.router = make_router(CONFIG.format(specs=specs))
        self.rw = self.router.element("rw")
        if impl is not None:
            self.rw.use_kernels(impl)
        self.router.initialize()
        self.rw._clock = lambda: 50.0

    def send_in(self, *frames):
        self.router.element("inside").send(list(frames))
        return self.router.element("out").take()

    def send_out(self, *frames):
        self.router.element("outside").send(list(frames))
        return self.router.element("back").take()


@pytest.fixture(params=["kernel", "reference"])
def nat(make_router, request):
    return PairNat(make_router, impl=rewriter_reference if request.param == "reference"
                   else None)


@pytest.mark.parametrize("proto", [TCP, UDP, ICMP, 47])
def test_a_pair_is_mapped_for_any_protocol_and_back_with_checksums(nat, proto):
    out = nat.send_in(pkt(proto, PRIV, SERVER))
    assert out == [pkt(proto, "203.0.113.1", SERVER)]
    back = nat.send_out(pkt(proto, SERVER, "203.0.113.1", b"reply"))
    assert back == [pkt(proto, SERVER, PRIV, b"reply")]
    assert nat.router.element("back").dst == [int.from_bytes(inet(PRIV), "big")]


@pytest.mark.parametrize("impl", [None, rewriter_reference])
def test_one_outside_address_serves_hosts_talking_to_different_destinations(make_router, impl):
    nat = PairNat(make_router, "pattern 203.0.113.1 - 0 1, drop", impl)
    out = nat.send_in(pkt(UDP, PRIV, SERVER), pkt(UDP, PRIV2, SERVER2), pkt(UDP, PRIV, SERVER))
    assert [ends(f) for f in out] == [("203.0.113.1", SERVER), ("203.0.113.1", SERVER2),
                                      ("203.0.113.1", SERVER)]
    # each reply finds its own host by the pair, though the outside address is shared
    back = nat.send_out(pkt(UDP, SERVER2, "203.0.113.1"), pkt(UDP, SERVER, "203.0.113.1"))
    assert [ends(f) for f in back] == [(SERVER2, PRIV2), (SERVER, PRIV)]
    assert nat.rw.read("nmappings") == "2"


def test_a_destination_runs_out_of_addresses_while_others_do_not(nat):
    out = nat.send_in(pkt(TCP, PRIV, SERVER), pkt(TCP, PRIV2, SERVER), pkt(TCP, PRIV3, SERVER),
                      pkt(TCP, PRIV3, SERVER2))
    assert [ends(f) for f in out] == [("203.0.113.1", SERVER), ("203.0.113.2", SERVER),
                                      ("203.0.113.1", SERVER2)]
    assert nat.rw.read("mapping_failures") == "1"
    assert nat.rw.read("table").splitlines()[:2] == [
        f"({PRIV}, {SERVER}) => (203.0.113.1, {SERVER}) [*0 1] i0 exp7200",
        f"({SERVER}, 203.0.113.1) => ({SERVER}, {PRIV}) [0 *1] i0 exp7200"]


def test_unmapped_traffic_from_outside_is_dropped_by_its_spec(nat):
    assert nat.send_out(pkt(UDP, SERVER, "203.0.113.1")) == []
    assert nat.rw.read("drops") == "1"
