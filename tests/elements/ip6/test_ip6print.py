"""IP6Print: one line per IPv6 packet."""
from vforward.clickcli import main


def test_prints_addresses_payload_length_next_header_and_hop_limit(capfd):
    main(["-e", "InfiniteSource(DATA \\<60000000 0008 11 40 20010db8000000000000000000000001 "
          "20010db8000000000000000000000002 0001000200080000>, LIMIT 1, STOP true) "
          "-> CheckIP6Header -> IP6Print(v6, CONTENTS true, NBYTES 6) -> Discard"])
    assert capfd.readouterr().err.splitlines() == [
        "v6: 2001:db8::1 -> 2001:db8::2 plen 8, next 17, hlim 64", "  60000000 0008"]
