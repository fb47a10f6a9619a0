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


def test_ipclassifier_language_takes_names(make_router, tmp_path):
    src, out = tmp_path / "in", tmp_path / "out"
    src.write_text("!data src dst\n10.1.1.1 10.0.0.1\n10.2.2.2 9.9.9.9\n9.9.9.9 8.8.8.8\n")
    r = make_router(f"AddressInfo(intern 10.0.0.1/8);\nFromIPSummaryDump({src}, STOP true) -> "
                    "c :: IPClassifier(dst host intern, src net intern:ipnet, -);\n"
                    f"t :: ToIPSummaryDump({out}, FIELDS src paint);\n"
                    "c[0] -> Paint(1) -> t; c[1] -> Paint(2) -> t; c[2] -> Paint(3) -> t;")
    r.run(duration=10)
    r.cleanup()
    assert [ln for ln in out.read_text().splitlines() if ln[0] != "!"] == \
        ["10.1.1.1 1", "10.2.2.2 2", "9.9.9.9 3"]
