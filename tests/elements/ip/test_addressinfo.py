"""AddressInfo: names for addresses in every address argument, forms :ip :ipnet :bcast :eth."""
import pytest

from vforward.args import ArgumentError, address_scope, define_address, ip_address, ip_prefix, \
    mac_address
from vforward.graph import GraphError, build_graph


def test_names_and_suffixes_in_the_shared_parsers():
    with address_scope():
        define_address("foo", "ip", (0x01020304, 20))
        define_address("foo", "eth", b"\x00\x01\x02\x03\x04\x05")
        assert ip_address("foo") == ip_address("foo:ip") == 0x01020304
        assert ip_address("foo:bcast") == 0x01020FFF
        assert ip_prefix("foo:ipnet") == (0x01020000, 20) and ip_prefix("foo") == (0x01020304, 32)
        assert mac_address("foo") == mac_address("foo:eth") == b"\x00\x01\x02\x03\x04\x05"
        with pytest.raises(ArgumentError):
            ip_address("bar")
    with pytest.raises(ArgumentError):      # names live only while a config is read
        ip_address("foo")


def test_route_table_takes_names_wherever_addressinfo_stands(capfd):
    from vforward.clickcli import main
    main(["-q", "-h", "rt.table", "-e", "rt :: LinearIPLookup(foo 0, foo:ipnet 1, foo:bcast 2);\n"
          "Idle -> rt; rt[0] -> Discard; rt[1] -> Discard; rt[2] -> Discard;\n"
          "AddressInfo(foo 1.2.3.4/20)"])
    out = capfd.readouterr().out
    assert "1.2.3.4/32" in out and "1.2.0.0/20" in out and "1.2.15.255/32" in out


def test_arp_elements_take_both_addresses_from_one_name():
    g = build_graph("AddressInfo(eth0 10.0.0.1/24 00:11:22:33:44:55);\n"
                    "Idle -> ARPResponder(eth0) -> Discard;\n"
                    "Idle -> q :: ARPQuerier(eth0) -> Discard; Idle -> [1]q;")
    assert g["q"].eth == bytes.fromhex("001122334455") and g["q"].ipaddr == 0x0A000001


def test_bad_address_is_named_in_the_error():
    with pytest.raises(GraphError, match="'zz' \\(for a\\) is neither"):
        build_graph("AddressInfo(a zz)")
