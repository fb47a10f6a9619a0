"""A host device's name stands for its own addresses, as in Click."""
import pytest

from vforward.args import ArgumentError, ip_address, ip_prefix, mac_address
from vforward.host_device_addresses import device_entry


def test_loopback_reads_as_its_address_and_mac():
    assert ip_address("lo") == 0x7F000001
    assert ip_prefix("lo:ipnet") == (0x7F000000, 8)
    assert mac_address("lo") == bytes(6)


def test_a_name_that_is_no_device_is_still_an_error():
    assert device_entry("novfdev0") is None
    with pytest.raises(ArgumentError, match="expected an IPv4 address"):
        ip_address("novfdev0")
