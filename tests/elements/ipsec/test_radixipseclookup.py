"""RadixIPsecLookup: Click's route syntax with SA fields, its reserved outputs and handlers."""
import pytest

from vforward.element import HandlerError
from vforward.graph import GraphError

from tests.elements.ipsec.esptunnel import AUTH_KEY, ENC_KEY, gateway

SA = f"234 {ENC_KEY} {AUTH_KEY} 1 64"
TAIL = " -> Discard; rt[1] -> Discard"


def _table(routes):
    return f"Idle -> rt :: RadixIPsecLookup({routes}){TAIL}"


def test_a_route_with_sa_fields_shows_its_spi_in_the_table_and_its_sa_in_sas(make_router):
    r = gateway(make_router, "A", replay=300)
    table = r.element("rt").read("table")
    assert "203.0.113.0/24\t\t192.0.2.2\t1\tSPI 234\n" in table
    assert "192.0.2.1/32\t\t-\t\t0\n" in table
    assert r.element("rt").read("sas") == "SPI 234 next_seq 300 highest 299 window 64\n"
    assert r.element("rt").read("lookup", "203.0.113.5") == "1 192.0.2.2"


def test_keys_must_be_128_bits_in_hex(make_router):
    with pytest.raises(GraphError, match="ENCRYPT_KEY 'ABCD' has 16 bits; give 32 hex digits"):
        make_router(_table(f"10.0.0.0/8 1.2.3.4 1 234 ABCD {AUTH_KEY} 1 64"))
    with pytest.raises(GraphError, match="AUTH_KEY 'zz' is not a key in hex"):
        make_router(_table(f"10.0.0.0/8 1.2.3.4 1 234 {ENC_KEY} zz 1 64"))


def test_clicks_hex_string_form_of_a_key_is_accepted(make_router):
    spaced = "\\<" + " ".join(ENC_KEY[i:i + 4] for i in range(0, 32, 4)) + ">"
    r = make_router(_table(f"10.0.0.0/8 1.2.3.4 1 7 {spaced} {AUTH_KEY} 1 8"))
    assert r.element("rt").security_associations[7].enc_key == bytes.fromhex(ENC_KEY)


def test_a_quoted_16_byte_string_is_a_key_as_in_click(make_router):
    r = make_router(_table(f'10.0.0.0/8 1.2.3.4 1 7 "0123456789abcdef" {AUTH_KEY} 1 8'))
    assert r.element("rt").security_associations[7].enc_key == b"0123456789abcdef"
    with pytest.raises(GraphError, match="is 5 bytes; a quoted key must be 16 bytes"):
        make_router(_table(f'10.0.0.0/8 1.2.3.4 1 7 "short" {AUTH_KEY} 1 8'))


def test_spi_zero_and_one_spi_with_two_sets_of_keys_are_refused(make_router):
    with pytest.raises(GraphError, match="SPI 0 is not 1..4294967295"):
        make_router(_table(f"10.0.0.0/8 1.2.3.4 1 0 {ENC_KEY} {AUTH_KEY} 1 8"))
    with pytest.raises(GraphError, match="SPI 5 is already an SA with other keys"):
        make_router(_table(f"10.0.0.0/8 1.2.3.4 1 5 {ENC_KEY} {AUTH_KEY} 1 8, "
                           f"11.0.0.0/8 1.2.3.4 1 5 {AUTH_KEY} {ENC_KEY} 1 8"))


def test_a_route_to_output_0_needs_output_2_for_the_hosts_packets(make_router):
    with pytest.raises(GraphError, match="output 2"):
        make_router("Idle -> rt :: RadixIPsecLookup(10.0.0.1/32 0) -> Discard; rt[1] -> Discard")


def test_add_set_and_remove_carry_the_sa_and_keep_counters_when_fields_stay(make_router):
    r = gateway(make_router, "A")
    rt = r.element("rt")
    rt.write("add", f"10.9.0.0/16 192.0.2.2 1 {SA}")
    assert "10.9.0.0/16\t\t192.0.2.2\t1\tSPI 234\n" in rt.read("table")
    with pytest.raises(HandlerError, match="SPI 234 is already an SA with other keys"):
        rt.write("add", f"10.8.0.0/16 192.0.2.2 1 234 {AUTH_KEY} {ENC_KEY} 1 64")
    rt.security_associations[234].next_seq = 50
    rt.write("set", f"203.0.113.0/24 192.0.2.2 1 234 {ENC_KEY} {AUTH_KEY} 1 64")
    assert rt.security_associations[234].next_seq == 50
    rt.write("remove", "203.0.113.0/24")
    assert 234 in rt.security_associations            # 10.9.0.0/16 still uses it
    rt.write("ctrl", "remove 10.9.0.0/16\nadd 203.0.113.0/24 192.0.2.2 1 " + SA)
    assert rt.read("sas").startswith("SPI 234 next_seq 1 ")


def test_a_packet_routed_to_output_1_without_an_sa_is_dropped_and_counted(make_router):
    from tests.elements.ipsec.esptunnel import through, udp_packet
    r = gateway(make_router, "A")
    rt = r.element("rt")
    rt.write("add", "10.7.0.0/16 192.0.2.2 1")
    assert through(r, [udp_packet("198.51.100.7", "10.7.0.1", b"x")]) == []
    assert rt.read("no_sa") == "1"
