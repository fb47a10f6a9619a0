"""IPGWOptions: packets without options pass, malformed options go to output 1."""
from vforward.elements.ip.ipgwoptions import options_ok


def test_option_lists_are_checked():
    assert options_ok(b"") and options_ok(b"\x01\x01\x00\x00")
    assert options_ok(bytes([7, 7, 4, 0, 0, 0, 0, 0]))       # record route, pointer 4
    assert not options_ok(bytes([7, 7, 2, 0, 0, 0, 0, 0]))   # pointer below 4
    assert not options_ok(bytes([68, 12, 5, 0]))            # timestamp running past the end


def test_plain_packets_pass(run_summary):
    assert run_summary("IPGWOptions(1.0.0.9)", ["1.0.0.1 1.0.0.2"]) == ["1.0.0.1 1.0.0.2"]
