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


def test_a_missing_device_is_an_error_that_says_so_and_how_to_fix_it():
    with pytest.raises(ArgumentError, match="this machine has no network device 'novfdev0'.*"
                                            "create the device, or give the address itself"):
        mac_address("novfdev0")


def test_a_static_check_takes_a_missing_device_name_for_addresses_read_at_run_time():
    from vforward.host_device_addresses import devices_read_at_run
    with devices_read_at_run() as names:
        assert ip_address("novfdev0") == 0 and mac_address("novfdev0:eth") == bytes(6)
        assert ip_prefix("novfdev1:ipnet") == (0, 32)
        with pytest.raises(ArgumentError):      # no digit: not taken for a device name
            ip_address("nodevice")
    assert list(names) == ["novfdev0", "novfdev1"]
    with pytest.raises(ArgumentError):          # outside the check, an error again
        ip_address("novfdev0")
