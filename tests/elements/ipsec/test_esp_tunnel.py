"""An ESP tunnel between two gateways: packets cross whole; forged, replayed,
truncated and unknown-SPI packets are dropped and counted."""
import dpkt
from hypothesis import HealthCheck, given, settings, strategies as st

from tests.elements.ipsec.esptunnel import (A, B, CLICK_ORDER_IN, CLICK_ORDER_OUT, RFC_ORDER_IN,
                                            RFC_ORDER_OUT, SPI, gateway, through, udp_packet)

# A host behind A sends to a host behind B.
SRC, DST = "198.51.100.7", "203.0.113.9"


def _pair(make_router, a_kw=None, b_kw=None):
    return gateway(make_router, "A", **(a_kw or {})), gateway(make_router, "B", **(b_kw or {}))


def _deliver(b, wire):
    """Feed ESP packets from the wire into gateway B; what came out inside."""
    return through(b, wire, sink="inner")


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=1400))
def test_any_payload_crosses_the_tunnel_unchanged(make_router, payload):
    a, b = _pair(make_router)
    packet = udp_packet(SRC, DST, payload)
    wire = through(a, [packet])
    assert len(wire) == 1
    assert _deliver(b, wire) == [packet]


def test_the_wire_packet_is_esp_from_gateway_to_gateway_and_hides_the_payload(make_router):
    a, _ = _pair(make_router)
    payload = b"secret payload " * 8
    wire = through(a, [udp_packet(SRC, DST, payload)])[0]
    outer = dpkt.ip.IP(wire)
    assert outer.p == 50 and outer.ttl == 250
    assert (outer.src, outer.dst) == (bytes([192, 0, 2, 1]), bytes([192, 0, 2, 2]))
    assert dpkt.in_cksum(wire[:20]) == 0
    esp = wire[20:]
    assert int.from_bytes(esp[:4], "big") == SPI
    assert int.from_bytes(esp[4:8], "big") == 1          # REPLAY 1: the first number sent
    assert (len(esp) - 24 - 12) % 16 == 0                # IV 16, ICV 12, whole AES blocks
    assert b"secret" not in wire


def test_sequence_numbers_count_up_and_each_packet_has_its_own_iv(make_router):
    a, _ = _pair(make_router)
    wire = through(a, [udp_packet(SRC, DST, b"x" * 10)] * 3)
    assert [int.from_bytes(w[24:28], "big") for w in wire] == [1, 2, 3]
    assert len({w[28:44] for w in wire}) == 3
    assert "SPI 234 next_seq 4" in a.element("rt").read("sas")


def test_rfc_order_and_clicks_order_of_the_elements_make_the_same_wire_format(make_router):
    # A encrypts in Click's order, B decrypts in the RFC's, and the other way round.
    a, b = _pair(make_router, {"out_chain": CLICK_ORDER_OUT, "in_chain": RFC_ORDER_IN},
                 {"out_chain": RFC_ORDER_OUT, "in_chain": RFC_ORDER_IN})
    there = udp_packet(SRC, DST, b"to b")
    assert _deliver(b, through(a, [there])) == [there]
    back = udp_packet(DST, SRC, b"to a")
    a_in = gateway(make_router, "A", in_chain=CLICK_ORDER_IN)
    assert through(a_in, through(b, [back]), sink="inner") == [back]


def test_a_tampered_icv_is_dropped_and_counted(make_router):
    a, b = _pair(make_router)
    wire = through(a, [udp_packet(SRC, DST, b"hello")])[0]
    forged = wire[:-1] + bytes([wire[-1] ^ 1])
    assert _deliver(b, [forged]) == []
    assert b.element("vauth").read("drops") == "1"
    # The genuine packet still crosses: the forgery did not move the replay window.
    assert len(_deliver(b, [wire])) == 1


def test_a_tampered_ciphertext_is_dropped_in_either_order(make_router):
    for in_chain in (CLICK_ORDER_IN, RFC_ORDER_IN):
        a, b = _pair(make_router, b_kw={"in_chain": in_chain})
        wire = through(a, [udp_packet(SRC, DST, b"hello" * 20)])[0]
        forged = bytearray(wire)
        forged[60] ^= 0x80
        assert _deliver(b, [bytes(forged)]) == []
        assert b.element("vauth").read("drops") == "1"


def test_a_wrong_key_fails_authentication(make_router):
    a, b = _pair(make_router, b_kw={"enc": "00" * 16})
    assert _deliver(b, through(a, [udp_packet(SRC, DST, b"x")])) == []
    # Same AUTH_KEY, other ENCRYPT_KEY: the ICV passes, the padding does not.
    assert b.element("unencap").read("drops") == "1"


def test_truncated_packets_are_dropped_and_counted_without_harm(make_router):
    a, b = _pair(make_router)
    wire = through(a, [udp_packet(SRC, DST, b"hello" * 10)])[0]
    cuts = [28, 40, 60, len(wire) - 12, len(wire) - 1]
    short = []
    for n in cuts:
        p = bytearray(wire[:n])
        p[2:4] = n.to_bytes(2, "big")            # a consistent IP header around a short ESP
        p[10:12] = b"\0\0"
        p[10:12] = dpkt.in_cksum(bytes(p[:20])).to_bytes(2, "big")
        short.append(bytes(p))
    assert _deliver(b, short) == []
    esp_drops = sum(int(e.read("drops")) for e in b.elements.values()
                    if e.class_name() in ("IPsecAES", "IPsecAuthHMACSHA1", "IPsecESPUnencap"))
    assert int(b.element("rt").read("bad_spi")) + esp_drops == len(cuts)
    assert len(_deliver(b, [wire])) == 1


def test_a_replayed_packet_is_dropped_and_counted(make_router):
    a, b = _pair(make_router)
    wire = through(a, [udp_packet(SRC, DST, b"once")])
    assert len(_deliver(b, wire)) == 1
    assert _deliver(b, wire) == []
    assert b.element("unencap").read("replays") == "1"


def test_packets_out_of_order_inside_the_window_pass_and_older_ones_do_not(make_router):
    a, b = _pair(make_router, b_kw={"window": 4})
    wire = through(a, [udp_packet(SRC, DST, bytes([i])) for i in range(8)])   # seq 1..8
    assert len(_deliver(b, [wire[7]])) == 1         # 8 first
    assert len(_deliver(b, [wire[5], wire[4]])) == 2  # 6, 5: inside the window of 4
    assert _deliver(b, [wire[3], wire[0]]) == []      # 4, 1: too old
    assert b.element("unencap").read("replays") == "2"


def test_an_unknown_spi_is_dropped_and_counted(make_router):
    a, b = _pair(make_router)
    wire = bytearray(through(a, [udp_packet(SRC, DST, b"x")])[0])
    wire[20:24] = (999).to_bytes(4, "big")
    assert _deliver(b, [bytes(wire)]) == []
    assert b.element("rt").read("bad_spi") == "1"


def test_a_peer_with_another_spi_is_not_understood(make_router):
    a, b = _pair(make_router, b_kw={"spi": 235})
    assert _deliver(b, through(a, [udp_packet(SRC, DST, b"x")])) == []
    assert b.element("rt").read("bad_spi") == "1"


def test_non_esp_packets_for_the_gateway_go_to_output_2(make_router):
    _, b = _pair(make_router)
    ping = udp_packet(A, B, b"not esp")
    assert through(b, [ping], sink="host") == [ping]


def test_the_outer_header_leaves_by_the_route_to_the_peer(make_router):
    a, _ = _pair(make_router)
    wire = through(a, [udp_packet(SRC, DST, b"x")])
    assert a.element("ipencap").read("count") == "1"
    assert dpkt.ip.IP(wire[0]).src == bytes([192, 0, 2, 1])   # FixIPSrc filled it in


def test_an_sa_whose_sequence_numbers_are_used_up_sends_nothing_more(make_router):
    a, _ = _pair(make_router)
    a.element("rt").security_associations[SPI].next_seq = 0xFFFFFFFF
    assert len(through(a, [udp_packet(SRC, DST, b"last")] * 2)) == 1
    encap = next(e for e in a.elements.values() if e.class_name() == "IPsecESPEncap")
    assert encap.read("drops") == "1"
